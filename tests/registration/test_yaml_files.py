"""The task YAMLs are generated from the spec: a file that drifts from it fails here (and in `--check`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from clinhallu_tasks.lmms import yaml_files
from clinhallu_tasks.registration import task_dir
from clinhallu_tasks.spec import clinhallu as clinhallu_spec
from clinhallu_tasks.spec import medhalltune as medhalltune_spec


def test_the_shipped_yamls_are_exactly_what_the_spec_gives():
    assert yaml_files.drift(task_dir()) == []
    assert yaml_files.main(["--check"]) == 0


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    folder = tmp_path / "task_yaml"
    shutil.copytree(task_dir(), folder)
    return folder


def test_an_edited_yaml_is_drift(copy, capsys):
    path = copy / "clinhallu" / "clinhallu_sample_baseline.yaml"
    path.write_text(path.read_text().replace("clinhallu_h_v", "clinhallu_h_k"))
    assert yaml_files.main(["--check", "--folder", str(copy)]) == 1
    assert "clinhallu/clinhallu_sample_baseline.yaml: differs from the spec" in capsys.readouterr().err


def test_a_missing_or_stray_yaml_is_drift(copy):
    (copy / "medhalltune" / "medhalltune_pos.yaml").unlink()
    (copy / "clinhallu" / "clinhallu_old_task.yaml").write_text("task: clinhallu_old_task\n")
    problems = yaml_files.drift(copy)
    assert "medhalltune/medhalltune_pos.yaml: missing" in problems
    assert "clinhallu/clinhallu_old_task.yaml: not generated from the spec (remove it)" in problems
    yaml_files.write(copy)
    assert yaml_files.drift(copy) == []


def _load(path: Path) -> dict:
    return yaml.load(path.read_text(), Loader=yaml.BaseLoader)  # !function tags read as plain text


def test_every_task_of_the_spec_has_its_metrics():
    folder = task_dir()
    for source in clinhallu_spec.ALL_SOURCES:
        for run in clinhallu_spec.RUNS:
            task = clinhallu_spec.task_name(source.name, run.name)
            config = _load(folder / "clinhallu" / f"{task}.yaml")
            assert [m["metric"] for m in config["metric_list"]] == [m.name for m in run.metrics], task
    for task in medhalltune_spec.TASKS:
        config = _load(folder / "medhalltune" / f"{task.name}.yaml")
        assert [m["metric"] for m in config["metric_list"]] == [m.name for m in medhalltune_spec.METRICS]


def test_groups_leave_out_the_run_that_needs_a_baseline_first():
    folder = task_dir() / "clinhallu"
    assert _load(folder / "clinhallu.yaml")["task"] == [f"clinhallu_{s.name}" for s in clinhallu_spec.SOURCES]
    for source in clinhallu_spec.ALL_SOURCES:
        tasks = _load(folder / f"clinhallu_{source.name}.yaml")["task"]
        assert tasks == [f"clinhallu_{source.name}_{run}" for run in ("baseline", "replace_vr", "replace_vr_kr")]


def test_official_decoding_and_no_stop_strings():
    template = _load(task_dir() / "clinhallu" / "_clinhallu_template_yaml")
    assert template["generation_kwargs"] == {
        "until": [], "max_new_tokens": "4096", "temperature": "0.7", "top_p": "0.9", "do_sample": "true"}
