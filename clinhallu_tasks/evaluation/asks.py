"""One judged metric of one item: a request to send, or a judgment already settled without a call."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from clinhallu_tasks.judging import JudgeOutcome, JudgeRequest, JudgeUnavailableError
from clinhallu_tasks.records import Judgment, Usage

RAW_LIMIT = 2000  # enough of a rejected reply to see what went wrong


@dataclass(frozen=True)
class Reading:
    """What a parsed verdict counts for: a 0/1 value, the four scores, the judge's explanation."""

    value: int | None = None
    scores: dict[str, float] | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Ask:
    """A judge request for (item, metric) and how to read its verdict; or `settled` when no call is needed."""

    task: str
    item_id: str
    metric: str
    request: JudgeRequest | None = None
    parse: Callable[[str], Any] | None = None
    read: Callable[[Any], Reading] | None = None
    failure_value: int | None = None  # what a failed verdict counts in the metric (None: left out)
    settled: Judgment | None = None


def settled(task: str, item_id: str, metric: str, status: str, reason: str, value: int | None,
            judge_model: str | None) -> Ask:
    judgment = Judgment(task=task, item_id=item_id, metric=metric, status=status,  # type: ignore[arg-type]
                        value=value, reason=reason, judge_model=judge_model)
    return Ask(task, item_id, metric, settled=judgment)


def judgment_from_outcome(ask: Ask, outcome: JudgeOutcome[Any], judge_model: str) -> Judgment:
    """The record of one answered request: judged with its reading, or failed with the reason."""
    usage = outcome.new_usage
    common = {
        "task": ask.task, "item_id": ask.item_id, "metric": ask.metric, "judge_model": judge_model,
        "from_cache": outcome.from_cache, "attempts": outcome.attempts,
        "usage": Usage(usage.prompt_tokens, usage.completion_tokens),
    }
    if outcome.ok and outcome.value is not None and ask.read is not None:
        reading = ask.read(outcome.value)
        return Judgment(status="judged", value=reading.value, scores=reading.scores, reason=reading.reason, **common)
    raw = outcome.raw[:RAW_LIMIT] if outcome.raw is not None else None
    return Judgment(status="failed", value=ask.failure_value, reason=outcome.error or "no verdict",
                    raw_reply=raw, **common)


def judgment_from_outage(ask: Ask, message: str, judge_model: str) -> Judgment:
    """The record of a request the judge never answered because it became unreachable."""
    return Judgment(task=ask.task, item_id=ask.item_id, metric=ask.metric, status="failed", value=None,
                    reason=f"judge unavailable: {message}", judge_model=judge_model)


def collect(ask: Ask, future: Future[JudgeOutcome[Any]] | None, judge_model: str) -> tuple[Judgment, str | None]:
    """The judgment of one ask once its verdict is in (waits for it), and the outage message if the
    judge became unreachable before answering."""
    if ask.settled is not None:
        return ask.settled, None
    if future is None:
        raise ValueError(f"{ask.task} {ask.item_id} {ask.metric}: asked, but no request was sent")
    try:
        outcome = future.result()
    except JudgeUnavailableError as error:
        return judgment_from_outage(ask, str(error), judge_model), str(error)
    return judgment_from_outcome(ask, outcome, judge_model), None


__all__ = ["RAW_LIMIT", "Ask", "Reading", "collect", "judgment_from_outage", "judgment_from_outcome", "settled"]
