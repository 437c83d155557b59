"""`clinhallu-tasks run` with a "simple" lmms-eval backend (`llava_hf` on a tiny random-weight LLaVA, CPU).

Simple backends read the documents through `lm.task_dict` and `doc_to_visual`, chat backends
through `doc_to_messages`: the runner must set up both as lmms-eval's evaluator does. A random
model never writes a valid trace, so every item uses all its attempts.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from clinhallu_tasks.records import TaskFiles, TaskRecords
from tests.support.lmms_cli import offline_env

pytestmark = pytest.mark.e2e

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def test_a_simple_backend_runs_the_passes_with_one_model(tmp_path):
    env = offline_env(tmp_path, **ONE_THREAD)
    model = tmp_path / "tiny" / "model"
    built = subprocess.run([sys.executable, "-m", "clinhallu_tasks.demo.tiny_model", str(model)], env=env,
                           cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    done = subprocess.run(
        [sys.executable, "-m", "clinhallu_tasks.cli", "run", "--model", "llava_hf",
         "--model_args", f"pretrained={model},device=cpu,device_map=cpu", "--tasks", "clinhallu_sample_baseline",
         "--output_path", str(tmp_path / "out"), "--gen_kwargs", "max_new_tokens=8", "--resample", "1",
         "--limit", "3"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("loading --model llava_hf") == 1
    assert "clinhallu_sample_baseline: pass 2 (resampling, attempt 2 of 2): 3 invalid traces" in done.stdout
    records = TaskRecords.read(TaskFiles(tmp_path / "out" / "tiny__model", "clinhallu_sample_baseline"))
    assert [s.generation.attempts for s in records.samples] == [2, 2, 2]
    assert records.summary.settings["generation_kwargs"]["max_new_tokens"] == 8
    assert records.summary.settings["generation_kwargs"]["until"] == []  # the task's, kept under --gen_kwargs
    # Under --limit the chained replace_kr continues exactly the baseline's first 3 items.
    chained = TaskRecords.read(TaskFiles(tmp_path / "out" / "tiny__model", "clinhallu_sample_replace_kr"))
    assert [s.item_id for s in chained.samples] == [s.item_id for s in records.samples]
