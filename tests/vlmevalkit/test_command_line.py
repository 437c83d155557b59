"""ms-vlmeval's own command line through `clinhallu-vlmeval`: `--base-url` for the model, the judge flags,
replace_kr after its baseline in one `--data` list, and the exit status VLMEvalKit does not give."""

from __future__ import annotations

import pytest

from clinhallu_tasks.records import TaskFiles, TaskRecords
from tests.support.judge_server import FakeJudgeServer
from tests.support.model_server import FakeModelServer
from tests.support.scripted_model import EXPECTED, EXPECTED_JUDGED
from tests.vlmevalkit import scripted
from tests.vlmevalkit.support import clinhallu_vlmeval, ms_vlmeval

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("vlmeval_installed")]

MODEL = "fake-vlm"
JUDGE_KEY = "sk-judge-flag-0815"


@pytest.fixture(autouse=True)
def ms_only(vlmeval_installed: None) -> None:
    if not ms_vlmeval():
        pytest.skip("--base-url, --judge-base-url and --judge-key are ms-vlmeval's")


def model_flags(url: str) -> list[str]:
    # --retry 1: VLMEvalKit would repeat a failed request six times, pausing up to 10 s each.
    return ["--model", MODEL, "--base-url", url, "--key", "sk-local", "--max-tokens", "1024", "--retry", "1"]


def test_base_url_model_judge_flags_and_replace_kr_after_its_baseline(tmp_path):
    work = tmp_path / "work"
    with FakeModelServer(scripted.respond) as model, FakeJudgeServer(scripted.judge) as judge:
        done = clinhallu_vlmeval(
            tmp_path, "--data", "ClinHallu_Sample_baseline", "ClinHallu_Sample_replace_kr",
            *model_flags(model.base_url), "--work-dir", str(work),
            "--judge", "fake-judge", "--judge-base-url", judge.base_url, "--judge-key", JUDGE_KEY,
        )
        authorizations = {record.authorization for record in judge.records}
    assert done.returncode == 0, done.output[-6000:]
    baseline = TaskRecords.read(TaskFiles(work / MODEL, "clinhallu_sample_baseline")).summary
    expected = {**EXPECTED["clinhallu_sample_baseline"], **EXPECTED_JUDGED["clinhallu_sample_baseline"]}
    assert {m: baseline.metrics[m] for m in expected} == pytest.approx(expected)
    replace_kr = TaskRecords.read(TaskFiles(work / MODEL, "clinhallu_sample_replace_kr")).summary
    assert {m: replace_kr.metrics[m] for m in scripted.REPLACE_KR} == pytest.approx(scripted.REPLACE_KR)
    assert replace_kr.settings["baseline_model"] == MODEL
    assert authorizations == {f"Bearer {JUDGE_KEY}"} and JUDGE_KEY not in done.output
    assert JUDGE_KEY not in (work / MODEL / "status.json").read_text()


def test_a_dataset_that_fails_makes_the_command_fail(tmp_path):
    with FakeModelServer(scripted.respond) as model:
        done = clinhallu_vlmeval(tmp_path, "--data", "ClinHallu_Sample_replace_kr", *model_flags(model.base_url),
                                 "--work-dir", str(tmp_path / "work"))
        requests = len(model.requests)
    assert done.returncode == 1, done.output[-4000:]
    assert "fake-vlm x ClinHallu_Sample_replace_kr: " in done.output
    assert "clinhallu_sample_baseline.summary.json is missing" in done.output
    assert requests == 0  # stopped before any generation
