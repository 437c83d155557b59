"""The intervention table (ΔV, ΔK, ΔVK of spec.DELTAS) and validity before and after resampling."""

from __future__ import annotations

from pathlib import Path

import pytest

from clinhallu_tasks.spec import clinhallu as ch
from tests.report.records_builder import Outcome, clinhallu_task, outcomes, run_report

ALL_RUNS = tuple(r.name for r in ch.RUNS)


def test_deltas_are_each_runs_accuracy_minus_the_baselines(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    acc = {run: clinhallu_task(runs, "pathvqa", run, outcomes(20, acc=0.3 + 0.15 * i, seed=i)).metrics[ch.ACC.name]
           for i, run in enumerate(ALL_RUNS)}
    out = run_report([runs], tmp_path / "out")
    source = out.submission()["clinhallu"]["sources"]["pathvqa"]
    for delta in ch.DELTAS:
        assert source[delta.key] == pytest.approx(acc[delta.run] - acc["baseline"]), delta.key
        low, high = source["ci"][delta.key]
        assert low <= source[delta.key] <= high
    (row,) = [r for r in out.csv["intervention.csv"] if r["split"] == "PathVQA"]
    assert list(row)[2:6] == ["acc", "delta_v", "delta_k", "delta_vk"]
    assert float(row["delta_k"]) == pytest.approx(acc["replace_kr"] - acc["baseline"], abs=0.05)
    assert "| Split | Model | Acc | ΔV | ΔK | ΔVK |" in out.md


def test_without_replace_kr_delta_k_is_missing_not_zero(tmp_path: Path) -> None:
    for run in ("baseline", "replace_vr", "replace_vr_kr"):
        clinhallu_task(tmp_path / "runs", "pathvqa", run, outcomes(10))
    source = run_report([tmp_path / "runs"], tmp_path / "out").submission()["clinhallu"]["sources"]["pathvqa"]
    assert source["delta_k"] is None and source["missing"]["delta_k"] == "not run"


def test_validity_after_the_first_attempt_and_after_resampling_is_reported(tmp_path: Path) -> None:
    items = [Outcome(attempts=3), Outcome(attempts=2), Outcome(), Outcome(valid=False, attempts=50)]
    clinhallu_task(tmp_path / "runs", "vqa_rad", "baseline", items)
    out = run_report([tmp_path / "runs"], tmp_path / "out")
    (row,) = out.csv["validity.csv"]
    assert float(row["valid_first_attempt"]) == 25.0 and float(row["valid"]) == 75.0
    assert (row["resampled"], row["max_attempts"]) == ("3", "50")
    assert "| model-a | clinhallu_vqa_rad_baseline | 4 | 4 | 25.0 | 75.0 | 3 | 50 |" in out.md
    validity = out.submission()["clinhallu"]["sources"]["vqa-rad"]["tasks"]["baseline"]["validity"]
    assert (validity["valid_first_attempt"], validity["valid"], validity["settled"]) == (25.0, 75.0, 1)
