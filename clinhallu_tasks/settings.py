"""Every setting the package reads from the environment, read and checked once (docs/DESIGN.md).

`Settings.from_env()` is called when an evaluation starts (for lmms-eval: when a task loads,
before the first request), so a bad value stops the run before any generation. The judge's
variables are read by `JudgeConfig.from_env` (clinhallu_tasks.judging), BERTScore's by
`BertScoreSettings.from_env` (metrics); their errors come back as `SettingsError` here.

A data root that is unset is not an error until a task needs it (`clinhallu_root`,
`medhalltune_root`): the embedded samples need none. A variable that is set must be usable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from clinhallu_tasks.errors import ClinHalluTasksError, DataRootError, SettingsError
from clinhallu_tasks.judging import JudgeConfig, JudgeConfigError
from clinhallu_tasks.medhalltune.records import IMAGES_DIR, QUESTION_FILES, REFERENCE_FILES
from clinhallu_tasks.metrics.text_similarity import BertScoreSettings

CLINHALLU_DATA_DIR = "CLINHALLU_DATA_DIR"
MEDHALLTUNE_DATA_DIR = "MEDHALLTUNE_DATA_DIR"
JUDGE_TEMPLATES = "CLINHALLU_JUDGE_TEMPLATES"
PROMPT_TEMPLATES = "CLINHALLU_PROMPT_TEMPLATES"
BASELINE_DIR = "CLINHALLU_BASELINE_DIR"

_CLINHALLU_ROOT_HINT = (
    "Point it at a ClinHallu data root (the official working tree, or a flat folder with "
    "<key>/gold_cot.jsonl and <key>/images/); `clinhallu-tasks check` validates one. "
    "The embedded sample (`clinhallu_sample`) needs no data."
)
_MEDHALLTUNE_ROOT_HINT = (
    "Point it at a folder holding the four released MedHallTune annotation files "
    f"({', '.join([*QUESTION_FILES.values(), *REFERENCE_FILES.values()])}) and an {IMAGES_DIR}/ folder "
    "with the figures (Hugging Face dataset russellyq/MedHallTune). The embedded sample "
    "(`medhalltune_sample`) needs no data."
)
BASELINE_HINT = (
    "A replace_kr task continues the same model's own baseline traces: run "
    "clinhallu_<source>_baseline first, then point CLINHALLU_BASELINE_DIR at the folder holding "
    "its records (<output_path>/<model folder>, where clinhallu_<source>_baseline.summary.json is)."
)


def _folder(environ: Mapping[str, str], variable: str, error: type[ClinHalluTasksError] = SettingsError
            ) -> Path | None:
    """The folder a variable names; None when unset or blank; `error` when it names no folder."""
    value = environ.get(variable, "").strip()
    if not value:
        return None
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise error(f"{variable}={value}: no such directory.")
    return folder


@dataclass(frozen=True)
class Settings:
    """The environment of one evaluation, checked."""

    clinhallu_data_dir: Path | None = None
    medhalltune_data_dir: Path | None = None
    judge_templates_dir: Path | None = None
    prompt_templates_dir: Path | None = None
    baseline_dir: Path | None = None
    judge: JudgeConfig | None = None
    bertscore: BertScoreSettings = field(default_factory=BertScoreSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every variable; SettingsError naming the variable (never a secret value) if one is unusable."""
        env = os.environ if environ is None else environ
        try:
            judge = JudgeConfig.from_env(env)
        except JudgeConfigError as error:
            raise SettingsError(f"judge settings: {error}") from None
        try:
            bertscore = BertScoreSettings.from_env(env)
        except ValueError as error:
            raise SettingsError(f"BERTScore settings: {error}") from None
        return cls(
            clinhallu_data_dir=_folder(env, CLINHALLU_DATA_DIR, DataRootError),
            medhalltune_data_dir=_folder(env, MEDHALLTUNE_DATA_DIR, DataRootError),
            judge_templates_dir=_folder(env, JUDGE_TEMPLATES),
            prompt_templates_dir=_folder(env, PROMPT_TEMPLATES),
            baseline_dir=_folder(env, BASELINE_DIR),
            judge=judge,
            bertscore=bertscore,
        )

    def clinhallu_root(self) -> Path:
        if self.clinhallu_data_dir is None:
            raise DataRootError(f"{CLINHALLU_DATA_DIR} is not set. {_CLINHALLU_ROOT_HINT}")
        return self.clinhallu_data_dir

    def medhalltune_root(self) -> Path:
        if self.medhalltune_data_dir is None:
            raise DataRootError(f"{MEDHALLTUNE_DATA_DIR} is not set. {_MEDHALLTUNE_ROOT_HINT}")
        return self.medhalltune_data_dir


__all__ = [
    "BASELINE_DIR",
    "BASELINE_HINT",
    "CLINHALLU_DATA_DIR",
    "JUDGE_TEMPLATES",
    "MEDHALLTUNE_DATA_DIR",
    "PROMPT_TEMPLATES",
    "Settings",
]
