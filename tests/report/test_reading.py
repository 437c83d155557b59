"""The report reads the typed records and nothing else; what it cannot read is an error naming file and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clinhallu_tasks.records import RecordError, TaskFiles
from clinhallu_tasks.report.inputs import load
from tests.report.records_builder import LMMS, VLMEVALKIT, clinhallu_task, outcomes, run_report, write_model


def _error(capsys: pytest.CaptureFixture[str], paths: list[Path], out: Path) -> str:
    run_report(paths, out, expect=2)
    return capsys.readouterr().err


def _edit_summary(folder: Path, task: str, edit) -> Path:
    path = TaskFiles(folder, task).summary
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_a_summary_without_a_metric_the_report_needs_names_file_and_field(tmp_path, capsys) -> None:
    clinhallu_task(tmp_path / "runs", "pathvqa", "baseline", outcomes(6))
    path = _edit_summary(tmp_path / "runs", "clinhallu_pathvqa_baseline", lambda d: d["metrics"].pop("clinhallu_h_v"))
    err = _error(capsys, [tmp_path / "runs"], tmp_path / "out")
    assert str(path) in err and "metrics.clinhallu_h_v" in err


def test_a_field_of_the_wrong_type_names_file_and_field(tmp_path, capsys) -> None:
    clinhallu_task(tmp_path / "runs", "pathvqa", "baseline", outcomes(6))
    path = _edit_summary(tmp_path / "runs", "clinhallu_pathvqa_baseline", lambda d: d["judge"].update(endpoints="2"))
    err = _error(capsys, [tmp_path / "runs"], tmp_path / "out")
    assert str(path) in err and "judge.endpoints" in err


def test_missing_validity_counts_are_an_error_not_a_blank(tmp_path, capsys) -> None:
    clinhallu_task(tmp_path / "runs", "pathvqa", "baseline", outcomes(6))
    path = _edit_summary(tmp_path / "runs", "clinhallu_pathvqa_baseline",
                         lambda d: d["counts"].pop("valid_first_attempt"))
    err = _error(capsys, [tmp_path / "runs"], tmp_path / "out")
    assert str(path) in err and "counts.valid_first_attempt" in err


def test_a_folder_without_records_is_an_error_not_an_empty_report(tmp_path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    err = _error(capsys, [tmp_path / "empty"], tmp_path / "out")
    assert str(tmp_path / "empty") in err and "no task records" in err
    assert not (tmp_path / "out" / "leaderboard.md").exists()


def test_a_previous_version_folder_is_named_as_such_with_what_to_do(tmp_path, capsys) -> None:
    (tmp_path / "old" / "model__x").mkdir(parents=True)
    (tmp_path / "old" / "model__x" / "20261201_results.json").write_text("{}", encoding="utf-8")
    err = _error(capsys, [tmp_path / "old"], tmp_path / "out")
    assert "clinhallu-tasks 0.1 output" in err and "Regenerate the run" in err


def test_the_same_task_of_one_model_in_two_folders_is_refused_naming_both(tmp_path: Path) -> None:
    clinhallu_task(tmp_path / "a", "pathvqa", "baseline", outcomes(6))
    clinhallu_task(tmp_path / "b", "pathvqa", "baseline", outcomes(6, seed=1))
    with pytest.raises(RecordError) as error:
        load([tmp_path / "a", tmp_path / "b"])
    assert str(tmp_path / "a") in str(error.value) and str(tmp_path / "b") in str(error.value)
    assert len(load([tmp_path / "a", tmp_path / "b"], group_by="folder")) == 2


def test_lmms_eval_and_vlmevalkit_folders_of_one_model_give_identical_rows(tmp_path: Path) -> None:
    write_model(tmp_path / "lmms", framework=LMMS)
    write_model(tmp_path / "vlmevalkit", framework=VLMEVALKIT)
    out = run_report([tmp_path / "lmms", tmp_path / "vlmevalkit"], tmp_path / "out")
    assert set(out.submissions) == {f"model-a | {LMMS}", f"model-a | {VLMEVALKIT}"}
    rows = {}
    for row in out.csv["leaderboard.csv"]:
        rows.setdefault(row.pop("model"), []).append(row)
    (a, b) = rows.values()
    assert a == b and len(a) == 5
    lmms, vlm = (out.submissions[k] for k in sorted(out.submissions))
    assert lmms["clinhallu"] == vlm["clinhallu"] and lmms["medhalltune"] == vlm["medhalltune"]


def test_tasks_of_one_model_in_several_folders_make_one_model(tmp_path: Path) -> None:
    write_model(tmp_path / "clinhallu", medhalltune=False)
    write_model(tmp_path / "medhalltune", sources=())
    (model,) = load([tmp_path / "clinhallu", tmp_path / "medhalltune"])
    assert len(model.tasks) == 14


def test_a_folder_given_twice_or_inside_another_is_read_once(tmp_path: Path) -> None:
    write_model(tmp_path / "runs" / "a")
    (model,) = load([tmp_path / "runs", tmp_path / "runs" / "a", tmp_path / "runs"])
    assert len(model.tasks) == 14
