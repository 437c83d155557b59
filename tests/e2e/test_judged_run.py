"""ClinHallu with a judge, through the real lmms-eval CLI.

Both the model under test and the judge are HTTP servers on 127.0.0.1 started here. The
fake judge's verdicts follow simple rules (tests/support/judge_server.py), so the
expected values in tests/support/scripted_model.py were worked out by hand.
"""

from __future__ import annotations

import pytest

from tests.support.judge_server import FakeJudgeServer, closed_port_url
from tests.support.lmms_cli import offline_env, run_lmms_eval
from tests.support.model_server import FakeModelServer
from tests.support.scripted_model import EXPECTED, EXPECTED_JUDGE_CALLS, EXPECTED_JUDGED, SAMPLE, respond

pytestmark = pytest.mark.e2e

SECRET = "sk-test-very-secret-judge-key-4242"
TASKS = sorted(EXPECTED_JUDGED)


def _run(tmp_path, judge_url: str, cache, name: str, **env):
    with FakeModelServer(respond) as model:
        return run_lmms_eval(
            tmp_path,
            model="openai_compatible",
            model_args=f"model_version=fake-vlm,base_url={model.base_url}",
            tasks="clinhallu_sample",
            output_name=name,
            env=offline_env(
                tmp_path,
                OPENAI_API_KEY="not-a-secret",
                CLINHALLU_JUDGE_BASE_URL=judge_url,
                CLINHALLU_JUDGE_MODEL="fake-judge",
                CLINHALLU_JUDGE_API_KEY=SECRET,
                CLINHALLU_JUDGE_CACHE=str(cache),
                CLINHALLU_JUDGE_RETRY_BACKOFF="0.05",
                **env,
            ),
        )


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    """A first run against a fresh cache, then the same run again."""
    tmp_path = tmp_path_factory.mktemp("judged")
    cache = tmp_path / "judge_cache"
    with FakeJudgeServer() as judge:
        first = _run(tmp_path, judge.base_url, cache, "first")
        first_records = list(judge.records)
        judge.reset_counters()
        second = _run(tmp_path, judge.base_url, cache, "second")
        second_received = judge.received
    assert first.returncode == 0, first.output[-4000:]
    assert second.returncode == 0, second.output[-4000:]
    return first, first_records, second, second_received


@pytest.mark.parametrize("task", TASKS)
def test_judge_metrics_are_exact(judged, task):
    first = judged[0]
    for metric, expected in EXPECTED_JUDGED[task].items():
        assert first.metric(task, metric) == pytest.approx(expected), (task, metric)
    for metric, expected in EXPECTED[task].items():  # the judge leaves the rule metrics alone
        assert first.metric(task, metric) == pytest.approx(expected), (task, metric)


def test_every_expected_judge_call_was_made_once(judged):
    assert len(judged[1]) == EXPECTED_JUDGE_CALLS


def test_images_go_to_visual_recognition_judges_only(judged):
    records = judged[1]
    with_images = [r for r in records if r.n_images]
    assert len(with_images) == len(SAMPLE)  # one VR judge call per baseline item
    assert sum(r.n_images for r in with_images) == sum(len(i.image_paths) for i in SAMPLE)
    for record in with_images:
        assert "Visual Recognition" in record.user_text or any("Visual Recognition" in t for t in record.texts)


def test_a_second_run_sends_no_judge_request(judged):
    _, _, second, second_received = judged
    assert second_received == 0
    for task in TASKS:
        for metric, expected in EXPECTED_JUDGED[task].items():
            assert second.metric(task, metric) == pytest.approx(expected)
    asked = [j for j in second.judgments("clinhallu_sample_baseline") if j["status"] == "judged"]
    assert asked and all(j["from_cache"] for j in asked)


def test_judgments_are_kept_beside_the_results(judged):
    first = judged[0]
    lines = first.judgments("clinhallu_sample_replace_vr")
    by_metric = {}
    for line in lines:
        by_metric.setdefault(line["metric"], []).append(line)
    assert sorted(by_metric) == ["clinhallu_acc", "clinhallu_h_k"]
    assert len(by_metric["clinhallu_h_k"]) == len(SAMPLE)
    empty = [j for j in by_metric["clinhallu_h_k"] if j["item_id"] == "sample-yn-03"]
    assert empty[0]["value"] == 1 and empty[0]["status"] == "settled" and empty[0]["reason"]
    assert all(j["judge_model"] == "fake-judge" for j in lines)


