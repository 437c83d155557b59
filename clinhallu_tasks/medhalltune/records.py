"""What one MedHallTune test question is, once read from the released files (PROTOCOL §2.1)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Split = Literal["P", "N"]

SPLITS: tuple[Split, ...] = ("P", "N")
SPLIT_NAMES: dict[Split, str] = {"P": "non-hallucination (positive)", "N": "hallucination (negative)"}

# The released file names, exactly as the benchmark ships them ("postive" is theirs).
QUESTION_FILES: dict[Split, str] = {
    "P": "val_positive_qa-filtered.jsonl",
    "N": "val_negative_qa-filtered.jsonl",
}
REFERENCE_FILES: dict[Split, str] = {
    "P": "llava-med-prediction-postive-GPT4o-eval-filtered.jsonl",
    "N": "llava-med-prediction-negative-GPT4o-eval-filtered.jsonl",
}
IMAGES_DIR = "images"
# Questions in the released test files (PROTOCOL §2.1).
RELEASED_QUESTIONS: dict[Split, int] = {"P": 1110, "N": 1128}

# The model that answered the reference files; its judged answers calibrate the judge.
REFERENCE_MODEL = "LLaVA-Med-v1.5-7B"


@dataclass(frozen=True)
class Reference:
    """LLaVA-Med's answer to the same question and the judge output the benchmark gave it."""

    answer: str
    verdict: str  # the released `result` field: four scores on the first line, then an explanation


@dataclass(frozen=True)
class MedHallTuneItem:
    """One test question. Identified by (split, question_id): ids repeat across P and N."""

    split: Split
    question_id: int
    image: str  # file name, as the annotation names it
    question: str  # the `text` field without the `<image>` placeholder
    ground_truth: str  # `gpt4_answer`
    caption: str  # `fig_caption`: what the text-only judge sees instead of the image
    reference: Reference | None  # None: a gap in the reference file (judged without calibration)
    image_path: Path | None = None  # resolved under the data root's images/ (None for text-only use)

    @property
    def key(self) -> tuple[Split, int]:
        return (self.split, self.question_id)

    @property
    def item_id(self) -> str:
        """A string form of the key, for logs and sample files (`P-12`)."""
        return f"{self.split}-{self.question_id}"
