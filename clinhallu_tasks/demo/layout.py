"""Where the demo writes (all inside one work folder) and the environment of its subprocesses."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_WORKDIR = Path("clinhallu-demo")
# The user's judge, model-API and data settings must not reach the demo's runs: the demo
# configures its own (the simulation's judge is local) and must never call a real endpoint.
_DROPPED_ENV_PREFIXES = ("CLINHALLU_", "MEDHALLTUNE_", "OPENAI_", "LMMS_EVAL_PLUGINS", "HF_TOKEN")


@dataclass(frozen=True)
class DemoLayout:
    """The demo's folders. The model and caches are reused by later runs; each run gets its own folder."""

    workdir: Path
    run_dir: Path

    @classmethod
    def create(cls, workdir: Path | None = None) -> DemoLayout:
        """The layout under `workdir` (default `./clinhallu-demo`), with a fresh, timestamped run folder."""
        root = (workdir or DEFAULT_WORKDIR).expanduser().absolute()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = root / "runs" / stamp
        n = 1
        while run_dir.exists():  # two demos in the same second
            n += 1
            run_dir = root / "runs" / f"{stamp}-{n}"
        return cls(root, run_dir)

    @property
    def model_dir(self) -> Path:
        return self.workdir / "tiny-llava"

    @property
    def hf_home(self) -> Path:
        return self.workdir / "hf_home"

    @property
    def cache_dir(self) -> Path:
        """XDG_CACHE_HOME and MPLCONFIGDIR of everything the demo starts, so that nothing lands in ~/.cache."""
        return self.workdir / "cache"

    @property
    def tiny_output(self) -> Path:
        return self.run_dir / "tiny-model" / "lmms-eval"

    @property
    def simulation_dir(self) -> Path:
        return self.run_dir / "SIMULATION"

    @property
    def simulation_output(self) -> Path:
        return self.simulation_dir / "lmms-eval"

    @property
    def judge_cache(self) -> Path:
        return self.simulation_dir / "judge_cache.sqlite3"

    @property
    def report_dir(self) -> Path:
        return self.simulation_dir / "report"

    def private_dirs(self) -> dict[str, str]:
        """Variables that point every cache a run may write at folders inside the work folder."""
        return {
            "HF_HOME": str(self.hf_home),
            "XDG_CACHE_HOME": str(self.cache_dir),
            "MPLCONFIGDIR": str(self.cache_dir / "matplotlib"),
            "TORCH_HOME": str(self.cache_dir / "torch"),
        }

    def env(self, **extra: str) -> dict[str, str]:
        """The environment for the demo's subprocesses: offline, private caches, one CPU thread."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_ENV_PREFIXES)}
        env.update(
            HF_HUB_OFFLINE="1",
            HF_DATASETS_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            HF_HUB_DISABLE_TELEMETRY="1",
            TOKENIZERS_PARALLELISM="false",
            WANDB_MODE="disabled",
            PYTHONUNBUFFERED="1",
            # A model this small gains nothing from threads, and on a busy machine OpenMP
            # spin-waiting makes multi-threaded generation many times slower.
            OMP_NUM_THREADS="1",
            MKL_NUM_THREADS="1",
        )
        env.update(self.private_dirs())
        env.update(extra)
        return env


@contextlib.contextmanager
def scoped_env(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of a block, then restore them (for in-process steps)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
