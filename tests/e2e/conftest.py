"""Shared e2e fixtures: the tiny random-weight LLaVA and a runner for it through lmms-eval.

The CLI runner itself (offline environment, private HF_HOME, result readers) lives in
tests/support/lmms_cli.py; these fixtures only add the tiny model on top of it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tests.support.lmms_cli import LmmsRun, offline_env, run_lmms_eval

# Greedy and short, so the whole clinhallu_sample group generates in seconds on CPU.
TINY_LLAVA_GEN_KWARGS = "max_new_tokens=32,temperature=0,top_p=1.0,do_sample=False"

# A model this small gains nothing from threads; on a busy machine OpenMP spin-waiting
# makes multi-threaded generation many times slower.
_ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(scope="session")
def tiny_llava(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight LLaVA checkpoint (clinhallu_tasks.demo.tiny_model), built once per session.

    Built in a subprocess so that it runs offline with a private HF_HOME whatever the test
    process has already imported.
    """
    root = tmp_path_factory.mktemp("tiny_llava")
    target = root / "model"
    done = subprocess.run(
        [sys.executable, "-m", "clinhallu_tasks.demo.tiny_model", str(target)],
        env=offline_env(root, **_ONE_THREAD),
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"tiny model build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert Path(done.stdout.strip().splitlines()[-1]) == target
    return target


@pytest.fixture(scope="session")
def tiny_llava_model_args(tiny_llava: Path) -> str:
    """`--model_args` for `--model llava_hf` on the tiny model, on CPU.

    `device_map` must be named: llava_hf's default "" is rejected by transformers 5.
    """
    return f"pretrained={tiny_llava},device=cpu,device_map=cpu"


@pytest.fixture(scope="session")
def run_tiny_llava(tiny_llava_model_args: str) -> Callable[..., LmmsRun]:
    """Run `lmms-eval --model llava_hf` on the tiny model, offline, with a private HF_HOME.

    Call as `run_tiny_llava(tmp_path, tasks="clinhallu_sample", extra_args=(...), env=...)`;
    `env` adds variables to the offline environment.
    """

    def run(
        tmp_path: Path,
        tasks: str = "clinhallu_sample",
        *,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        gen_kwargs: str = TINY_LLAVA_GEN_KWARGS,
        output_name: str = "out",
        timeout: float = 600,
    ) -> LmmsRun:
        return run_lmms_eval(
            tmp_path,
            model="llava_hf",
            model_args=tiny_llava_model_args,
            tasks=tasks,
            env=offline_env(tmp_path, **{**_ONE_THREAD, **(env or {})}),
            extra_args=["--gen_kwargs", gen_kwargs, *extra_args],
            output_name=output_name,
            timeout=timeout,
        )

    return run
