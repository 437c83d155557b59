"""Turn one model response into the per-sample record every ClinHallu metric reads.

Pure: no judge, no framework. The record is plain JSON-ready data, so an adapter for
any evaluation framework can store it, and the judge-driven scores (`judged.py`) and
the report read it back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from clinhallu_tasks.clinhallu.items import STEPS, ClinHalluItem, Run, Step
from clinhallu_tasks.clinhallu.trace import join_trace, parse_trace
from clinhallu_tasks.metrics.answer_match import match_answer, token_f1

# Which step each run's stage judge reads (PROTOCOL §1.6): H^V from the model's own
# baseline Visual Recognition, H^K after the gold VR, H^R after both gold steps.
JUDGED_STEP: Mapping[Run, Step] = {
    "baseline": "visual_recognition",
    "replace_vr": "knowledge_recall",
    "replace_vr_kr": "reasoning",
}

# Marker lmms-eval's API backends put in place of a response when the request failed.
REQUEST_FAILED_MARKER = "[LMMS_EVAL_REQUEST_FAILED"


def score_response(
    item: ClinHalluItem,
    run: Run,
    response: str,
    given_steps: Mapping[Step, str] | None = None,
) -> dict[str, Any]:
    """Parse, validate and rule-score one response; return the per-sample record.

    For replace runs, `given_steps` (the steps put in the prompt) are joined with the
    model's continuation before parsing, as the protocol prescribes.
    """
    response = response if isinstance(response, str) else ""
    request_failed = response.lstrip().startswith(REQUEST_FAILED_MARKER)
    text = join_trace(given_steps, response) if given_steps and not request_failed else response
    trace = parse_trace("" if request_failed else text)

    valid = trace.valid and not request_failed
    rule_correct: bool | None = None
    f1: float | None = None
    if valid:
        rule_correct = match_answer(
            trace.answer,
            question_type=item.question_type,
            ground_truth=item.answer,
            options=item.options,
            answer_letter=item.answer_letter,
        )
        # Word overlap says nothing for multiple choice ("C" against "C. Lung cancer"):
        # token F1 covers the free-text answers only.
        if item.question_type != "multiple_choice":
            f1 = token_f1(trace.answer, item.answer)

    return {
        "item_id": item.item_id,
        "source": item.source,
        "run": run,
        "question_type": item.question_type,
        "question": item.question,
        "ground_truth": item.answer,
        "image_paths": list(item.image_paths),
        "gold_steps": {step: item.gold.step(step) for step in STEPS},
        "given_steps": dict(given_steps or {}),
        "steps": {step: trace.step(step) for step in STEPS},
        "model_answer": trace.answer,
        "valid": valid,
        "invalid_reason": "request_failed" if request_failed else trace.invalid_reason,
        "rule_correct": rule_correct,
        "token_f1": f1,
        "thinking_block": trace.thinking_block,
    }


def answer_judge_input(record: Mapping[str, Any]) -> dict[str, Any]:
    """What the answer judge needs from a record (DESIGN.md, `clinhallu_acc`)."""
    return {
        "item_id": record["item_id"],
        "question": record["question"],
        "ground_truth": record["ground_truth"],
        "model_answer": record["model_answer"],
        "valid": record["valid"],
    }


def step_judge_input(record: Mapping[str, Any], step: Step) -> dict[str, Any]:
    """What a step judge needs from a record, and nothing else of the model's output.

    Visual Recognition is judged against the images; the text-only steps get the
    support context (reference and candidate VR/KR). Never the answer line, never a later step.
    """
    gold, steps = record["gold_steps"], record["steps"]
    support: dict[str, str] = {}
    if step != "visual_recognition":
        support = {
            "reference_visual_recognition": gold["visual_recognition"],
            "reference_knowledge_recall": gold["knowledge_recall"],
            "candidate_visual_recognition": steps["visual_recognition"],
            "candidate_knowledge_recall": steps["knowledge_recall"],
        }
    return {
        "item_id": record["item_id"],
        "step": step,
        "question": record["question"],
        "ground_truth": record["ground_truth"],
        "reference": gold[step],
        "candidate": steps[step],
        "image_paths": list(record["image_paths"]) if step == "visual_recognition" else [],
        "support": support,
    }


def percent_of_ones(values: Sequence[int | bool | None]) -> float | None:
    """100 * mean over the values that are not None; None when there are none."""
    counted = [bool(v) for v in values if v is not None]
    return 100.0 * sum(counted) / len(counted) if counted else None


def mean_percent(values: Sequence[float | None]) -> float | None:
    """100 * mean of 0-1 values, skipping None; None when nothing is left."""
    counted = [float(v) for v in values if v is not None]
    return 100.0 * sum(counted) / len(counted) if counted else None


__all__ = [
    "JUDGED_STEP",
    "answer_judge_input",
    "mean_percent",
    "percent_of_ones",
    "score_response",
    "step_judge_input",
]
