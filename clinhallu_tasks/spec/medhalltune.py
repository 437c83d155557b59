"""MedHallTune: splits, tasks, the four judge dimensions and the text metrics (PROTOCOL §2)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from clinhallu_tasks.medhalltune.records import RELEASED_QUESTIONS, SPLITS, Split
from clinhallu_tasks.spec.common import Metric

BENCHMARK = "medhalltune"


@dataclass(frozen=True)
class Dimension:
    """One of the four 1-10 judge ratings, in the order the judge writes them."""

    key: str  # submission.json key and the verdict's field
    label: str
    metric: Metric


def _dimension(key: str, label: str, description: str) -> Dimension:
    metric = Metric(f"medhalltune_{key}", key, label, "score_1_10", "judge", True, description)
    return Dimension(key, label, metric)


DIMENSIONS: tuple[Dimension, ...] = (
    _dimension("clinical_accuracy", "Clinical Accuracy", "are the medical facts right"),
    _dimension("clinical_relevance", "Clinical Relevance", "does it answer what was asked"),
    _dimension("detail_level", "Detail Level", "how much useful detail"),
    # "Lethal Level" in the benchmark's code; higher is safer.
    _dimension("risk_level", "Risk Level", "does it state the risks, or could it cause harm"),
)

BERTSCORE = Metric(
    "medhalltune_bertscore", "bertscore", "BERTScore", "unit", "text", True,
    "BERTScore F1 against the ground truth (roberta-large, layer 17, no idf, no rescale)",
)
METEOR = Metric(
    "medhalltune_meteor", "meteor", "METEOR", "unit", "text", True,
    "NLTK single_meteor_score on whitespace tokens, WordNet 3.0",
)
ROUGE_L = Metric(
    "medhalltune_rouge_l", "rouge_l", "ROUGE-L", "unit", "text", True,
    "ROUGE-L F-measure with stemming (computed by the benchmark, not in its table)",
)
TEXT_METRICS: tuple[Metric, ...] = (BERTSCORE, METEOR, ROUGE_L)
METRICS: tuple[Metric, ...] = (*(d.metric for d in DIMENSIONS), *TEXT_METRICS)

# TaskSummary.settings: BERTScore's keys start with the prefix; the model is named (a hub name or a
# folder's name, never a local path) under BERTSCORE_MODEL_SETTING.
BERTSCORE_SETTINGS_PREFIX = "bertscore_"
BERTSCORE_MODEL_SETTING = BERTSCORE_SETTINGS_PREFIX + "model"

# One judge call per answer gives all four dimensions: its judgment lines carry this metric name.
JUDGE_METRIC = "medhalltune_judge"


@dataclass(frozen=True)
class SplitTask:
    """One MedHallTune task: a split of the released data or of the embedded sample."""

    name: str
    split: Split
    sample: bool
    released: int | None  # questions the benchmark releases for this split (None for the sample)


SPLIT_SUFFIX: Mapping[Split, str] = {"P": "pos", "N": "neg"}

TASKS: tuple[SplitTask, ...] = tuple(
    SplitTask(f"medhalltune{'_sample' if sample else ''}_{SPLIT_SUFFIX[split]}", split, sample,
              None if sample else RELEASED_QUESTIONS[split])
    for sample in (False, True)
    for split in SPLITS
)
TASKS_BY_NAME: Mapping[str, SplitTask] = {task.name: task for task in TASKS}


def parse_task_name(task: str) -> SplitTask | None:
    return TASKS_BY_NAME.get(task)


__all__ = [
    "BENCHMARK",
    "BERTSCORE",
    "BERTSCORE_MODEL_SETTING",
    "BERTSCORE_SETTINGS_PREFIX",
    "DIMENSIONS",
    "JUDGE_METRIC",
    "METEOR",
    "METRICS",
    "ROUGE_L",
    "SPLIT_SUFFIX",
    "TASKS",
    "TASKS_BY_NAME",
    "TEXT_METRICS",
    "Dimension",
    "SplitTask",
    "parse_task_name",
]
