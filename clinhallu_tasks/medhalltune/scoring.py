"""Turn judge verdicts and text comparisons into MedHallTune's reported numbers (PROTOCOL §2.2). Pure.

Every reported value is a plain mean over one split. A judge failure (the endpoint never
gave a reply in the verdict format) is counted and left out of the judge means; it is
never replaced by a number. Text metrics compare each answer with the ground truth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from clinhallu_tasks.medhalltune.judge import DIMENSIONS, Verdict
from clinhallu_tasks.metrics.text_similarity import (
    BertScoreResult,
    BertScoreSettings,
    bertscore_f1,
    mean,
    meteor_scores,
    rouge_l_scores,
)

TEXT_METRICS: tuple[str, ...] = ("bertscore", "meteor", "rouge_l")


@dataclass(frozen=True)
class JudgeSummary:
    """The four judge means of one split (None where nothing was judged) and the counts behind them."""

    means: dict[str, float | None]
    n_answers: int
    n_judged: int
    n_failed: int
    n_without_reference: int = 0  # judged without the calibration sample (gaps in the reference file)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.means,
            "n_answers": self.n_answers,
            "n_judged": self.n_judged,
            "n_failed": self.n_failed,
            "n_without_reference": self.n_without_reference,
        }


def dimension_means(scores: Sequence[Mapping[str, float]]) -> dict[str, float | None]:
    """Plain mean of each dimension over the verdicts given (failures are not among them)."""
    return {name: mean([score[name] for score in scores]) for name in DIMENSIONS}


def summarize_verdicts(verdicts: Sequence[Verdict | None], *, n_without_reference: int = 0) -> JudgeSummary:
    """Plain per-dimension means over the verdicts that exist; None entries are failures."""
    judged = [v for v in verdicts if v is not None]
    means = dimension_means([v.scores() for v in judged])
    return JudgeSummary(
        means=means,
        n_answers=len(verdicts),
        n_judged=len(judged),
        n_failed=len(verdicts) - len(judged),
        n_without_reference=n_without_reference,
    )


@dataclass(frozen=True)
class TextScores:
    """Per-answer text similarity to the ground truth, and the means (0-1)."""

    meteor: list[float] = field(default_factory=list)
    rouge_l: list[float] = field(default_factory=list)
    bertscore: BertScoreResult | None = None

    def means(self) -> dict[str, float | None]:
        return {
            "bertscore": mean(self.bertscore.f1) if self.bertscore is not None else None,
            "meteor": mean(self.meteor),
            "rouge_l": mean(self.rouge_l),
        }


def text_scores(
    ground_truths: Sequence[str],
    answers: Sequence[str],
    *,
    metrics: Sequence[str] = TEXT_METRICS,
    bertscore: BertScoreSettings | None = None,
) -> TextScores:
    """Compute the requested text metrics of each answer against its ground truth, in batch."""
    unknown = set(metrics) - set(TEXT_METRICS)
    if unknown:
        raise ValueError(f"unknown text metric(s) {sorted(unknown)}; known: {TEXT_METRICS}")
    return TextScores(
        meteor=meteor_scores(ground_truths, answers) if "meteor" in metrics else [],
        rouge_l=rouge_l_scores(ground_truths, answers) if "rouge_l" in metrics else [],
        bertscore=bertscore_f1(ground_truths, answers, bertscore) if "bertscore" in metrics else None,
    )
