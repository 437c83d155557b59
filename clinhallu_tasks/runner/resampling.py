"""Generation passes with resampling (PROTOCOL §1.4), over any generator.

The official pipeline regenerates a trace that fails validation with the same request, up to
50 more times, and keeps the last attempt when none is valid. Here: pass 1 asks every item
without a response; each further pass asks again only the items whose last trace is invalid
and that have attempts left. Replies are saved as they arrive (`GenerationStore`), so a run
stopped in any pass resumes there.

Pure: the model is a callable, the clock can be replaced; no framework import.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from clinhallu_tasks.errors import ClinHalluTasksError
from clinhallu_tasks.runner.generations import Attempt, GenerationStore, TaskGenerations, Validity

OFFICIAL_RESAMPLE = 50  # extra attempts after the first (51 in all)

# A reply: the text and the generated tokens where the backend reports them.
Reply = tuple[str, int | None]
# Asks the model once for each item id; yields replies chunk by chunk as they are ready.
Generate = Callable[[Sequence[str]], Iterable[Mapping[str, Reply]]]
Progress = Callable[[str], None]


class GenerationError(ClinHalluTasksError):
    """The model did not answer every request of a pass."""


def max_attempts(resample: int) -> int:
    """Attempts per item: the first plus `resample` more (0: resampling off, one attempt)."""
    if resample < 0:
        raise ValueError(f"resample must be 0 or more, got {resample}")
    return 1 + resample


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def generate_task(
    generations: TaskGenerations,
    generate: Generate,
    validity: Validity,
    store: GenerationStore,
    *,
    resample: int,
    progress: Progress = lambda message: None,
    clock: Callable[[], float] = time.monotonic,
) -> TaskGenerations:
    """Run the passes a task still needs; returns `generations` with every item finished."""
    limit = max_attempts(resample)
    task = generations.task
    while True:
        unfinished = [item for item in generations.items.values() if not item.finished(limit)]
        if not unfinished:
            return generations
        number = min(len(item.attempts) for item in unfinished) + 1
        batch = [item.item_id for item in unfinished if len(item.attempts) == number - 1]
        counts = generations.counts()
        if number == 1:
            progress(f"{task}: pass 1: generating {_plural(len(batch), 'item')} of {counts['items']}")
        else:
            progress(
                f"{task}: pass {number} (resampling, attempt {number} of {limit}): "
                f"{_plural(len(batch), 'invalid trace')} asked again; {counts['valid']}/{counts['items']} "
                f"valid, {_plural(counts['attempts'], 'attempt')} so far"
            )
        asked = set(batch)
        answered: set[str] = set()
        started = clock()
        try:
            for chunk in generate(batch):
                replies = {}
                for item_id, (text, tokens) in chunk.items():
                    if item_id not in asked or item_id in answered:
                        raise GenerationError(f"{task}: pass {number}: a reply for {item_id!r}, which was not asked")
                    answered.add(item_id)
                    replies[item_id] = Attempt(text, tokens, validity(item_id, text))
                store.append(task, replies, generations)
        finally:  # the time of a pass that stopped halfway counts too
            store.end_pass(task, number, len(answered), clock() - started, generations)
        if answered != asked:
            missing = sorted(asked - answered)
            raise GenerationError(
                f"{task}: pass {number}: the model returned no reply for {_plural(len(missing), 'item')} "
                f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''})"
            )


def summary_line(generations: TaskGenerations, resample: int) -> str:
    """One line after a task's generation: validity at the first attempt and after resampling."""
    counts = generations.counts()
    items = counts["items"]
    line = f"{generations.task}: {items} items, {_plural(counts['attempts'], 'attempt')}"
    first = next(iter(generations.items.values()), None)
    if first is not None and first.attempts and first.attempts[0].valid is not None:
        line += f"; valid {counts['valid_first_attempt']}/{items} at the first attempt"
        if resample:
            line += f", {counts['valid']}/{items} after resampling (up to {max_attempts(resample)} attempts)"
    return line + f"; generation {generations.seconds:.1f} s"


__all__ = ["OFFICIAL_RESAMPLE", "Generate", "GenerationError", "Progress", "Reply", "generate_task", "max_attempts",
           "summary_line"]
