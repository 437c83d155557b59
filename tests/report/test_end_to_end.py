"""End to end from lmms-eval-shaped output folders: two models side by side."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clinhallu_tasks.report.command import main
from tests.report.report_fixtures import SOURCES, TaskSpec, clin_items, clin_metrics, full_model, write_run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("e2e")
    full_model(root / "runs", "org/model-a", 0.65, 0.35, n=40, seed=1, replace_kr=True)
    full_model(root / "runs", "model-b", 0.45, 0.55, n=40, seed=2)
    return root


def _run(root: Path, out: str, *extra: str) -> Path:
    """Run the report (charts only when "--charts" is passed, to keep the tests quick)."""
    args = [a for a in extra if a != "--charts"]
    if "--charts" not in extra and "--no-charts" not in extra:
        args.append("--no-charts")
    assert main([str(root / "runs"), "--out", str(root / out), "--bootstrap-iters", "300", *args]) == 0
    return root / out


def test_files_written(two_models: Path) -> None:
    out = _run(two_models, "report-charts", "--charts")
    for name in (
        "leaderboard.md",
        "leaderboard.csv",
        "intervention.csv",
        "validity.csv",
        "medhalltune_leaderboard.csv",
        "differences.csv",
        "submission_org_model-a.json",
        "submission_model-b.json",
        "charts/comparison.png",
        "charts/medhalltune.png",
        "charts/stages_org_model-a.png",
        "charts/stages_model-b.png",
    ):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert not (out / "submission.json").exists()  # one file per model when there are several


def test_numbers_match_the_results_files(two_models: Path) -> None:
    out = _run(two_models, "report")
    runs = two_models / "runs"
    results = json.loads(next((runs / "org__model-a").glob("*_results.json")).read_text())["results"]
    doc = json.loads((out / "submission_org_model-a.json").read_text())
    src = doc["clinhallu"]["sources"]["pathvqa"]
    base = results["clinhallu_pathvqa_baseline"]
    assert src["acc"] == base["clinhallu_acc,none"]
    assert src["h_v"] == base["clinhallu_h_v,none"]
    assert src["h_k"] == results["clinhallu_pathvqa_replace_vr"]["clinhallu_h_k,none"]
    assert src["h_r"] == results["clinhallu_pathvqa_replace_vr_kr"]["clinhallu_h_r,none"]
    assert src["delta_v"] == pytest.approx(results["clinhallu_pathvqa_replace_vr"]["clinhallu_acc,none"] - src["acc"])
    assert src["delta_k"] == pytest.approx(results["clinhallu_pathvqa_replace_kr"]["clinhallu_acc,none"] - src["acc"])
    for key in ("acc", "h_v", "h_k", "h_r", "delta_v", "delta_vk", "delta_k"):
        low, high = src["ci"][key]
        assert low <= src[key] <= high
    avg = doc["clinhallu"]["average"]
    srcs = doc["clinhallu"]["sources"]
    assert avg["acc"] == pytest.approx(sum(srcs[s]["acc"] for s in srcs) / 4)
    assert avg["n"] == 160
    med = doc["medhalltune"]["P"]
    assert med["clinical_accuracy"] == results["medhalltune_pos"]["medhalltune_clinical_accuracy,none"]
    assert med["ci"]["clinical_accuracy"][0] <= med["clinical_accuracy"] <= med["ci"]["clinical_accuracy"][1]
    assert doc["notes"] == []
    b = json.loads((out / "submission_model-b.json").read_text())
    assert b["clinhallu"]["sources"]["pathvqa"]["delta_k"] is None  # model-b has no replace_kr run


def test_leaderboard_tables(two_models: Path) -> None:
    out = _run(two_models, "report")
    md = (out / "leaderboard.md").read_text()
    for heading in ("## ClinHallu", "### Intervention", "### Validity and judging", "## MedHallTune", "## Differences"):
        assert heading in md
    assert "| ΔK |" in md or "ΔK |" in md  # replace_kr exists for one model
    rows = list(csv.DictReader((out / "leaderboard.csv").open()))
    assert [r["split"] for r in rows[:2]] == ["Average (macro over 4 sources)"] * 2
    assert {r["model"] for r in rows} == {"org/model-a", "model-b"}
    assert list(rows[0])[:6] == ["split", "model", "acc", "H_V", "H_K", "H_R"]
    med = list(csv.DictReader((out / "medhalltune_leaderboard.csv").open()))
    assert list(med[0])[:4] == ["group", "model", "clin_acc_p", "clin_acc_n"]
    assert all(len(r["clin_acc_p"].split(".")[1]) == 2 for r in med)


def test_differences_are_paired_and_consistent(two_models: Path) -> None:
    out = _run(two_models, "report")
    a = json.loads((out / "submission_org_model-a.json").read_text())
    b = json.loads((out / "submission_model-b.json").read_text())
    diffs = list(csv.DictReader((out / "differences.csv").open()))
    avg_acc = next(d for d in diffs if d["split"] == "Average" and d["metric"] == "acc")
    expected = (
        b["clinhallu"]["average"]["acc"] - a["clinhallu"]["average"]["acc"]
        if avg_acc["model_a"] == "model-b"
        else a["clinhallu"]["average"]["acc"] - b["clinhallu"]["average"]["acc"]
    )
    assert float(avg_acc["difference"]) == pytest.approx(expected, abs=0.05)
    assert float(avg_acc["ci_low"]) <= float(avg_acc["difference"]) <= float(avg_acc["ci_high"])
    assert {d["items"] for d in diffs if d["benchmark"] == "clinhallu"} == {"same items"}
    assert any(d["benchmark"] == "medhalltune" and d["split"] == "P" for d in diffs)


def test_same_input_same_output(two_models: Path) -> None:
    one = json.loads((_run(two_models, "r1", "--no-charts") / "submission_model-b.json").read_text())
    two = json.loads((_run(two_models, "r2", "--no-charts") / "submission_model-b.json").read_text())
    for d in (one, two):
        d["provenance"].pop("generated_at")
    assert one == two
    three = json.loads((_run(two_models, "r3", "--no-charts", "--seed", "7") / "submission_model-b.json").read_text())
    assert three["clinhallu"]["average"]["acc"] == one["clinhallu"]["average"]["acc"]
    assert three["clinhallu"]["average"]["ci"]["acc"] != one["clinhallu"]["average"]["ci"]["acc"]


def test_runs_of_one_model_in_several_folders_are_merged(tmp_path: Path) -> None:
    base = {f"clinhallu_{s}_baseline": TaskSpec(clin_items(s, "baseline", 15, 0.5, 0.5, 0)) for s in SOURCES}
    rest = {
        f"clinhallu_{s}_{r}": TaskSpec(clin_items(s, r, 15, 0.6, 0.3, 0))
        for s in SOURCES
        for r in ("replace_vr", "replace_vr_kr", "replace_kr")
    }
    write_run(tmp_path / "first", "m", base, date_id="20260101_100000")
    write_run(tmp_path / "second", "m", rest, date_id="20260102_100000")
    # an older, superseded baseline for vqa_rad in the second folder
    old = {"clinhallu_vqa_rad_baseline": TaskSpec(clin_items("vqa_rad", "baseline", 15, 0.1, 0.9, 5))}
    write_run(tmp_path / "second", "m", old, date_id="20250101_000000")
    out = tmp_path / "report"
    assert main([str(tmp_path / "first"), str(tmp_path / "second"), "--out", str(out), "--no-charts"]) == 0
    doc = json.loads((out / "submission.json").read_text())
    assert doc["clinhallu"]["average"]["status"] == "complete"
    assert doc["clinhallu"]["sources"]["vqa-rad"]["runs"]["baseline"]["task"] == "clinhallu_vqa_rad_baseline"
    fresh = clin_metrics("baseline", base["clinhallu_vqa_rad_baseline"].items)
    assert doc["clinhallu"]["sources"]["vqa-rad"]["acc"] == fresh["clinhallu_acc"]
    assert any("several results files" in n for n in doc["notes"])
    assert len(doc["provenance"]["runs"]) == 3
    # kept apart on request
    out2 = tmp_path / "report2"
    assert (
        main(
            [
                str(tmp_path / "first"),
                str(tmp_path / "second"),
                "--out",
                str(out2),
                "--no-charts",
                "--group-by",
                "folder",
            ]
        )
        == 0
    )
    assert len(list(out2.glob("submission_*.json"))) == 2


def test_sample_source_is_reported_but_not_averaged(tmp_path: Path) -> None:
    tasks = {
        f"clinhallu_sample_{r}": TaskSpec(clin_items("sample", r, 6, 0.5, 0.5, 0))
        for r in ("baseline", "replace_vr", "replace_vr_kr")
    }
    from tests.report.report_fixtures import med_items

    tasks["medhalltune_sample_pos"] = TaskSpec(med_items("P", 5, 6.0, 0))
    tasks["medhalltune_sample_neg"] = TaskSpec(med_items("N", 5, 5.0, 0))
    write_run(tmp_path / "runs", "tiny", tasks)
    out = tmp_path / "report"
    assert main([str(tmp_path / "runs"), "--out", str(out), "--bootstrap-iters", "100"]) == 0
    doc = json.loads((out / "submission.json").read_text())
    assert doc["clinhallu"]["other_sources"]["sample"]["status"] == "complete"
    assert doc["clinhallu"]["average"]["status"] == "missing"
    assert doc["medhalltune"]["other_subsets"]["sample"]["P"]["status"] == "complete"
    assert doc["medhalltune"]["P"]["status"] == "missing"
    md = (out / "leaderboard.md").read_text()
    assert "Sample (not averaged)" in md and "Sample subset" in md
    assert (out / "charts" / "stages_tiny.png").stat().st_size > 0


def test_nothing_to_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert "no lmms-eval results" in capsys.readouterr().err
    (tmp_path / "x_results.json").write_text("{not json")
    assert main([str(tmp_path), "--out", str(tmp_path / "r")]) == 2


def test_works_without_model_backends(two_models: Path, tmp_path: Path) -> None:
    """Run the command in a fresh interpreter where torch, lmms_eval and transformers cannot be imported."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    for name in ("torch", "lmms_eval", "transformers", "vllm", "datasets", "openai"):
        (blocker / f"{name}.py").write_text(f"raise ImportError('{name} is blocked in this test')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(blocker), str(REPO)])
    env["HF_HUB_OFFLINE"] = "1"
    proc = subprocess.run(
        [sys.executable, "-m", "clinhallu_tasks.report", str(two_models / "runs"), "--out", str(tmp_path / "r"),
         "--bootstrap-iters", "100"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "r" / "submission_model-b.json").is_file()
    assert (tmp_path / "r" / "charts" / "comparison.png").is_file()
