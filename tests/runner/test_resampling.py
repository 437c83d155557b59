"""The generation passes: who is asked again, how often, what is kept, and resuming from disk."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from clinhallu_tasks.records import RecordError
from clinhallu_tasks.runner.generations import GenerationStore
from clinhallu_tasks.runner.resampling import GenerationError, generate_task, max_attempts


class ScriptedGenerator:
    """Replies "<item>#<n>" to the n-th request for an item; valid when n reaches `valid_from[item]`."""

    def __init__(self, valid_from: dict[str, int | None], chunk: int = 2) -> None:
        self.valid_from = valid_from
        self.chunk = chunk
        self.calls: list[list[str]] = []
        self.counts: dict[str, int] = {}

    def __call__(self, item_ids: Sequence[str]):
        self.calls.append(list(item_ids))
        for start in range(0, len(item_ids), self.chunk):
            replies = {}
            for item_id in item_ids[start:start + self.chunk]:
                self.counts[item_id] = self.counts.get(item_id, 0) + 1
                replies[item_id] = (f"{item_id}#{self.counts[item_id]}", 7)
            yield replies

    def validity(self, item_id: str, text: str) -> bool:
        threshold = self.valid_from[item_id]
        return threshold is not None and int(text.split("#")[1]) >= threshold


def run(tmp_path, generator: ScriptedGenerator, resample: int, task: str = "t"):
    store = GenerationStore(tmp_path)
    generations = store.load(task, list(generator.valid_from), generator.validity)
    return generate_task(generations, generator, generator.validity, store, resample=resample)


def test_resample_zero_means_one_attempt(tmp_path):
    assert max_attempts(0) == 1
    generator = ScriptedGenerator({"a": None, "b": 1})
    generations = run(tmp_path, generator, resample=0)
    assert generator.calls == [["a", "b"]]
    assert [len(item.attempts) for item in generations.items.values()] == [1, 1]


def test_only_invalid_items_are_asked_again_until_valid(tmp_path):
    generator = ScriptedGenerator({"a": 1, "b": 3, "c": 2})
    generations = run(tmp_path, generator, resample=50)
    assert generator.calls == [["a", "b", "c"], ["b", "c"], ["b"]]
    assert {i: item.final.response for i, item in generations.items.items()} == {"a": "a#1", "b": "b#3", "c": "c#2"}


def test_the_last_attempt_is_kept_when_none_is_valid(tmp_path):
    generator = ScriptedGenerator({"a": None})
    generations = run(tmp_path, generator, resample=3)
    item = generations.items["a"]
    assert len(item.attempts) == 4 and item.final.response == "a#4" and item.final.valid is False


def test_a_rerun_asks_only_what_is_missing(tmp_path):
    first = ScriptedGenerator({"a": 1, "b": 3, "c": None})
    run(tmp_path, first, resample=1)  # b and c stop after 2 attempts, invalid
    again = ScriptedGenerator({"a": 1, "b": 3, "c": None})
    again.counts = dict(first.counts)
    generations = run(tmp_path, again, resample=1)
    assert again.calls == []  # every item finished: nothing to ask
    assert generations.counts() == {"items": 3, "generated": 3, "valid": 1, "valid_first_attempt": 1, "attempts": 5}
    # More attempts allowed now: the saved ones count, only the invalid items go on.
    more = ScriptedGenerator({"a": 1, "b": 3, "c": None})
    more.counts = dict(first.counts)
    run(tmp_path, more, resample=2)
    assert more.calls == [["b", "c"]]


def test_generation_time_adds_up_across_sessions(tmp_path):
    store = GenerationStore(tmp_path)
    generator = ScriptedGenerator({"a": 1})
    generations = store.load("t", ["a"], generator.validity)
    ticks = iter([10.0, 12.5])
    generate_task(generations, generator, generator.validity, store, resample=0, clock=lambda: next(ticks))
    assert store.load("t", ["a"], generator.validity).seconds == pytest.approx(2.5)


def test_a_line_cut_short_by_a_crash_is_asked_again(tmp_path):
    generator = ScriptedGenerator({"a": 1, "b": 1})
    run(tmp_path, generator, resample=0)
    path = GenerationStore(tmp_path).path("t")
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + lines[1][:20])  # b's line half written, no pass line
    again = ScriptedGenerator({"a": 1, "b": 1})
    run(tmp_path, again, resample=0)
    assert again.calls == [["b"]]


def test_an_unreadable_line_names_the_file_and_line(tmp_path):
    store = GenerationStore(tmp_path)
    store.folder.mkdir(parents=True)
    store.path("t").write_text('{"item_id": "a", "attempt": 1, "response": "x"}\nnot json\n')
    with pytest.raises(RecordError, match=r"t\.jsonl, line 2"):
        store.load("t", ["a"], lambda i, t: True)


def test_attempts_out_of_order_are_refused(tmp_path):
    store = GenerationStore(tmp_path)
    store.folder.mkdir(parents=True)
    store.path("t").write_text('{"item_id": "a", "attempt": 2, "response": "x"}\n')
    with pytest.raises(RecordError, match="field 'attempt'"):
        store.load("t", ["a"], lambda i, t: True)


def test_a_reply_missing_from_a_pass_is_an_error(tmp_path):
    def silent(item_ids):
        yield {item_ids[0]: ("text", None)}

    store = GenerationStore(tmp_path)
    generations = store.load("t", ["a", "b"], lambda i, t: True)
    with pytest.raises(GenerationError, match="no reply for 1 item"):
        generate_task(generations, silent, lambda i, t: True, store, resample=0)
    assert len(store.load("t", ["a", "b"], lambda i, t: True).items["a"].attempts) == 1  # kept


def test_answers_without_validity_get_one_pass(tmp_path):
    generator = ScriptedGenerator({"a": None})
    store = GenerationStore(tmp_path)
    generations = store.load("t", ["a"], lambda i, t: None)
    generate_task(generations, generator, lambda i, t: None, store, resample=50)
    assert generator.calls == [["a"]]
