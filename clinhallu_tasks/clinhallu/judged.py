"""Judge-driven ClinHallu scores over per-sample records (docs/DESIGN.md).

Pure functions of (records, client): all judge calls of a task go out in one
concurrent batch, and every verdict is returned per sample for the judgments file.

- `judged_accuracy`: percent judged correct among valid traces that got a verdict;
  invalid traces are not asked, judge failures are left out of the denominator.
- `stage_hallucination_rate`: percent hallucinated among all samples; an empty
  candidate step or a missing reference counts as hallucinated without a call,
  and so does a judge failure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..judging import JudgeClient, JudgeOutcome, JudgeRequest
from .judges import (
    STEP_TITLES,
    AnswerVerdict,
    StepVerdict,
    answer_request,
    load_templates,
    parse_answer_verdict,
    parse_step_verdict,
    step_request,
)

_RAW_LIMIT = 2000  # enough of a rejected reply to see what went wrong


@dataclass
class JudgedScore:
    """A judge-driven score with its bookkeeping.

    `positives` is the numerator (judged correct, or hallucinated). `no_call` counts
    samples settled without asking the judge: for accuracy the invalid traces (left
    out), for a step rate the empty-candidate / missing-reference samples (counted
    hallucinated). `failures` are samples the judge did not give a usable verdict for.
    """

    value: float | None
    n: int
    judged: int = 0
    positives: int = 0
    failures: int = 0
    no_call: int = 0
    cache_hits: int = 0
    judge_model: str | None = None
    judgments: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The counts and value, without the per-sample judgments."""
        data = asdict(self)
        data.pop("judgments")
        return data


def _judgment(
    sample: Mapping[str, Any], judge: str, model: str, score: int | None, *, reason: str | None = None,
    outcome: JudgeOutcome[Any] | None = None, no_call_reason: str | None = None, error: str | None = None,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "item_id": sample.get("item_id"),
        "judge": judge,
        "judge_model": model,
        "score": score,
        "reason": reason,
        "from_cache": bool(outcome and outcome.from_cache),
        "error": error if error is not None else (outcome.error if outcome else None),
        "no_call_reason": no_call_reason,
        "attempts": outcome.attempts if outcome else 0,
    }
    if outcome is not None and outcome.error is not None and outcome.raw is not None:
        record["raw_reply"] = outcome.raw[:_RAW_LIMIT]
    return record


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def judged_accuracy(samples: Sequence[Mapping[str, Any]], client: JudgeClient | None) -> JudgedScore:
    """Answer-judge accuracy in percent over valid traces (`clinhallu_acc` records)."""
    if client is None:
        return JudgedScore(value=None, n=len(samples))
    model = client.config.model
    templates = load_templates()
    requests: list[JudgeRequest] = []
    asked: list[int] = []
    judgments: list[dict[str, Any] | None] = [None] * len(samples)
    for index, sample in enumerate(samples):
        if not sample.get("valid"):
            judgments[index] = _judgment(sample, "answer", model, None, no_call_reason="invalid trace")
            continue
        requests.append(answer_request(_text(sample.get("question")), _text(sample.get("ground_truth")),
                                       _text(sample.get("model_answer")), templates=templates))
        asked.append(index)
    outcomes: list[JudgeOutcome[AnswerVerdict]] = client.judge_many(
        requests, parse_answer_verdict, desc="judge: answers"
    )
    score = JudgedScore(value=None, n=len(samples), judge_model=model, no_call=len(samples) - len(asked))
    for index, outcome in zip(asked, outcomes, strict=True):
        score.cache_hits += outcome.from_cache
        if outcome.ok and outcome.value is not None:
            score.judged += 1
            score.positives += outcome.value.correct
            judgments[index] = _judgment(samples[index], "answer", model, int(outcome.value.correct),
                                         reason=outcome.value.reasoning, outcome=outcome)
        else:
            score.failures += 1
            judgments[index] = _judgment(samples[index], "answer", model, None, outcome=outcome)
    score.value = 100.0 * score.positives / score.judged if score.judged else None
    score.judgments = [j for j in judgments if j is not None]
    return score


def stage_hallucination_rate(samples: Sequence[Mapping[str, Any]], client: JudgeClient | None) -> JudgedScore:
    """Step-judge hallucination rate in percent over all samples (`clinhallu_h_*` records)."""
    if client is None:
        return JudgedScore(value=None, n=len(samples))
    model = client.config.model
    templates = load_templates()
    requests: list[JudgeRequest] = []
    asked: list[int] = []
    judgments: list[dict[str, Any] | None] = [None] * len(samples)
    score = JudgedScore(value=None, n=len(samples), judge_model=model)
    for index, sample in enumerate(samples):
        step = sample.get("step")
        if step not in STEP_TITLES:
            raise ValueError(f"sample {sample.get('item_id')!r}: unknown step {step!r}")
        candidate, reference = _text(sample.get("candidate")).strip(), _text(sample.get("reference")).strip()
        images = list(sample.get("image_paths") or [])
        missing = (
            "empty candidate step" if not candidate
            else "missing reference" if not reference
            else None
        )
        if missing is not None:
            score.no_call += 1
            score.positives += 1
            judgments[index] = _judgment(sample, step, model, 1, no_call_reason=missing)
            continue
        if step == "visual_recognition" and not images:
            # Not the protocol's judge without the images: a failure, counted hallucinated.
            score.failures += 1
            score.positives += 1
            judgments[index] = _judgment(sample, step, model, 1, error="no images to show the judge")
            continue
        requests.append(step_request(
            step, _text(sample.get("question")), _text(sample.get("ground_truth")), reference, candidate,
            image_paths=images, support=sample.get("support") if step != "visual_recognition" else None,
            templates=templates,
        ))
        asked.append(index)
    outcomes: list[JudgeOutcome[StepVerdict]] = client.judge_many(
        requests, parse_step_verdict, desc="judge: " + "+".join(sorted({s["step"] for s in samples}))
    )
    for index, outcome in zip(asked, outcomes, strict=True):
        step = samples[index]["step"]
        score.cache_hits += outcome.from_cache
        if outcome.ok and outcome.value is not None:
            score.judged += 1
            score.positives += outcome.value.hallucinated
            judgments[index] = _judgment(samples[index], step, model, int(outcome.value.hallucinated),
                                         reason=outcome.value.reason, outcome=outcome)
        else:
            score.failures += 1
            score.positives += 1
            judgments[index] = _judgment(samples[index], step, model, 1, outcome=outcome)
    score.value = 100.0 * score.positives / score.n if score.n else None
    score.judgments = [j for j in judgments if j is not None]
    return score
