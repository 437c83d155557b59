"""Partial runs are shown as partial, never silently averaged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clinhallu_tasks.report.command import main
from tests.report.report_fixtures import SOURCES, TaskSpec, clin_items, clin_metrics, write_run

RUNS = ("baseline", "replace_vr", "replace_vr_kr")


def _tasks(sources=SOURCES, runs=RUNS, n: int = 30, seed: int = 0, skip=()) -> dict[str, TaskSpec]:
    out = {}
    for s in sources:
        for r in runs:
            if (s, r) not in skip:
                out[f"clinhallu_{s}_{r}"] = TaskSpec(clin_items(s, r, n, 0.6, 0.4, seed))
    return out


def _report(tmp_path: Path, *extra: str) -> tuple[dict, str]:
    out = tmp_path / "report"
    assert main([str(tmp_path / "runs"), "--out", str(out), "--bootstrap-iters", "200", "--no-charts", *extra]) == 0
    doc = json.loads((out / "submission.json").read_text(encoding="utf-8"))
    return doc, (out / "leaderboard.md").read_text(encoding="utf-8")


def test_missing_source_is_not_averaged(tmp_path: Path) -> None:
    write_run(tmp_path / "runs", "m", _tasks(sources=SOURCES[:3]))
    doc, md = _report(tmp_path)
    avg = doc["clinhallu"]["average"]
    assert avg["status"] == "missing"
    assert all(avg[k] is None for k in ("acc", "h_v", "h_k", "h_r"))
    assert doc["clinhallu"]["sources"]["medxpertqa"]["status"] == "missing"
    assert doc["clinhallu"]["sources"]["vqa-rad"]["status"] == "complete"
    assert "MedXpertQA (not run)" in md
    assert any("--allow-partial-average" in n for n in doc["notes"])


def test_partial_average_only_when_asked_and_marked(tmp_path: Path) -> None:
    write_run(tmp_path / "runs", "m", _tasks(sources=SOURCES[:3]))
    doc, md = _report(tmp_path, "--allow-partial-average")
    avg = doc["clinhallu"]["average"]
    sources = doc["clinhallu"]["sources"]
    assert avg["status"] == "partial"
    assert avg["sources_used"]["acc"] == ["vqa-rad", "pathvqa", "medframeqa"]
    expected = sum(sources[k]["acc"] for k in ("vqa-rad", "pathvqa", "medframeqa")) / 3
    assert avg["acc"] == pytest.approx(expected)
    assert avg["ci"]["acc"] is not None
    assert doc["uncertainty"]["allow_partial_average"] is True
    assert "[3/4]" in md


def test_missing_run_is_shown_missing(tmp_path: Path) -> None:
    write_run(tmp_path / "runs", "m", _tasks(skip={("pathvqa", "replace_vr_kr")}))
    doc, md = _report(tmp_path)
    path = doc["clinhallu"]["sources"]["pathvqa"]
    assert path["h_r"] is None and path["delta_vk"] is None and path["acc"] is not None
    assert path["status"] == "incomplete"
    avg = doc["clinhallu"]["average"]
    assert avg["h_r"] is None and avg["acc"] is not None and avg["h_v"] is not None
    assert any("PathVQA: no replace_vr_kr run" in n for n in doc["notes"])


def test_subset_runs_are_partial(tmp_path: Path) -> None:
    tasks = _tasks()
    for spec in tasks.values():
        spec.n_original = 451
    write_run(tmp_path / "runs", "m", tasks, limit=30)
    doc, md = _report(tmp_path)
    assert doc["clinhallu"]["sources"]["vqa-rad"]["status"] == "partial"
    assert doc["clinhallu"]["average"]["status"] == "partial"
    assert doc["clinhallu"]["sources"]["vqa-rad"]["runs"]["baseline"]["n_original"] == 451
    assert "30 of 451*" in md
    assert "VQA-RAD*" in md


def test_no_sample_logs_means_no_intervals_said_plainly(tmp_path: Path) -> None:
    write_run(tmp_path / "runs", "m", _tasks(), samples=False, judgments=False)
    doc, md = _report(tmp_path)
    src = doc["clinhallu"]["sources"]["vqa-rad"]
    assert src["acc"] is not None and all(v is None for v in src["ci"].values())
    assert doc["clinhallu"]["average"]["acc"] is not None
    assert doc["provenance"]["data"]["fingerprint"] is None
    assert "No sample logs were found" in md
    assert "[" not in md.split("### With")[1].split("###")[0].split("\n", 3)[3]  # no intervals in that table


def test_judge_not_configured_gives_null_not_nan(tmp_path: Path) -> None:
    tasks = {}
    for s in SOURCES:
        for r in RUNS:
            items = clin_items(s, r, 20, 0.6, 0.4, 0)
            tasks[f"clinhallu_{s}_{r}"] = TaskSpec(items, metrics=clin_metrics(r, items, judge=False))
    write_run(tmp_path / "runs", "m", tasks, judgments=False)
    doc, md = _report(tmp_path)
    src = doc["clinhallu"]["sources"]["vqa-rad"]
    assert src["acc"] is None and src["h_v"] is None and src["valid_rate"] is not None
    assert src["runs"]["baseline"]["acc_rule"] is not None
    assert doc["clinhallu"]["average"]["acc"] is None
    assert "NaN" not in (tmp_path / "report" / "submission.json").read_text(encoding="utf-8")


def test_medhalltune_missing_split_is_missing(tmp_path: Path) -> None:
    from tests.report.report_fixtures import med_items

    write_run(tmp_path / "runs", "m", {"medhalltune_pos": TaskSpec(med_items("P", 25, 6.0, 0))})
    doc, md = _report(tmp_path)
    assert doc["medhalltune"]["P"]["status"] == "complete"
    assert doc["medhalltune"]["N"]["status"] == "missing"
    assert doc["medhalltune"]["N"]["clinical_accuracy"] is None
    assert any("no N split" in n for n in doc["notes"])
