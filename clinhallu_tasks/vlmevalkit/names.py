"""VLMEvalKit's names for our tasks, built from the specs (no VLMEvalKit import).

A VLMEvalKit dataset name maps one to one onto one of our task names, which names the
records (`<task>.summary.json`, ...), so `clinhallu-tasks report` reads a VLMEvalKit work
folder as it reads an lmms-eval output folder:

    ClinHallu_VQA_RAD_baseline   -> clinhallu_vqa_rad_baseline
    ClinHallu_Sample_replace_kr  -> clinhallu_sample_replace_kr
    MedHallTune_P                -> medhalltune_pos
    MedHallTune_Sample_N         -> medhalltune_sample_neg
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from clinhallu_tasks.records import Benchmark
from clinhallu_tasks.spec import clinhallu as clinhallu_spec
from clinhallu_tasks.spec import medhalltune as medhalltune_spec


@dataclass(frozen=True)
class DatasetName:
    """One VLMEvalKit dataset and the task of ours it runs."""

    dataset: str  # VLMEvalKit's name, e.g. "ClinHallu_VQA_RAD_baseline"
    task: str  # our task name, e.g. "clinhallu_vqa_rad_baseline"
    benchmark: Benchmark
    chained: bool  # replace_kr: continues the same model's baseline records


def _source_part(label: str) -> str:
    # The leaderboard label in identifier form: "VQA-RAD" -> "VQA_RAD", "PathVQA" stays.
    return label.replace("-", "_")


CLINHALLU_DATASETS: tuple[DatasetName, ...] = tuple(
    DatasetName(
        f"ClinHallu_{_source_part(source.label)}_{run.name}",
        clinhallu_spec.task_name(source.name, run.name),
        "clinhallu",
        run.chained,
    )
    for source in clinhallu_spec.ALL_SOURCES
    for run in clinhallu_spec.RUNS
)

MEDHALLTUNE_DATASETS: tuple[DatasetName, ...] = tuple(
    DatasetName(f"MedHallTune{'_Sample' if task.sample else ''}_{task.split}", task.name, "medhalltune", False)
    for task in medhalltune_spec.TASKS
)

DATASETS: tuple[DatasetName, ...] = (*CLINHALLU_DATASETS, *MEDHALLTUNE_DATASETS)
DATASETS_BY_NAME: Mapping[str, DatasetName] = {name.dataset: name for name in DATASETS}
DATASETS_BY_TASK: Mapping[str, DatasetName] = {name.task: name for name in DATASETS}


def dataset_name(name: str) -> DatasetName:
    """The entry for a VLMEvalKit dataset name; KeyError listing the names we have otherwise."""
    try:
        return DATASETS_BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS_BY_NAME))
        raise KeyError(f"{name!r} is not a ClinHallu or MedHallTune dataset; known: {known}") from None


__all__ = [
    "CLINHALLU_DATASETS",
    "DATASETS",
    "DATASETS_BY_NAME",
    "DATASETS_BY_TASK",
    "MEDHALLTUNE_DATASETS",
    "DatasetName",
    "dataset_name",
]
