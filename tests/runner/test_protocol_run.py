"""`clinhallu-tasks run` end to end: a scripted model behind lmms-eval's `openai_compatible`
backend and a scripted judge, both on 127.0.0.1, the command in a subprocess as a user runs it.

The scripted model (tests/runner/scripted_protocol.py, where the expected values are worked out
by hand) writes invalid traces on the first attempts of some items and valid ones later.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from clinhallu_tasks.records import TaskFiles, TaskRecords, TraceSample
from tests.runner.scripted_protocol import (
    ATTEMPTS,
    DELTA_K,
    DELTA_V,
    EXPECTED,
    REQUESTS,
    SAMPLE,
    ProtocolModel,
    own_visual_recognition,
)
from tests.support.judge_server import FakeJudgeServer
from tests.support.lmms_cli import offline_env
from tests.support.model_server import FakeModelServer

pytestmark = pytest.mark.e2e

MODEL_KEY = "sk-runner-test-7f3a9c1e5b"  # must never appear in any output or file
JUDGE_KEY = "judge-key-4d8e2a6b0c91"
TASKS = ("clinhallu_sample_baseline", "clinhallu_sample_replace_vr", "clinhallu_sample_replace_vr_kr",
         "clinhallu_sample_replace_kr")


def run_command(tmp_path: Path, model_url: str, judge_url: str | None, *extra: str,
                model_args: str = "") -> subprocess.CompletedProcess[str]:
    args = model_args or f"model_version=fake-vlm,base_url={model_url},api_key={MODEL_KEY}"
    env = offline_env(tmp_path, CLINHALLU_JUDGE_CACHE=str(tmp_path / "judge_cache.sqlite3"))
    if judge_url is not None:
        env.update(CLINHALLU_JUDGE_BASE_URL=judge_url, CLINHALLU_JUDGE_MODEL="fake-judge",
                   CLINHALLU_JUDGE_API_KEY=JUDGE_KEY)
    command = [sys.executable, "-m", "clinhallu_tasks.cli", "run", "--model", "openai_compatible",
               "--model_args", args, "--tasks", "clinhallu_sample", "--output_path", str(tmp_path / "out"),
               "--resample", "2", *extra]
    return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)


def records(tmp_path: Path, task: str) -> TaskRecords:
    return TaskRecords.read(TaskFiles(tmp_path / "out" / "fake-vlm", task))


@pytest.fixture(scope="module")
def protocol(tmp_path_factory):
    """One protocol run, then the same command again (resume); servers kept for inspection."""
    tmp_path = tmp_path_factory.mktemp("protocol")
    model = ProtocolModel()
    with FakeModelServer(model) as model_server, FakeJudgeServer() as judge:
        # DEBUG: lmms-eval logs everything it would, so the masking is tried on all of it.
        first = run_command(tmp_path, model_server.base_url, judge.base_url, "--verbosity", "DEBUG")
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        after_first = (len(model.requests()), judge.received)
        again = run_command(tmp_path, model_server.base_url, judge.base_url)
        refused = run_command(tmp_path, model_server.base_url, judge.base_url, "--gen_kwargs", "temperature=0.2")
        after_refused = len(model.requests())
        yield {"tmp": tmp_path, "model": model, "judge": judge, "first": first, "again": again,
               "refused": refused, "after_first": after_first, "after_refused": after_refused}


def test_each_run_sends_the_scripted_number_of_requests(protocol):
    model = protocol["model"]
    assert {run: len(model.requests(run)) for run in REQUESTS} == REQUESTS


def test_resampling_recovers_invalid_traces_and_counts_attempts(protocol):
    for run, attempts in ATTEMPTS.items():
        samples = {s.item_id: s for s in records(protocol["tmp"], f"clinhallu_sample_{run}").samples}
        for index, item in enumerate(SAMPLE):
            generation = samples[item.item_id].generation
            assert generation.attempts == attempts.get(index, 1), (run, item.item_id)
            assert generation.valid_first_attempt is (index not in attempts), (run, item.item_id)
    baseline = {s.item_id: s for s in records(protocol["tmp"], "clinhallu_sample_baseline").samples}
    assert baseline["sample-yn-02"].valid and baseline["sample-open-01"].valid  # recovered
    assert not baseline["sample-frames-02"].valid  # never valid: the 3rd attempt is kept
    assert "OWNVR-11-3" in baseline["sample-frames-02"].steps["visual_recognition"]


def test_summary_counts_validity_before_and_after_resampling(protocol):
    summary = records(protocol["tmp"], "clinhallu_sample_baseline").summary
    assert summary.counts["valid_first_attempt"] == 9
    assert summary.counts["valid"] == 11
    assert summary.counts["resampled"] == 3
    assert summary.settings["max_attempts"] == 3
    assert summary.cost.generation_seconds is not None and summary.cost.generation_seconds > 0


@pytest.mark.parametrize("task", TASKS)
def test_metrics_equal_the_hand_computed_values(protocol, task):
    metrics = records(protocol["tmp"], task).summary.metrics
    for name, value in EXPECTED[task].items():
        assert metrics[name] == pytest.approx(value), (task, name)


def test_replace_kr_prompts_carry_the_final_own_baseline_vr_and_the_gold_kr(protocol):
    for seen in protocol["model"].requests("replace_kr"):
        item = SAMPLE[seen.index]
        final_attempt = ATTEMPTS["baseline"].get(seen.index, 1)
        assert own_visual_recognition(seen.index, final_attempt) in seen.prompt
        assert item.gold.knowledge_recall in seen.prompt
        assert item.gold.visual_recognition not in seen.prompt
        for earlier in range(1, final_attempt):
            assert f"OWNVR-{seen.index}-{earlier} " not in seen.prompt
    samples = records(protocol["tmp"], "clinhallu_sample_replace_kr").samples
    given = {s.item_id: s.given_steps for s in samples if isinstance(s, TraceSample)}
    assert given["sample-yn-02"]["visual_recognition"] == own_visual_recognition(1, 3)


def test_the_report_fills_delta_k(protocol, tmp_path):
    from clinhallu_tasks.cli import main

    assert main(["report", str(protocol["tmp"] / "out"), "--out", str(tmp_path / "report"), "--no-charts",
                 "--bootstrap-iters", "50"]) == 0
    submission = json.loads((tmp_path / "report" / "submission.json").read_text())
    sample = submission["clinhallu"]["other_sources"]["sample"]
    assert sample["delta_k"] == pytest.approx(DELTA_K)
    assert sample["delta_v"] == pytest.approx(DELTA_V)
    with (tmp_path / "report" / "intervention.csv").open() as handle:
        row = next(r for r in csv.DictReader(handle) if r["split"] == "Sample")
    assert float(row["delta_k"]) == pytest.approx(DELTA_K, abs=0.05)  # the table shows one decimal


def test_rerunning_resumes_without_a_model_or_judge_request(protocol):
    again = protocol["again"]
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "resuming" in again.stdout
    requests, verdicts = protocol["after_first"]
    assert requests == sum(REQUESTS.values())
    assert protocol["after_refused"] == requests  # neither the rerun nor the refused run asked the model
    assert protocol["judge"].received == verdicts  # every verdict came from the cache


def test_a_folder_of_other_arguments_is_refused(protocol):
    refused = protocol["refused"]
    assert refused.returncode == 2
    assert "another run" in refused.stdout and "gen_kwargs: '' -> 'temperature=0.2'" in refused.stdout


def test_no_secret_in_any_output_or_file(protocol):
    judge = protocol["judge"]
    assert judge.records and all(r.authorization == f"Bearer {JUDGE_KEY}" for r in judge.records)  # keys were used
    outputs = [protocol[name].stdout + protocol[name].stderr for name in ("first", "again", "refused")]
    assert "api_key=***" in outputs[0]  # the masking did run: model_args were shown
    files = [path for path in (protocol["tmp"] / "out").rglob("*") if path.is_file()]
    assert any(path.name == "protocol-run.json" for path in files)
    for secret in (MODEL_KEY, JUDGE_KEY):
        assert all(secret not in text for text in outputs), secret
        assert [path for path in files if secret.encode() in path.read_bytes()] == [], secret


def test_protocol_run_json_says_what_was_asked(protocol):
    manifest = json.loads((protocol["tmp"] / "out" / "fake-vlm" / "protocol-run.json").read_text())
    assert manifest["identity"]["model"] == "openai_compatible"
    assert manifest["identity"]["model_args"] == "model_version=fake-vlm,api_key=***"  # base_url is an address
    assert manifest["identity"]["resample"] == 2
    assert manifest["tasks"] == list(TASKS)
    assert set(manifest["versions"]) == {"clinhallu-tasks", "lmms-eval", "python"}
    assert len(manifest["sessions"]) == 2  # the refused run claimed nothing


def test_an_interrupted_run_resumes_with_only_the_missing_requests(tmp_path):
    model = ProtocolModel()
    # Items 3 and 7 fail on their first baseline request however often the client retries.
    model.fail = {(3, "baseline", 1), (7, "baseline", 1)}
    with FakeModelServer(model) as server:
        args = f"model_version=fake-vlm,base_url={server.base_url},api_key={MODEL_KEY},max_retries=1,retry_backoff_s=0"
        broken = run_command(tmp_path, server.base_url, None, model_args=args)
        assert broken.returncode == 1, broken.stdout[-3000:] + broken.stderr[-3000:]
        assert "2 request(s) failed" in broken.stdout
        saved = (tmp_path / "out" / "fake-vlm" / "generations" / "clinhallu_sample_baseline.jsonl").read_text()
        assert sum('"attempt": 1' in line for line in saved.splitlines()) == 10
        assert len(model.requests()) == 10
        model.fail = set()
        resumed = run_command(tmp_path, server.base_url, None, model_args=args)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    # The 10 replies of the first run were reused: the two runs together asked exactly the script.
    assert {run: len(model.requests(run)) for run in REQUESTS} == REQUESTS
    assert {s.index for s in model.requests("baseline") if s.attempt == 1} == set(range(12))
    assert MODEL_KEY not in broken.stdout + broken.stderr + resumed.stdout + resumed.stderr
