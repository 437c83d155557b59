"""The ClinHallu item: one validated question with its gold three-step trace.

Plain data, no I/O: loaders build items, prompts and scoring read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

QuestionType = Literal["yes_no", "open_ended", "multiple_choice"]
QUESTION_TYPES: tuple[QuestionType, ...] = ("yes_no", "open_ended", "multiple_choice")

Step = Literal["visual_recognition", "knowledge_recall", "reasoning"]
STEPS: tuple[Step, ...] = ("visual_recognition", "knowledge_recall", "reasoning")

Run = Literal["baseline", "replace_vr", "replace_kr", "replace_vr_kr"]
RUNS: tuple[Run, ...] = ("baseline", "replace_vr", "replace_kr", "replace_vr_kr")

# Which gold steps each stage-replacement run hands to the model (PROTOCOL §1.4).
# `replace_kr` also hands over the model's own baseline Visual Recognition.
GIVEN_GOLD_STEPS: Mapping[Run, tuple[Step, ...]] = {
    "baseline": (),
    "replace_vr": ("visual_recognition",),
    "replace_kr": ("knowledge_recall",),
    "replace_vr_kr": ("visual_recognition", "knowledge_recall"),
}


@dataclass(frozen=True)
class GoldTrace:
    """The reference trace released with the item."""

    visual_recognition: str
    knowledge_recall: str
    reasoning: str
    answer: str = ""

    def step(self, step: Step) -> str:
        return getattr(self, step)


@dataclass(frozen=True)
class Source:
    """One of the four ClinHallu sources, with each of the names it goes by."""

    name: str  # task-name form: clinhallu_<name>_baseline
    key: str  # dataset key in the released files: results/<key>/...
    dataset_dir: str  # folder in the official tree: data/<dataset_dir>/input/test/images
    label: str  # leaderboard column
    submission_key: str  # key in submission.json


# Validated instances the benchmark releases across the four sources (per-source counts are not published).
RELEASED_ITEMS = 7031

SOURCES: tuple[Source, ...] = (
    Source("vqa_rad", "vqa-rad-test", "vqa-rad", "VQA-RAD", "vqa-rad"),
    Source("pathvqa", "pathvqa-test", "pathvqa", "PathVQA", "pathvqa"),
    Source("medframeqa", "medframeqa-test", "medframeqa", "MedFrameQA", "medframeqa"),
    Source("medxpertqa", "medxpert-test", "medxpert", "MedXpertQA", "medxpertqa"),
)
# The embedded sample ships inside the package and runs like a fifth source.
SAMPLE_SOURCE = Source("sample", "sample", "sample", "Sample", "sample")
SOURCES_BY_NAME: Mapping[str, Source] = {s.name: s for s in (*SOURCES, SAMPLE_SOURCE)}


@dataclass(frozen=True)
class ClinHalluItem:
    """A question, its answer key, its images (paths, never decoded here) and gold trace."""

    source: str
    item_id: str
    question: str
    question_type: QuestionType
    answer: str
    gold: GoldTrace
    image_paths: tuple[str, ...] = ()
    options: tuple[str, ...] = ()  # "A. text" strings, multiple choice only
    answer_letter: str | None = None  # multiple choice only
    metadata: Mapping[str, Any] = field(default_factory=dict)
