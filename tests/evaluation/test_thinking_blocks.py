"""A task whose traces mostly open with a thinking block says so: the protocol generates with thinking off."""

from __future__ import annotations

import logging

from clinhallu_tasks.records import TaskFiles, TaskRecords
from tests.evaluation.conftest import evaluate
from tests.support.scripted_model import respond


def thinking_first(prompt: str, images: int) -> str:
    return "<think>The question asks about the image; let me look.</think>\n" + respond(prompt, images)


def test_most_traces_thinking_first_is_counted_and_warned(make_context, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="clinhallu_tasks"):
        evaluate(make_context(), "clinhallu_sample_baseline", thinking_first)
    records = TaskRecords.read(TaskFiles(tmp_path / "out", "clinhallu_sample_baseline"))
    assert records.summary.counts["thinking_block"] == records.summary.items == 12
    assert all(sample.generation.thinking_block for sample in records.samples)
    [warning] = [r.getMessage() for r in caplog.records if "thinking block" in r.getMessage()]
    assert warning.startswith("clinhallu_sample_baseline: 12 of 12 responses start with a thinking block")


def test_traces_without_thinking_are_not_warned_about(make_context, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="clinhallu_tasks"):
        evaluate(make_context(), "clinhallu_sample_baseline", respond)
    summary = TaskRecords.read(TaskFiles(tmp_path / "out", "clinhallu_sample_baseline")).summary
    assert summary.counts["thinking_block"] < summary.items / 2
    assert not [r for r in caplog.records if "thinking block" in r.getMessage()]


def test_a_framework_that_already_saw_the_thinking_block_is_believed(make_context, tmp_path):
    """The runner passes thinking_block=True itself (it parsed the response to resample); the record agrees."""
    from clinhallu_tasks.evaluation import TaskEvaluation, prepare
    from clinhallu_tasks.records import Generation

    context = make_context()
    evaluation = TaskEvaluation(context, prepare("clinhallu_sample_baseline", settings=context.settings))
    item = evaluation.prepared.items[0]
    response = thinking_first(evaluation.prompt(item).text, 1)
    sample = evaluation.add_response(item.item_id, response, Generation(thinking_block=True))
    assert sample.generation.thinking_block
