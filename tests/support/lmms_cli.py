"""Run the real `lmms-eval` CLI in a subprocess, offline, and read what it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clinhallu_tasks.records import SUMMARY_SUFFIX, TaskFiles, TaskRecords, to_json

# Variables a developer's shell may carry that would change what a test sees.
_SCRUBBED = ("CLINHALLU_", "MEDHALLTUNE_", "OPENAI_", "LMMS_EVAL_PLUGINS", "HF_TOKEN")


@dataclass
class LmmsRun:
    returncode: int
    output: str
    output_path: Path

    def results(self) -> dict[str, Any]:
        files = sorted(self.output_path.glob("*/*_results.json"))
        assert files, f"lmms-eval wrote no results file under {self.output_path}\n{self.output[-4000:]}"
        return json.loads(files[-1].read_text())

    def metric(self, task: str, metric: str) -> Any:
        return self.results()["results"][task][f"{metric},none"]

    def samples(self, task: str) -> list[dict[str, Any]]:
        files = sorted(self.output_path.glob(f"*/*_samples_{task}.jsonl"))
        assert files, f"no sample log for {task} under {self.output_path}"
        return [json.loads(line) for line in files[-1].read_text().splitlines() if line.strip()]

    def records(self, task: str) -> TaskRecords:
        """Our records of a task (`<task>.samples.jsonl`, `.judgments.jsonl`, `.summary.json`), read and checked."""
        files = sorted(self.output_path.glob(f"*/{task}{SUMMARY_SUFFIX}"))
        assert files, f"no records of {task} under {self.output_path}\n{self.output[-4000:]}"
        return TaskRecords.read(TaskFiles(files[-1].parent, task))

    def traces(self, task: str) -> dict[str, dict[str, Any]]:
        """The per-sample records of a task, by item id, as JSON objects."""
        return {sample.item_id: to_json(sample) for sample in self.records(task).samples}

    def judgments(self, task: str) -> list[dict[str, Any]]:
        """The per-item judgments of a task, as JSON objects."""
        return [to_json(judgment) for judgment in self.records(task).judgments]


def offline_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The test process's environment minus our variables, offline, with a private HF cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED)}
    env.update(
        HF_HOME=str(tmp_path / "hf_home"),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        WANDB_MODE="disabled",
        PYTHONUNBUFFERED="1",
        XDG_CACHE_HOME=str(tmp_path / "xdg_cache"),
    )
    env.update(extra)
    return env


def run_lmms_eval(
    tmp_path: Path,
    *,
    model: str,
    model_args: str,
    tasks: str,
    env: dict[str, str] | None = None,
    extra_args: list[str] | None = None,
    output_name: str = "out",
    timeout: float = 600,
) -> LmmsRun:
    output_path = tmp_path / output_name
    command = [
        sys.executable,
        "-m",
        "lmms_eval",
        "--model",
        model,
        "--model_args",
        model_args,
        "--tasks",
        tasks,
        "--batch_size",
        "1",
        "--output_path",
        str(output_path),
        "--log_samples",
        *(extra_args or []),
    ]
    done = subprocess.run(
        command,
        env=env if env is not None else offline_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return LmmsRun(done.returncode, done.stdout + done.stderr, output_path)
