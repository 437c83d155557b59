"""ClinHallu's judge-driven scores from per-item verdicts (PROTOCOL §1.5). Pure: no client, no I/O.

Which items are asked, and what an item counts without a verdict:

- accuracy (`clinhallu_acc`): only valid traces are asked; an invalid trace is settled without
  a call and left out. The value is the percent judged correct among the answers that got a
  verdict: a judge failure is left out of the denominator.
- stage rates (`clinhallu_h_v`, `_h_k`, `_h_r`): every item counts. An empty candidate step or
  a missing reference is settled as hallucinated without a call; so is a Visual Recognition
  step with no images to show the judge (a failure); a failed verdict counts hallucinated.

The evaluation layer (clinhallu_tasks.evaluation) sends the requests and hands the verdicts here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from clinhallu_tasks.records import Judgment

INVALID_TRACE = "invalid trace: its answer is not judged"
EMPTY_CANDIDATE = "empty candidate step"
MISSING_REFERENCE = "missing reference"
NO_IMAGES = "no images to show the judge"


def step_settlement(step_input: Mapping[str, Any]) -> tuple[str, str] | None:
    """(status, reason) of a step decided without a call, None when the judge must be asked.

    `step_input` is `scoring.step_judge_input`'s record. Both settle as hallucinated.
    """
    candidate = (step_input.get("candidate") or "").strip()
    reference = (step_input.get("reference") or "").strip()
    if not candidate:
        return "settled", EMPTY_CANDIDATE
    if not reference:
        return "settled", MISSING_REFERENCE
    if step_input.get("step") == "visual_recognition" and not step_input.get("image_paths"):
        # Not the protocol's judge without the images: a failure, counted hallucinated.
        return "failed", NO_IMAGES
    return None


def accuracy(judgments: Sequence[Judgment]) -> float | None:
    """Percent judged correct over the answers with a verdict; None when none has one."""
    judged = [j.value for j in judgments if j.status == "judged" and j.value is not None]
    return 100.0 * sum(judged) / len(judged) if judged else None


def stage_rate(judgments: Sequence[Judgment]) -> float | None:
    """Percent hallucinated over all items (settled and failed ones count 1); None for no items."""
    if not judgments:
        return None
    return 100.0 * sum(1 if j.value is None else j.value for j in judgments) / len(judgments)


__all__ = [
    "EMPTY_CANDIDATE",
    "INVALID_TRACE",
    "MISSING_REFERENCE",
    "NO_IMAGES",
    "accuracy",
    "stage_rate",
    "step_settlement",
]
