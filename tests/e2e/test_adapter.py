"""The lmms-eval adapter through the real CLI: settings checked at load, one evaluation at a time,
one clear line after a judge outage, records in lmms-eval's model folder, replace_kr from a baseline.

The model under test and the judge are HTTP servers on 127.0.0.1 started here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from clinhallu_tasks.records import TaskFiles, TaskRecords
from tests.support.judge_server import FakeJudgeServer, closed_port_url
from tests.support.lmms_cli import offline_env, run_lmms_eval
from tests.support.model_server import FakeModelServer
from tests.support.scripted_model import EXPECTED, EXPECTED_JUDGED, respond

pytestmark = pytest.mark.e2e

MODEL = "fake-vlm"


def _run(tmp_path, model, tasks: str, name: str, limit: int | None = None, **env: str):
    return run_lmms_eval(
        tmp_path, model="openai_compatible", model_args=f"model_version={MODEL},base_url={model.base_url}",
        tasks=tasks, output_name=name, extra_args=["--limit", str(limit)] if limit else [],
        env=offline_env(tmp_path, OPENAI_API_KEY="not-a-secret", CLINHALLU_JUDGE_RETRY_BACKOFF="0.01",
                        CLINHALLU_JUDGE_CACHE=str(tmp_path / "cache"), **env),
    )


def test_a_bad_judge_setting_stops_the_run_before_any_generation(tmp_path):
    with FakeJudgeServer() as judge, FakeModelServer(respond) as model:
        run = _run(tmp_path, model, "clinhallu_sample_baseline", "bad", limit=2,
                   CLINHALLU_JUDGE_BASE_URL=judge.base_url, CLINHALLU_JUDGE_MODEL="fake-judge",
                   CLINHALLU_JUDGE_EXTRA_BODY="{bad json")
        generated = len(model.requests)
    assert "CLINHALLU_JUDGE_EXTRA_BODY must be a JSON object" in run.output
    assert generated == 0
    assert not list(run.output_path.glob("*/*_results.json"))


def test_after_a_judge_outage_one_error_line_per_task_names_its_metrics(tmp_path):
    with FakeModelServer(respond) as model:
        run = _run(tmp_path, model, "clinhallu_sample", "down", CLINHALLU_JUDGE_BASE_URL=closed_port_url(),
                   CLINHALLU_JUDGE_MODEL="fake-judge", CLINHALLU_JUDGE_MAX_RETRIES="0")
    assert run.returncode == 0, run.output[-4000:]
    lines = [line for line in run.output.splitlines() if "the judge became unreachable" in line]
    assert len(lines) == 3, lines
    stages = {"baseline": "clinhallu_h_v", "replace_vr": "clinhallu_h_k", "replace_vr_kr": "clinhallu_h_r"}
    for task, stage in stages.items():
        named = [line for line in lines if f"clinhallu_sample_{task}: " in line]
        assert len(named) == 1 and f"clinhallu_acc, {stage} are None" in named[0], lines
    # Every line of ours prints once (no handler added by the package beside the host's).
    ours = [line for line in run.output.splitlines() if "are None" in line or "records in" in line]
    assert len(ours) == len(set(ours)), ours
    # The run records which judge was configured and what became of it.
    summary = run.records("clinhallu_sample_baseline").summary
    assert summary.judge.configured and summary.judge.model == "fake-judge" and summary.judge.failure


def test_records_are_written_into_lmms_evals_model_folder(tmp_path):
    with FakeModelServer(respond) as model:
        run = _run(tmp_path, model, "clinhallu_sample_baseline", "records", limit=4)
    results = sorted(run.output_path.glob("*/*_results.json"))
    assert results and results[0].parent.name == MODEL
    records = TaskRecords.read(TaskFiles(results[0].parent, "clinhallu_sample_baseline"))
    assert records.summary.items == 4 and records.summary.model == MODEL
    assert records.summary.framework.startswith("lmms-eval ")
    assert records.summary.judge.configured is False and records.judgments == []
    settings = records.summary.settings
    assert settings["generation"]["temperature"] == 0.7 and settings["generation"]["until"] == []
    assert settings["limit"] == 4.0 and settings["given_steps"] == []


def test_replace_kr_continues_the_models_own_baseline(tmp_path):
    with FakeModelServer(respond) as model:
        missing = _run(tmp_path, model, "clinhallu_sample_replace_kr", "no_baseline", limit=2)
        assert "CLINHALLU_BASELINE_DIR is not set" in missing.output and not model.requests
        baseline = _run(tmp_path, model, "clinhallu_sample_baseline", "baseline")
        folder = baseline.output_path / MODEL
        chained = _run(tmp_path, model, "clinhallu_sample_replace_kr", "chained",
                       CLINHALLU_BASELINE_DIR=str(folder))
        prompts = [json.dumps(body) for body in model.requests[-12:]]
    assert chained.returncode == 0, chained.output[-4000:]
    own = {s.item_id: s.steps["visual_recognition"] for s in baseline.records("clinhallu_sample_baseline").samples}
    assert all(any(vr in prompt for prompt in prompts) for vr in own.values() if vr)
    records = chained.records("clinhallu_sample_replace_kr")
    assert records.summary.items == 12 and records.summary.settings["baseline_model"] == MODEL
    assert chained.metric("clinhallu_sample_replace_kr", "clinhallu_valid_rate") is not None


_TWICE = textwrap.dedent("""
    import json, os, sys
    from lmms_eval.evaluator import simple_evaluate
    from lmms_eval.tasks import TaskManager
    from clinhallu_tasks.registration import task_dir

    values = []
    for judge_url in sys.argv[2:]:
        os.environ["CLINHALLU_JUDGE_BASE_URL"] = judge_url
        results = simple_evaluate(model="openai_compatible",
                                  model_args=f"model_version=fake-vlm,base_url={sys.argv[1]}",
                                  tasks=["clinhallu_sample_baseline"], batch_size=1,
                                  task_manager=TaskManager(include_path=str(task_dir())))
        values.append({k.split(",")[0]: v for k, v in results["results"]["clinhallu_sample_baseline"].items()
                       if k.endswith(",none")})
    print("VALUES " + json.dumps(values))
""")


def test_a_second_evaluation_in_the_same_process_judges_again_after_an_outage(tmp_path):
    with FakeJudgeServer() as judge, FakeModelServer(respond) as model:
        env = offline_env(tmp_path, OPENAI_API_KEY="not-a-secret", CLINHALLU_JUDGE_MODEL="fake-judge",
                          CLINHALLU_JUDGE_MAX_RETRIES="0", CLINHALLU_JUDGE_CACHE=str(tmp_path / "cache"))
        done = subprocess.run([sys.executable, "-c", _TWICE, model.base_url, closed_port_url(), judge.base_url],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    first, second = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("VALUES "))[7:])
    assert first["clinhallu_acc"] is None and first["clinhallu_h_v"] is None
    expected = {**EXPECTED["clinhallu_sample_baseline"], **EXPECTED_JUDGED["clinhallu_sample_baseline"]}
    for metric, value in expected.items():
        assert second[metric] == pytest.approx(value), metric
