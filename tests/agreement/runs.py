"""Judged runs written as real record files (records.TaskFiles.write), for the agreement tests.

Each run folder holds what an evaluation writes: samples, judgments and a summary that
TaskRecords.read accepts. Two runs built from the same `responses` are "the same model outputs
judged twice"; the judgments are what a test varies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from clinhallu_tasks.records import (
    AnswerSample,
    Cost,
    JudgeInfo,
    Judgment,
    SampleRecord,
    TaskFiles,
    TaskSummary,
    TraceSample,
    Wording,
)
from clinhallu_tasks.spec.clinhallu import parse_task_name
from clinhallu_tasks.spec.medhalltune import DIMENSIONS, JUDGE_METRIC, TASKS_BY_NAME

SCORE_KEYS = tuple(dimension.key for dimension in DIMENSIONS)


def trace_sample(task: str, item_id: str, response: str) -> TraceSample:
    parsed = parse_task_name(task)
    assert parsed is not None, task
    source, run = parsed
    return TraceSample(
        task=task, source=source.name, run=run.name, item_id=item_id, question_type="yes_no",
        question=f"Is there an effusion in image {item_id}?", ground_truth="yes", image_paths=[f"img/{item_id}.png"],
        gold_steps={}, given_steps={}, response=response, steps={}, model_answer="yes", valid=True,
        invalid_reason=None, rule_correct=True, token_f1=None,
    )


def answer_sample(task: str, item_id: str, response: str) -> AnswerSample:
    split = TASKS_BY_NAME[task].split
    return AnswerSample(
        task=task, split=split, item_id=item_id, question_id=int(item_id.split("-")[1]), image=f"{item_id}.jpg",
        question=f"What does image {item_id} show?", ground_truth="a normal chest film", response=response,
        meteor=None, rouge_l=None, bertscore=None,
    )


def verdict(task: str, item_id: str, metric: str, value: int, judge: str, reason: str | None = None) -> Judgment:
    return Judgment(task, item_id, metric, "judged", value=value, reason=reason or f"{judge} says {value}",
                    judge_model=judge, attempts=1)


def scores(task: str, item_id: str, values: Sequence[int], judge: str, reason: str | None = None) -> Judgment:
    return Judgment(task, item_id, JUDGE_METRIC, "judged", scores=dict(zip(SCORE_KEYS, values, strict=True)),
                    reason=reason or f"{judge} scored", judge_model=judge, attempts=1)


def write_run(folder: Path, task: str, responses: Mapping[str, str], judgments: Sequence[Judgment],
              judge: str) -> TaskFiles:
    """One task's three record files in `folder`, as the evaluation writes them."""
    medhalltune = task in TASKS_BY_NAME
    samples: list[SampleRecord] = [
        (answer_sample if medhalltune else trace_sample)(task, item_id, response)
        for item_id, response in responses.items()
    ]
    if medhalltune:
        source, run = TASKS_BY_NAME[task].split, None
    else:
        parsed = parse_task_name(task)
        assert parsed is not None
        source, run = parsed[0].name, parsed[1].name
    summary = TaskSummary(
        task=task, benchmark="medhalltune" if medhalltune else "clinhallu", framework="lmms-eval 0.7.3",
        model="scripted-vlm", source=source, run=run, items=len(samples), items_released=None, metrics={},
        metric_notes={}, counts={}, judge=JudgeInfo(configured=True, model=judge, endpoints=1), wording=Wording(),
        data_fingerprint="0" * 64, settings={}, cost=Cost(), package_version="test", created="2026-12-02T00:00:00Z",
    )
    files = TaskFiles(folder, task)
    files.write(samples, judgments, summary)
    return files
