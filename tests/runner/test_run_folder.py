"""What a run folder may be reused for, and which tasks a run plans."""

from __future__ import annotations

import dataclasses
import json

import pytest

from clinhallu_tasks.runner.manifest import (
    MANIFEST_FILE,
    RunFolderError,
    RunIdentity,
    claim_folder,
    identity_model_args,
)
from clinhallu_tasks.runner.plan import PlanError, plan_run
from clinhallu_tasks.runner.secrets import mask_model_args

IDENTITY = RunIdentity(
    model="vllm", model_args="model=Qwen/Qwen2.5-VL-7B-Instruct", gen_kwargs="", resample=50, limit=None, offset=0,
    system_instruction=None, apply_chat_template=False, seed="0,1234,1234,1234",
)
VERSIONS = {"clinhallu-tasks": "0.2", "lmms-eval": "0.7.3", "python": "3.11"}


def test_the_same_run_resumes_and_adds_tasks(tmp_path):
    _, resumed = claim_folder(tmp_path, IDENTITY, ["a"], VERSIONS, {"n": 1})
    assert not resumed
    manifest, resumed = claim_folder(tmp_path, IDENTITY, ["b", "a"], VERSIONS, {"n": 2})
    assert resumed and manifest.tasks == ["a", "b"] and [s["n"] for s in manifest.sessions] == [1, 2]


def test_another_model_is_refused_naming_what_differs(tmp_path):
    claim_folder(tmp_path, IDENTITY, ["a"], VERSIONS, {})
    other = dataclasses.replace(IDENTITY, model_args="model=Qwen/Qwen2.5-VL-3B-Instruct", resample=0)
    with pytest.raises(RunFolderError) as error:
        claim_folder(tmp_path, other, ["a"], VERSIONS, {})
    assert "model_args: 'model=Qwen/Qwen2.5-VL-7B-Instruct' -> 'model=Qwen/Qwen2.5-VL-3B-Instruct'" in str(error.value)
    assert "resample: 50 -> 0" in str(error.value)
    assert json.loads((tmp_path / MANIFEST_FILE).read_text())["identity"]["resample"] == 50  # untouched


def test_where_the_model_is_served_is_not_part_of_the_run():
    masked = mask_model_args("model_version=gpt-4o,base_url=http://host:8000/v1,api_key=sk-1234567890,timeout=60")
    assert identity_model_args(masked) == "model_version=gpt-4o,api_key=***"


def test_each_baseline_brings_its_chained_run_last():
    plan = plan_run(["clinhallu_vqa_rad_replace_vr", "medhalltune_sample_pos", "clinhallu_vqa_rad_baseline"],
                    registered=lambda name: True)
    assert [t.name for t in plan.first] == ["clinhallu_vqa_rad_baseline", "clinhallu_vqa_rad_replace_vr",
                                            "medhalltune_sample_pos"]
    assert [(t.name, t.baseline_task) for t in plan.chained] == [
        ("clinhallu_vqa_rad_replace_kr", "clinhallu_vqa_rad_baseline")
    ]
    assert [t.traced for t in plan.first] == [True, True, False]


def test_a_chained_run_asked_alone_brings_its_baseline():
    plan = plan_run(["clinhallu_sample_replace_kr"], registered=lambda name: True)
    assert [t.name for t in plan.tasks] == ["clinhallu_sample_baseline", "clinhallu_sample_replace_kr"]


def test_tasks_of_other_benchmarks_are_refused():
    with pytest.raises(PlanError, match="mmmu_val"):
        plan_run(["clinhallu_sample_baseline", "mmmu_val"], registered=lambda name: True)
