"""The report's average reproduces the published ClinHallu average rows (PROTOCOL §1.6)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from clinhallu_tasks.spec import clinhallu as ch
from tests.report.records_builder import NO_JUDGE, clinhallu_task, outcomes, run_report

# Published values are rounded to one decimal: a true mean of 25.75 printed 25.8 is 0.05 away.
TOLERANCE = 0.05 + 1e-9
COLUMNS = {"acc": "acc", "h_v": "H_V", "h_k": "H_K", "h_r": "H_R"}
METRICS = {m.key: m for m in (ch.ACC, *ch.STAGE_METRICS.values())}
BY_LABEL = {s.label: s for s in ch.AVERAGE_SOURCES}


def _published(shared_data: Path) -> tuple[dict[str, dict[str, dict[str, float]]], dict[str, dict[str, float]]]:
    per_source: dict[str, dict[str, dict[str, float]]] = {}
    averages: dict[str, dict[str, float]] = {}
    with (shared_data / "clinhallu" / "official_leaderboard.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            values = {key: float(row[column]) for key, column in COLUMNS.items()}
            if row["split"].startswith("Average"):
                averages[row["model"]] = values
            else:
                per_source.setdefault(row["model"], {})[BY_LABEL[row["split"]].name] = values
    return per_source, averages


def test_the_average_of_the_published_sources_is_the_published_average(tmp_path: Path, shared_data: Path) -> None:
    per_source, averages = _published(shared_data)
    assert len(averages) == 11 and set(per_source) == set(averages)
    for model, sources in per_source.items():
        for source, values in sources.items():
            for run in ("baseline", "replace_vr", "replace_vr_kr"):
                # The published numbers as the run's summary metrics (no per-item data: no intervals).
                metrics = {METRICS[k].name: v for k, v in values.items() if ch.HEADLINE[k] == run}
                clinhallu_task(tmp_path / "runs" / model, source, run, outcomes(4), judge=NO_JUDGE, model=model,
                               metrics=metrics)
    out = run_report([tmp_path / "runs"], tmp_path / "out")
    assert {doc["model"]["name"] for doc in out.submissions.values()} == set(averages)
    csv_rows = {r["model"]: r for r in out.csv["leaderboard.csv"] if r["split"].startswith("Average")}
    for doc in out.submissions.values():
        model, average = doc["model"]["name"], doc["clinhallu"]["average"]
        assert average["status"] == "complete"
        for key, column in COLUMNS.items():
            assert average[key] == pytest.approx(averages[model][key], abs=TOLERANCE), (model, key)
            assert average["ci"][key] is None
            # the CSV rounds to one decimal like the published table
            assert float(csv_rows[model][column]) == pytest.approx(averages[model][key], abs=0.1 + 1e-9)