def test_the_judge_key_is_written_nowhere(judged):
    for run in (judged[0], judged[2]):
        assert SECRET not in run.output
        for path in run.output_path.rglob("*"):
            if path.is_file():
                assert SECRET not in path.read_text(errors="ignore"), path
    cache = judged[0].output_path.parent / "judge_cache"
    for path in cache.rglob("*") if cache.is_dir() else [cache]:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_judge_dying_halfway_then_rerun_asks_only_for_missing_verdicts(tmp_path):
    cache = tmp_path / "judge_cache"
    with FakeJudgeServer(die_after=20) as dying:
        broken = _run(tmp_path, dying.base_url, cache, "broken", CLINHALLU_JUDGE_MAX_RETRIES="1")
    assert broken.returncode == 0, broken.output[-4000:]
    assert dying.base_url.removesuffix("/v1") in broken.output
    assert "rerun the same command to resume" in broken.output
    # nothing already computed is lost: rule metrics are all there, judge metrics are None or real
    for task in TASKS:
        for metric, expected in EXPECTED[task].items():
            assert broken.metric(task, metric) == pytest.approx(expected)
    assert broken.metric("clinhallu_sample_replace_vr_kr", "clinhallu_h_r") is None

    with FakeJudgeServer() as healthy:
        rerun = _run(tmp_path, healthy.base_url, cache, "rerun")
        asked = healthy.received
    assert rerun.returncode == 0, rerun.output[-4000:]
    assert asked == EXPECTED_JUDGE_CALLS - 20
    for task in TASKS:
        for metric, expected in EXPECTED_JUDGED[task].items():
            assert rerun.metric(task, metric) == pytest.approx(expected)


def test_judge_down_from_the_start_keeps_the_run(tmp_path):
    url = closed_port_url()
    run = _run(tmp_path, url, tmp_path / "cache", "down", CLINHALLU_JUDGE_MAX_RETRIES="1")
    assert run.returncode == 0, run.output[-4000:]
    assert url.removesuffix("/v1") in run.output
    for task in TASKS:
        for metric in EXPECTED_JUDGED[task]:
            assert run.metric(task, metric) is None
        for metric, expected in EXPECTED[task].items():
            assert run.metric(task, metric) == pytest.approx(expected)


def test_the_report_reads_this_lmms_eval_output(judged, tmp_path):
    """The report on real lmms-eval output: the numbers the run computed, nothing re-derived."""
    from tests.report.records_builder import run_report

    first = judged[0]
    [submission] = run_report([first.output_path], tmp_path / "report").submissions.values()
    sample = submission["clinhallu"]["other_sources"]["sample"]
    assert sample["acc"] == pytest.approx(EXPECTED_JUDGED["clinhallu_sample_baseline"]["clinhallu_acc"])
    assert sample["h_v"] == pytest.approx(EXPECTED_JUDGED["clinhallu_sample_baseline"]["clinhallu_h_v"])
    assert sample["h_k"] == pytest.approx(EXPECTED_JUDGED["clinhallu_sample_replace_vr"]["clinhallu_h_k"])
    assert sample["h_r"] == pytest.approx(EXPECTED_JUDGED["clinhallu_sample_replace_vr_kr"]["clinhallu_h_r"])
    acc = {run: EXPECTED_JUDGED[f"clinhallu_sample_{run}"]["clinhallu_acc"] for run in ("baseline", "replace_vr",
                                                                                        "replace_vr_kr")}
    assert sample["delta_v"] == pytest.approx(acc["replace_vr"] - acc["baseline"])
    assert sample["delta_vk"] == pytest.approx(acc["replace_vr_kr"] - acc["baseline"])
    assert sample["delta_k"] is None and sample["missing"]["delta_k"]  # replace_kr was not run
    assert sample["status"] == "sample" and sample["judge"] == "judged"
    assert submission["model"]["framework"].startswith("lmms-eval ")
