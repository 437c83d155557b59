"""The command end to end: its files, its entry points, and numbers equal to what the run recorded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from clinhallu_tasks.cli import main as cli_main
from clinhallu_tasks.records import TaskFiles, read_summary
from clinhallu_tasks.spec import clinhallu as ch
from clinhallu_tasks.spec import medhalltune as mh
from tests.report.records_builder import NO_FREE_TEXT, failed_judge, run_report, write_model

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    write_model(root / "a", model="org/model-a", runs=tuple(r.name for r in ch.RUNS), seed=1)
    write_model(root / "b", model="model-b", seed=2)
    return root


def test_every_file_is_written_for_two_models(runs: Path, tmp_path: Path) -> None:
    out = run_report([runs], tmp_path / "out", "--charts")
    names = {p.relative_to(out.folder).as_posix() for p in out.folder.rglob("*") if p.is_file()}
    assert names == {
        "leaderboard.md", "leaderboard.csv", "intervention.csv", "validity.csv", "cost.csv",
        "medhalltune_leaderboard.csv", "differences.csv", "submission_org_model-a.json", "submission_model-b.json",
        "charts/comparison.png", "charts/medhalltune.png", "charts/stages_org_model-a.png",
        "charts/stages_model-b.png",
    }


def test_the_runs_reasons_for_missing_numbers_are_in_the_notes(tmp_path: Path) -> None:
    write_model(tmp_path / "runs", sources=("vqa_rad",), judge=failed_judge("HTTP 503 from the judge"))
    out = run_report([tmp_path / "runs"], tmp_path / "out")
    assert "judge failed: HTTP 503 from the judge (clinhallu_vqa_rad_baseline clinhallu_acc, " in out.md


def test_charts_follow_what_ran(tmp_path: Path) -> None:
    write_model(tmp_path / "runs", sources=(), model="medhalltune-only")
    out = run_report([tmp_path / "runs"], tmp_path / "out", "--charts")
    assert sorted(p.name for p in (out.folder / "charts").iterdir()) == ["medhalltune.png"]


def test_numbers_are_the_summaries_and_lie_in_their_intervals(runs: Path, tmp_path: Path) -> None:
    out = run_report([runs], tmp_path / "out")
    doc = out.submissions["org/model-a | lmms-eval 0.7.3"]

    def metric(task: str, name: str) -> float:
        value = read_summary(TaskFiles(runs / "a", task).summary).metrics[name]
        assert value is not None
        return value

    source = doc["clinhallu"]["sources"]["medframeqa"]
    for key, run in ch.HEADLINE.items():
        name = next(m.name for m in (ch.ACC, *ch.STAGE_METRICS.values()) if m.key == key)
        assert source[key] == metric(ch.task_name("medframeqa", run), name)
        low, high = source["ci"][key]
        assert low <= source[key] <= high
    split = doc["medhalltune"]["N"]
    for m in mh.METRICS:
        assert split[m.key] == metric("medhalltune_neg", m.name)
    assert [note.split(" (")[0] for note in doc["notes"]] == [NO_FREE_TEXT]  # no number disagrees with its items


def test_models_on_the_same_items_are_compared_item_by_item(runs: Path, tmp_path: Path) -> None:
    out = run_report([runs], tmp_path / "out")
    rows = out.csv["differences.csv"]
    assert rows and {r["items"] for r in rows} == {"same items"}
    assert {r["scope"] for r in rows} >= {"Average (macro over 4 sources)", "VQA-RAD", "P", "N"}


def test_the_same_input_gives_the_same_intervals(runs: Path, tmp_path: Path) -> None:
    first = run_report([runs], tmp_path / "one").submissions
    second = run_report([runs], tmp_path / "two").submissions
    for name, doc in first.items():
        assert doc["clinhallu"] == second[name]["clinhallu"] and doc["medhalltune"] == second[name]["medhalltune"]


def test_the_console_summary_names_each_model(runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_report([runs], tmp_path / "out")
    printed = capsys.readouterr().out
    assert "org/model-a: ClinHallu Average (macro over 4 sources) (complete) Acc " in printed
    assert "MedHallTune clinical accuracy P " in printed


def test_clinhallu_tasks_report_is_wired(runs: Path, tmp_path: Path) -> None:
    assert cli_main(["report", str(runs / "b"), "--out", str(tmp_path / "cli"), "--no-charts",
                     "--bootstrap-iters", "50"]) == 0
    assert json.loads((tmp_path / "cli" / "submission.json").read_text())["model"]["name"] == "model-b"


def test_python_dash_m_runs_the_report(runs: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "clinhallu_tasks.report", str(runs / "b"), "--out", str(tmp_path / "m"), "--no-charts",
         "--bootstrap-iters", "50"], cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "m" / "leaderboard.md").is_file()
