"""ClinHallu through the real lmms-eval CLI with the `openai_compatible` backend.

The "model" is an HTTP server on 127.0.0.1 answering with scripted traces built from the
sample's gold traces (tests/support/scripted_model.py says which are broken and how).
No judge is configured here: judge metrics must be None, rule metrics exact.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from clinhallu_tasks.clinhallu.loading import sample_files
from tests.support.lmms_cli import offline_env, run_lmms_eval
from tests.support.model_server import FakeModelServer
from tests.support.scripted_model import EXPECTED, SAMPLE, respond

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("openai_sample")
    with FakeModelServer(respond) as server:
        run = run_lmms_eval(
            tmp_path,
            model="openai_compatible",
            model_args=f"model_version=fake-vlm,base_url={server.base_url}",
            tasks="clinhallu_sample",
            env=offline_env(tmp_path, OPENAI_API_KEY="not-a-secret"),
        )
        requests = list(server.requests)
    assert run.returncode == 0, run.output[-4000:]
    return run, requests


@pytest.mark.parametrize("task", sorted(EXPECTED))
def test_rule_metrics_match_the_scripted_traces(sample_run, task):
    run, _ = sample_run
    for metric, expected in EXPECTED[task].items():
        assert run.metric(task, metric) == pytest.approx(expected), (task, metric)


@pytest.mark.parametrize("task", sorted(EXPECTED))
def test_judge_metrics_are_none_without_a_judge(sample_run, task):
    run, _ = sample_run
    assert run.metric(task, "clinhallu_acc") is None
    stage = {"baseline": "clinhallu_h_v", "replace_vr": "clinhallu_h_k", "replace_vr_kr": "clinhallu_h_r"}
    assert run.metric(task, stage[task.removeprefix("clinhallu_sample_")]) is None


def test_every_image_of_an_item_is_sent(sample_run):
    # Counts per item; the order of the parts is lmms-eval's backend, not checked here.
    _, requests = sample_run
    per_item_images = {item.question: len(item.image_paths) for item in SAMPLE}
    seen = {}
    for body in requests:
        parts = [p for m in body["messages"] if isinstance(m["content"], list) for p in m["content"]]
        text = "\n".join(p.get("text", "") for p in parts if p.get("type") == "text")
        question = max((q for q in per_item_images if q in text), key=len)
        seen[question] = sum(p.get("type") == "image_url" for p in parts)
    assert seen == per_item_images
    assert len(requests) == 3 * len(SAMPLE)


def test_sample_log_carries_the_parsed_trace(sample_run):
    run, _ = sample_run
    logged = run.traces("clinhallu_sample_baseline")
    assert len(logged) == len(SAMPLE)
    broken = logged["sample-open-01"]  # scripted without Knowledge Recall
    assert broken["valid"] is False
    assert broken["invalid_reason"] == "missing_knowledge_recall"
    thinking = logged["sample-frames-01"]  # scripted with <think> and bold headers
    assert thinking["valid"] is True
    assert thinking["model_answer"] == "B. It shrinks"
    assert thinking["rule_correct"] is True
    assert thinking["steps"]["visual_recognition"] == SAMPLE[10].gold.visual_recognition


def test_replace_run_keeps_the_given_steps(sample_run):
    run, _ = sample_run
    logged = run.traces("clinhallu_sample_replace_vr_kr")
    restated = logged["sample-mc-01"]  # the continuation restated both given steps differently
    assert restated["steps"]["visual_recognition"] == SAMPLE[7].gold.visual_recognition
    assert restated["steps"]["knowledge_recall"] == SAMPLE[7].gold.knowledge_recall
    assert restated["valid"] is True


# Which sample items each source of the flat root gets, and the baseline values that follow
# from the scripted traces (worked out by hand from tests/support/scripted_model.py).
FLAT_SOURCES = {
    "vqa-rad-test": (range(12), 100 * 10 / 12, 100 * 8 / 10),
    "pathvqa-test": (range(4), 100.0, 100 * 3 / 4),  # all valid; item 1 wrong
    "medframeqa-test": ((10, 11), 50.0, 100.0),  # item 11 invalid
    "medxpert-test": ((7, 8, 9), 100.0, 100 * 2 / 3),  # item 9 wrong
}


def _write_flat_root(root: Path) -> None:
    """A flat-layout data root: each source a different slice of the sample."""
    files = sample_files()
    records = [json.loads(line) for line in files.gold_file.read_text().splitlines() if line.strip()]
    for key, (indices, _, _) in FLAT_SOURCES.items():
        shutil.copytree(files.image_dir, root / key / "images")
        lines = [json.dumps(records[i]) for i in indices]
        (root / key / "gold_cot.jsonl").write_text("\n".join(lines) + "\n")


def test_flat_layout_data_root_and_the_baseline_group_average(tmp_path):
    _write_flat_root(tmp_path / "data")
    with FakeModelServer(respond) as server:
        run = run_lmms_eval(
            tmp_path,
            model="openai_compatible",
            model_args=f"model_version=fake-vlm,base_url={server.base_url}",
            tasks="clinhallu_baseline",
            env=offline_env(tmp_path, OPENAI_API_KEY="not-a-secret", CLINHALLU_DATA_DIR=str(tmp_path / "data")),
        )
    assert run.returncode == 0, run.output[-4000:]
    tasks = ["clinhallu_vqa_rad_baseline", "clinhallu_pathvqa_baseline", "clinhallu_medframeqa_baseline",
             "clinhallu_medxpertqa_baseline"]
    for task, (_, valid, acc) in zip(tasks, FLAT_SOURCES.values(), strict=True):
        assert run.metric(task, "clinhallu_valid_rate") == pytest.approx(valid), task
        assert run.metric(task, "clinhallu_acc_rule") == pytest.approx(acc), task
    group = run.results()["groups"]["clinhallu_baseline"]
    # unweighted over sources (a size-weighted mean would give 79.05 for acc_rule)
    assert group["clinhallu_acc_rule,none"] == pytest.approx((80 + 75 + 100 + 200 / 3) / 4)
    assert group["clinhallu_valid_rate,none"] == pytest.approx((100 * 10 / 12 + 100 + 50 + 100) / 4)
    assert group["clinhallu_acc,none"] is None  # no judge


def test_unset_data_root_fails_with_the_variable_named(tmp_path):
    run = run_lmms_eval(
        tmp_path,
        model="openai_compatible",
        model_args="model_version=fake-vlm,base_url=http://127.0.0.1:9/v1",
        tasks="clinhallu_pathvqa_baseline",
        env=offline_env(tmp_path, OPENAI_API_KEY="not-a-secret"),
    )
    assert "CLINHALLU_DATA_DIR is not set" in run.output
    assert not list(run.output_path.glob("*/*_results.json"))
