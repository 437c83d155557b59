"""ClinHallu with a judge under lmms-eval's own two-process launch, against the same run in one process.

`accelerate launch --multi_gpu --num_processes 2 -m lmms_eval ...` on this CPU-only machine
starts two ranks through torch's elastic launcher; accelerate itself sees no GPU and reports a
single process, torch.distributed is initialised (gloo for CPU tensors), and lmms-eval takes its
"torchrun" path: each rank generates and post-processes half of every task, rank 0 gathers and
aggregates. (Plain `--num_processes 2`, or `--cpu --num_processes 2`, silently starts ONE
process on a machine without GPUs; `--multi_gpu --cpu` is refused by accelerate.)

The model and the judge are the scripted servers of tests/support (hand-worked expected values
in tests/support/scripted_model.py). Both runs get a fresh verdict cache and their own judge
server, so the server's count per distinct request says how often each verdict was asked.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from clinhallu_tasks.records import SUMMARY_SUFFIX
from tests.support.judge_server import FakeJudgeServer, RequestRecord
from tests.support.lmms_cli import LmmsRun, offline_env, run_lmms_eval
from tests.support.model_server import FakeModelServer
from tests.support.scripted_model import (
    EXPECTED,
    EXPECTED_JUDGE_CALLS,
    EXPECTED_JUDGED,
    SAMPLE,
    respond,
)

pytestmark = pytest.mark.e2e

TASKS = sorted(EXPECTED_JUDGED)
RECORD_SUFFIXES = (".samples.jsonl", ".judgments.jsonl", SUMMARY_SUFFIX)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _lmms_args(model_url: str, output_path: Path) -> list[str]:
    return [
        "--model", "openai_compatible", "--model_args", f"model_version=fake-vlm,base_url={model_url}",
        "--tasks", "clinhallu_sample", "--batch_size", "1", "--output_path", str(output_path), "--log_samples",
    ]


def _launch_two_processes(tmp_path: Path, model_url: str, env: dict[str, str]) -> LmmsRun:
    """`accelerate launch --multi_gpu --num_processes 2 -m lmms_eval ...`, on CPU."""
    output_path = tmp_path / "two"
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
        "--dynamo_backend", "no", "--main_process_port", str(_free_port()),  # never another test's default 29500
        "-m", "lmms_eval", *_lmms_args(model_url, output_path),
    ]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    return LmmsRun(done.returncode, done.stdout + done.stderr, output_path)


def _env(tmp_path: Path, judge_url: str, cache: Path) -> dict[str, str]:
    return offline_env(
        tmp_path,
        OPENAI_API_KEY="not-a-secret",
        CLINHALLU_JUDGE_BASE_URL=judge_url,
        CLINHALLU_JUDGE_MODEL="fake-judge",
        CLINHALLU_JUDGE_CACHE=str(cache),
        OMP_NUM_THREADS="1",
    )


def _request_identity(record: RequestRecord) -> str:
    """What makes two judge requests the same verdict: every text and every image, in order."""
    return hashlib.sha256(json.dumps([record.texts, record.image_sha256s]).encode()).hexdigest()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same judged evaluation in one process, then in two; each with its own judge and fresh cache."""
    tmp_path = tmp_path_factory.mktemp("distributed")
    with FakeModelServer(respond) as model:
        with FakeJudgeServer() as judge:
            one = run_lmms_eval(tmp_path, model="openai_compatible",
                                model_args=f"model_version=fake-vlm,base_url={model.base_url}",
                                tasks="clinhallu_sample", output_name="one",
                                env=_env(tmp_path, judge.base_url, tmp_path / "cache_one"))
            one_asked = Counter(_request_identity(r) for r in judge.records)
        generated_by_one = len(model.requests)
        with FakeJudgeServer() as judge:
            two = _launch_two_processes(tmp_path, model.base_url,
                                        _env(tmp_path, judge.base_url, tmp_path / "cache_two"))
            two_asked = Counter(_request_identity(r) for r in judge.records)
        generated_by_two = len(model.requests) - generated_by_one
    assert one.returncode == 0, one.output[-4000:]
    assert two.returncode == 0, two.output[-4000:]
    return {"one": one, "two": two, "one_asked": one_asked, "two_asked": two_asked,
            "generated": (generated_by_one, generated_by_two), "root": tmp_path}


def test_two_ranks_each_generated_half(runs):
    output = runs["two"].output
    assert "Running on rank 0 (local rank 0)" in output and "Running on rank 1 (local rank 1)" in output
    for task in TASKS:  # lmms-eval's own shard log: 6 of the 12 documents per rank
        assert output.count(f"Postprocessed {len(SAMPLE) // 2} docs for {task}/none") == 1, task
    assert runs["generated"] == (3 * len(SAMPLE), 3 * len(SAMPLE))  # every trace generated once, in both runs


@pytest.mark.parametrize("task", TASKS)
def test_metrics_equal_the_one_process_run(runs, task):
    one, two = runs["one"].results()["results"][task], runs["two"].results()["results"][task]
    for metric in (*EXPECTED[task], *EXPECTED_JUDGED[task], "clinhallu_token_f1"):
        assert two[f"{metric},none"] == pytest.approx(one[f"{metric},none"]), (task, metric)
    for metric, expected in {**EXPECTED[task], **EXPECTED_JUDGED[task]}.items():  # and both are right
        assert two[f"{metric},none"] == pytest.approx(expected), (task, metric)


def test_each_verdict_is_asked_once(runs):
    two_asked = runs["two_asked"]
    assert sum(two_asked.values()) == EXPECTED_JUDGE_CALLS
    assert set(two_asked.values()) == {1}
    assert set(two_asked) == set(runs["one_asked"])  # the very requests the one-process run sent


@pytest.mark.parametrize("task", TASKS)
def test_records_are_written_once_with_every_item(runs, task):
    for suffix in RECORD_SUFFIXES:  # one copy of each file in the whole run folder, none elsewhere
        found = sorted((runs["root"] / "two").rglob(f"{task}{suffix}"))
        assert len(found) == 1, (suffix, found)
    assert not list(runs["root"].glob(f"{task}*")), "a rank wrote records into its working folder"
    two, one = runs["two"].records(task), runs["one"].records(task)
    assert sorted(s.item_id for s in two.samples) == sorted(item.item_id for item in SAMPLE)
    assert two.summary.items == len(SAMPLE)
    assert {s.item_id: s.response for s in two.samples} == {s.item_id: s.response for s in one.samples}
    verdicts = Counter((j.item_id, j.metric) for j in two.judgments)
    assert len(verdicts) == 2 * len(SAMPLE) and set(verdicts.values()) == {1}  # answer + stage, per item
    assert ({(j.item_id, j.metric, j.status, j.value) for j in two.judgments}
            == {(j.item_id, j.metric, j.status, j.value) for j in one.judgments})


def test_judge_cost_is_counted_once(runs):
    for name in ("one", "two"):
        costs = [runs[name].records(task).summary.cost for task in TASKS]
        assert sum(cost.judge_calls for cost in costs) == EXPECTED_JUDGE_CALLS, name
        assert sum(cost.judge_failures for cost in costs) == 0, name
