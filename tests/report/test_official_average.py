"""The report's averaging reproduces the published ClinHallu average rows (PROTOCOL §1.6)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from clinhallu_tasks.report.command import main
from clinhallu_tasks.report.scores import FOUR_SOURCES, SOURCE_LABELS, clinhallu_average, macro_average
from tests.report.report_fixtures import TaskSpec, write_run

LABEL_TO_SOURCE = {SOURCE_LABELS[s]: s for s in FOUR_SOURCES}
# "Within 0.05", inclusive: the published values are rounded to one decimal, so a true mean of
# 25.75 printed as 25.8 sits exactly 0.05 away (plus float representation noise).
TOLERANCE = 0.05 + 1e-9
COLUMNS = {"acc": "acc", "h_v": "H_V", "h_k": "H_K", "h_r": "H_R"}
METRIC_OF = {"acc": "clinhallu_acc", "h_v": "clinhallu_h_v", "h_k": "clinhallu_h_k", "h_r": "clinhallu_h_r"}
RUN_OF = {"acc": "baseline", "h_v": "baseline", "h_k": "replace_vr", "h_r": "replace_vr_kr"}


def _published(shared_data: Path) -> tuple[dict[str, dict[str, dict[str, float]]], dict[str, dict[str, float]]]:
    per_source: dict[str, dict[str, dict[str, float]]] = {}
    averages: dict[str, dict[str, float]] = {}
    with (shared_data / "clinhallu" / "official_leaderboard.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            values = {k: float(row[c]) for k, c in COLUMNS.items()}
            if row["split"].startswith("Average"):
                averages[row["model"]] = values
            else:
                per_source.setdefault(row["model"], {})[LABEL_TO_SOURCE[row["split"]]] = values
    return per_source, averages


def test_averaging_reproduces_published_average_rows(shared_data: Path) -> None:
    per_source, averages = _published(shared_data)
    assert len(averages) == 11 and set(per_source) == set(averages)
    for model, sources in per_source.items():
        assert set(sources) == set(FOUR_SOURCES), model
        result = clinhallu_average(sources, keys=tuple(COLUMNS))
        for key in COLUMNS:
            value, used = result[key]
            assert used == list(FOUR_SOURCES)
            assert value == pytest.approx(averages[model][key], abs=TOLERANCE), (model, key)


def test_report_end_to_end_reproduces_published_averages(tmp_path: Path, shared_data: Path) -> None:
    """Results files carrying the published per-source numbers -> report -> submission averages."""
    per_source, averages = _published(shared_data)
    out = tmp_path / "runs"
    for model, sources in per_source.items():
        tasks: dict[str, TaskSpec] = {}
        for source, values in sources.items():
            for run in ("baseline", "replace_vr", "replace_vr_kr"):
                metrics = {"clinhallu_valid_rate": 100.0, "clinhallu_acc_rule": None, "clinhallu_acc": None}
                for key, metric in METRIC_OF.items():
                    if RUN_OF[key] == run:
                        metrics[metric] = values[key]
                tasks[f"clinhallu_{source}_{run}"] = TaskSpec(metrics=metrics, n_original=100)
        write_run(out, model, tasks, samples=False, judgments=False)
    assert main([str(out), "--out", str(tmp_path / "report"), "--no-charts", "--bootstrap-iters", "50"]) == 0
    seen = set()
    for path in (tmp_path / "report").glob("submission_*.json"):
        doc = json.loads(path.read_text(encoding="utf-8"))
        model = doc["model"]["name"]
        seen.add(model)
        avg = doc["clinhallu"]["average"]
        assert avg["status"] == "complete"
        for key in COLUMNS:
            assert avg[key] == pytest.approx(averages[model][key], abs=TOLERANCE), (model, key)
            assert avg["ci"][key] is None  # no sample logs, no intervals
    assert seen == set(averages)
    rows = list(csv.DictReader((tmp_path / "report" / "leaderboard.csv").open(encoding="utf-8")))
    avg_rows = {r["model"]: r for r in rows if r["split"].startswith("Average")}
    for model, published in averages.items():
        for key, col in COLUMNS.items():
            # the CSV rounds to one decimal like the published table: within rounding of each other
            assert float(avg_rows[model][col]) == pytest.approx(published[key], abs=0.1 + 1e-9)


def test_macro_average_needs_all_four_sources_unless_asked() -> None:
    values = {"vqa_rad": 10.0, "pathvqa": 20.0, "medframeqa": None, "medxpertqa": 40.0}
    assert macro_average(values) == (None, [])
    value, used = macro_average(values, allow_partial=True)
    assert value == pytest.approx(70.0 / 3)
    assert used == ["vqa_rad", "pathvqa", "medxpertqa"]
    assert macro_average({}, allow_partial=True) == (None, [])
    full = {"vqa_rad": 1.0, "pathvqa": 2.0, "medframeqa": 3.0, "medxpertqa": 4.0}
    assert macro_average(full) == (2.5, list(FOUR_SOURCES))
