"""Every generation attempt of a run, on disk as it arrives, so an interrupted run resumes.

`<run folder>/generations/<task>.jsonl`, appended to and flushed after each chunk of replies:

    {"item_id": "...", "attempt": 1, "response": "...", "tokens": 123, "valid": false}
    {"pass": 1, "items": 12, "seconds": 4.2}      one line per generation pass: replies, wall time

An item's attempts are its lines in attempt order. Rerunning the same command reads this file
back: an item whose last attempt is valid, or that has used all its attempts, is not asked
again; validity is recomputed with the current parser rather than trusted from the file.
A last line cut short by a crash is removed (its reply is asked again); any other unreadable
line is an error naming the file and line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from clinhallu_tasks.records import RecordError

GENERATIONS_FOLDER = "generations"

# Validity of one response for one item: True/False for a ClinHallu trace, None where the
# benchmark has no validity (MedHallTune answers: one pass, never resampled).
Validity = Callable[[str, str], bool | None]


@dataclass(frozen=True)
class Attempt:
    """One generation for one item."""

    response: str
    tokens: int | None = None
    valid: bool | None = None  # None: not a trace (no resampling)


@dataclass
class ItemAttempts:
    """All attempts of one item, oldest first. The final response is the last attempt: passes
    stop at the first valid trace, and keep the last one when none is valid."""

    item_id: str
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def final(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    def finished(self, max_attempts: int) -> bool:
        final = self.final
        return final is not None and (final.valid is not False or len(self.attempts) >= max_attempts)


@dataclass
class TaskGenerations:
    """A task's attempts per item and the generation time spent on it (all sessions together)."""

    task: str
    items: dict[str, ItemAttempts]
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        """Items with a response, valid now, valid at the first attempt, and attempts made."""
        done = [item for item in self.items.values() if item.attempts]
        return {
            "items": len(self.items),
            "generated": len(done),
            "valid": sum(item.final.valid is True for item in done),  # type: ignore[union-attr]
            "valid_first_attempt": sum(item.attempts[0].valid is True for item in done),
            "attempts": sum(len(item.attempts) for item in done),
        }


class GenerationStore:
    """The append-only attempt files of one run folder."""

    def __init__(self, run_folder: Path) -> None:
        self.folder = run_folder / GENERATIONS_FOLDER

    def path(self, task: str) -> Path:
        return self.folder / f"{task}.jsonl"

    def load(self, task: str, item_ids: Iterable[str], validity: Validity) -> TaskGenerations:
        """The attempts saved for `item_ids` (others, from a larger earlier run, are ignored)."""
        items = {item_id: ItemAttempts(item_id) for item_id in item_ids}
        generations = TaskGenerations(task, items)
        path = self.path(task)
        if not path.exists():
            return generations
        _drop_partial_tail(path)
        for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as error:
                raise RecordError(path, number, None, f"not JSON ({error.msg})") from None
            if "pass" in data:
                generations.seconds += _number(data, "seconds", path, number)
                continue
            item_id = data.get("item_id")
            if not isinstance(item_id, str):
                raise RecordError(path, number, "item_id", "missing or not a string")
            if item_id not in items:
                continue
            response = data.get("response")
            if not isinstance(response, str):
                raise RecordError(path, number, "response", "missing or not a string")
            attempt = data.get("attempt")
            if attempt != len(items[item_id].attempts) + 1:
                expected = len(items[item_id].attempts) + 1
                raise RecordError(path, number, "attempt", f"{attempt!r} for {item_id!r}, expected {expected}")
            tokens = data.get("tokens")
            items[item_id].attempts.append(Attempt(response, tokens if isinstance(tokens, int) else None,
                                                   validity(item_id, response)))
        return generations

    def append(self, task: str, replies: Mapping[str, Attempt], generations: TaskGenerations) -> None:
        """Record a chunk of replies (durably) and add them to `generations`."""
        self.folder.mkdir(parents=True, exist_ok=True)
        lines = []
        for item_id, attempt in replies.items():
            item = generations.items[item_id]
            item.attempts.append(attempt)
            lines.append({"item_id": item_id, "attempt": len(item.attempts), "response": attempt.response,
                          "tokens": attempt.tokens, "valid": attempt.valid})
        self._write(task, lines)

    def end_pass(self, task: str, number: int, items: int, seconds: float, generations: TaskGenerations) -> None:
        generations.seconds += seconds
        self._write(task, [{"pass": number, "items": items, "seconds": round(seconds, 3)}])

    def _write(self, task: str, lines: list[dict]) -> None:
        path = self.path(task)
        with path.open("a", encoding="utf-8") as handle:
            for line in lines:
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def _drop_partial_tail(path: Path) -> None:
    """Cut off a last line without its newline: a write a crash interrupted (lines are whole
    when their newline is written)."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


def _number(data: dict, name: str, path: Path, line: int) -> float:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError(path, line, name, f"expected a number, got {value!r}")
    return float(value)


__all__ = ["GENERATIONS_FOLDER", "Attempt", "GenerationStore", "ItemAttempts", "TaskGenerations", "Validity"]
