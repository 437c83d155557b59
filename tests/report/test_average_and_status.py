"""One definition each of the average, its n and the status, read alike by every table and the submission."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.report.records_builder import SOURCES, clinhallu_task, outcomes, run_report, write_model

AVERAGE = "Average"


def _average_rows(out) -> tuple[dict, dict]:
    (csv_row,) = [r for r in out.csv["leaderboard.csv"] if r["split"].startswith(AVERAGE)]
    return csv_row, out.submission()["clinhallu"]["average"]


def test_partial_run_gives_the_same_n_and_status_everywhere(tmp_path: Path) -> None:
    # The 0.1 report wrote n=48 in leaderboard.csv and null in submission.json for this run.
    write_model(tmp_path / "runs", sources=SOURCES[:3], n=16, medhalltune=False)
    out = run_report([tmp_path / "runs"], tmp_path / "out", "--allow-partial-average")
    csv_row, doc = _average_rows(out)
    assert int(csv_row["n"]) == doc["n"] == 48
    assert csv_row["status"] == doc["status"] == "partial"
    assert doc["sources_used"] == ["vqa-rad", "pathvqa", "medframeqa"]
    assert "Average (3 of 4 sources)" in out.md


def test_average_is_the_unweighted_mean_of_the_sources_and_n_their_baseline_items(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for k, source in enumerate(SOURCES):  # different sizes: a weighted mean would differ
        for run in ("baseline", "replace_vr", "replace_vr_kr"):
            clinhallu_task(runs, source, run, outcomes(8 + 4 * k, acc=0.2 + 0.2 * k, seed=k))
    doc = run_report([runs], tmp_path / "out").submission()["clinhallu"]
    sources = doc["sources"]
    for key in ("acc", "h_v", "h_k", "h_r", "delta_v", "delta_vk", "valid_rate"):
        assert doc["average"][key] == pytest.approx(sum(s[key] for s in sources.values()) / 4), key
    assert doc["average"]["n"] == sum(s["n"] for s in sources.values()) == 8 + 12 + 16 + 20
    assert doc["average"]["status"] == "complete"


def test_without_the_flag_a_partial_run_has_no_average_anywhere(tmp_path: Path) -> None:
    write_model(tmp_path / "runs", sources=SOURCES[:3], medhalltune=False)
    out = run_report([tmp_path / "runs"], tmp_path / "out")
    assert not [r for r in out.csv["leaderboard.csv"] if r["split"].startswith(AVERAGE)]
    doc = out.submission()["clinhallu"]
    assert doc["average"]["status"] == "missing" and doc["average"]["acc"] is None and doc["average"]["n"] is None
    assert doc["sources"]["medxpertqa"]["status"] == "missing"
    assert any("--allow-partial-average" in note for note in out.submission()["notes"])


def test_a_source_evaluated_on_12_of_its_items_is_partial_not_complete(tmp_path: Path) -> None:
    # The 0.1 report called such a source complete.
    write_model(tmp_path / "runs", n=12, items_released=300, medhalltune=False)
    out = run_report([tmp_path / "runs"], tmp_path / "out")
    doc = out.submission()
    assert {s["status"] for s in doc["clinhallu"]["sources"].values()} == {"partial"}
    assert doc["clinhallu"]["average"]["status"] == "partial"
    assert {r["status"] for r in out.csv["leaderboard.csv"]} == {"partial"}
    assert doc["clinhallu"]["sources"]["vqa-rad"]["tasks"]["baseline"]["complete"] is False


def test_a_missing_run_makes_the_source_partial_and_its_number_missing(tmp_path: Path) -> None:
    write_model(tmp_path / "runs", runs=("baseline", "replace_vr"), medhalltune=False)
    doc = run_report([tmp_path / "runs"], tmp_path / "out").submission()
    source = doc["clinhallu"]["sources"]["pathvqa"]
    assert source["status"] == "partial"
    assert source["h_r"] is None and source["missing"]["h_r"] == "not run"
    assert doc["clinhallu"]["average"]["h_r"] is None and doc["clinhallu"]["average"]["acc"] is not None


def test_the_sample_source_is_shown_as_sample_and_never_averaged(tmp_path: Path) -> None:
    write_model(tmp_path / "runs", sources=("sample",), medhalltune=False)
    out = run_report([tmp_path / "runs"], tmp_path / "out", "--allow-partial-average")
    doc = out.submission()["clinhallu"]
    assert doc["other_sources"]["sample"]["status"] == "sample"
    assert doc["average"]["status"] == "missing"



def test_averages_over_different_sources_are_not_compared(tmp_path: Path) -> None:
    write_model(tmp_path / "a", model="a", sources=SOURCES[:3], medhalltune=False)
    write_model(tmp_path / "b", model="b", sources=SOURCES[1:], medhalltune=False)
    out = run_report([tmp_path / "a", tmp_path / "b"], tmp_path / "out", "--allow-partial-average")
    scopes = {r["scope"] for r in out.csv["differences.csv"]}
    assert scopes == {"PathVQA", "MedFrameQA"}
