"""The Cost table and the submission's cost block: per task, per run folder, per model and in total."""

from __future__ import annotations

from pathlib import Path

import pytest

from clinhallu_tasks.records import Cost
from clinhallu_tasks.report.scores import total_cost
from tests.report.records_builder import clinhallu_task, outcomes, run_report

A = Cost(judge_calls=10, cache_hits=2, reasks=1, judge_failures=1, prompt_tokens=1000, completion_tokens=50,
         judge_seconds=3.0, generated_characters=700, generated_tokens=120, generation_seconds=4.0, estimated_usd=0.5)
B = Cost(judge_calls=4, cache_hits=0, reasks=0, judge_failures=0, prompt_tokens=400, completion_tokens=20,
         judge_seconds=1.0, generated_characters=300, generated_tokens=None, generation_seconds=2.0, estimated_usd=0.25)


def test_totals_add_up_and_an_unrecorded_part_makes_the_total_unknown() -> None:
    total = total_cost([A, B])
    assert (total.judge_calls, total.cache_hits, total.prompt_tokens, total.completion_tokens) == (14, 2, 1400, 70)
    assert total.estimated_usd == pytest.approx(0.75) and total.generation_seconds == pytest.approx(6.0)
    assert total.generated_tokens is None  # one task's backend reported no tokens: no partial sum


def test_cost_per_task_run_and_model_in_both_files(tmp_path: Path) -> None:
    clinhallu_task(tmp_path / "runs" / "first", "vqa_rad", "baseline", outcomes(4), cost=A)
    clinhallu_task(tmp_path / "runs" / "second", "vqa_rad", "replace_vr", outcomes(4), cost=B)
    clinhallu_task(tmp_path / "other", "vqa_rad", "baseline", outcomes(4), cost=A, model="model-b")
    out = run_report([tmp_path / "runs", tmp_path / "other"], tmp_path / "out")
    cost = out.submissions["model-a | lmms-eval 0.7.3"]["cost"]
    assert cost["tasks"]["clinhallu_vqa_rad_baseline"]["judge_calls"] == 10
    assert set(cost["runs"]) == {"first", "second"} and cost["runs"]["second"]["prompt_tokens"] == 400
    assert cost["total"]["judge_calls"] == 14 and cost["total"]["estimated_usd"] == pytest.approx(0.75)
    rows = {(r["model"], r["task"]): r for r in out.csv["cost.csv"]}
    assert rows[("model-a", "run first")]["judge_calls"] == "10"
    assert rows[("model-a", "all tasks")]["reasks"] == "1"
    assert rows[("all models", "all tasks")]["judge_calls"] == "24"
    assert "## Cost" in out.md and "| model-a | all tasks | 14 | 2 | 1 | 1 | 1400 | 70 |" in out.md
