"""The report on records written by the real evaluation layer (no judge, no framework, no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clinhallu_tasks.evaluation import EvaluationContext, Generation, TaskEvaluation, prepare
from clinhallu_tasks.records import TaskSummary
from clinhallu_tasks.spec import clinhallu as ch
from tests.report.records_builder import run_report

RUNS = tuple(r.name for r in ch.INDEPENDENT_RUNS)


def _evaluate(folder: Path) -> dict[str, TaskSummary]:
    context = EvaluationContext.from_env(output_folder=folder, model="scripted", framework="lmms-eval 0.7.3",
                                         settings={"max_new_tokens": 512}, environ={})
    summaries = {}
    for run in RUNS:
        prepared = prepare(ch.task_name("sample", run))
        evaluation = TaskEvaluation(context, prepared)
        for k, item in enumerate(prepared.items):
            g = item.gold
            text = (f"[Visual Recognition]\n{g.visual_recognition}\n[Knowledge Recall]\n{g.knowledge_recall}\n"
                    f"[Reasoning]\n{g.reasoning}\n[Answer] {item.answer}") if k % 4 else "I am not sure."
            evaluation.add_response(item.item_id, text, Generation(characters=len(text)))
        summaries[run] = evaluation.finish()
    return summaries


def test_the_report_reads_what_the_evaluation_layer_writes(tmp_path: Path) -> None:
    summaries = _evaluate(tmp_path / "run")
    out = run_report([tmp_path / "run"], tmp_path / "out")
    sample = out.submission()["clinhallu"]["other_sources"]["sample"]
    assert sample["status"] == "sample" and sample["judge"] == "not configured"
    assert sample["valid_rate"] == summaries["baseline"].metrics[ch.VALID_RATE.name] == pytest.approx(75.0)
    assert sample["missing"]["acc"] == "no judge"
    assert not [n for n in out.submission()["notes"] if "over its items" in n]  # summary and items agree
    baseline = next(r for r in out.csv["validity.csv"] if r["task"] == "clinhallu_sample_baseline")
    assert float(baseline["valid"]) == pytest.approx(75.0)
