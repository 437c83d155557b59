"""ClinHallu through the evaluation layer (no framework): values, judgments, records, judge failures.

The scripted model (tests/support/scripted_model.py) and the rule-based fake judge
(tests/support/judge_server.py) give values worked out by hand, the same as the lmms-eval e2e tests.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from clinhallu_tasks.evaluation import TaskEvaluation, prepare
from clinhallu_tasks.records import TaskFiles, TaskRecords, to_json
from tests.evaluation.conftest import JUDGE_MODEL, evaluate
from tests.support.judge_server import FakeJudgeServer, closed_port_url
from tests.support.scripted_model import EXPECTED, EXPECTED_JUDGED, SAMPLE, respond

TASKS = sorted(EXPECTED_JUDGED)


@pytest.fixture(scope="module")
def judge():
    with FakeJudgeServer() as server:
        yield server


@pytest.mark.parametrize("task", TASKS)
def test_every_metric_is_the_hand_computed_value(make_context, judge, task):
    summary = evaluate(make_context(judge.base_url), task, respond).summary
    assert summary is not None
    for metric, value in {**EXPECTED[task], **EXPECTED_JUDGED[task]}.items():
        assert summary.metrics[metric] == pytest.approx(value), metric
    assert summary.metric_notes == {}


def test_every_item_has_a_judgment_for_every_judged_metric(make_context, judge, tmp_path):
    evaluate(make_context(judge.base_url), "clinhallu_sample_replace_vr", respond)
    records = TaskRecords.read(TaskFiles(tmp_path / "out", "clinhallu_sample_replace_vr"))
    by_metric: dict[str, list] = {}
    for judgment in records.judgments:
        by_metric.setdefault(judgment.metric, []).append(judgment)
    assert sorted(by_metric) == ["clinhallu_acc", "clinhallu_h_k"]
    assert all(len(lines) == len(SAMPLE) for lines in by_metric.values())
    # The invalid trace is settled for accuracy; the empty Knowledge Recall is settled hallucinated.
    assert [j.item_id for j in by_metric["clinhallu_acc"] if j.status == "settled"] == ["sample-yn-03"]
    [empty] = [j for j in by_metric["clinhallu_h_k"] if j.status == "settled"]
    assert (empty.item_id, empty.value, empty.reason) == ("sample-yn-03", 1, "empty candidate step")
    assert all(j.judge_model == JUDGE_MODEL for j in records.judgments)
    counts = records.summary.counts
    assert (counts["clinhallu_acc.judged"], counts["clinhallu_acc.settled"]) == (11, 1)


def test_judge_requests_go_out_as_responses_arrive(make_context, tmp_path):
    """All calls of an evaluation are in flight together: none waits for `finish`."""
    with FakeJudgeServer(latency=0.2) as slow:
        context = make_context(slow.base_url)
        evaluation = TaskEvaluation(context, prepare("clinhallu_sample_baseline", settings=context.settings))
        for item in evaluation.prepared.items:
            prompt = evaluation.prompt(item)
            evaluation.add_response(item.item_id, respond(prompt.text, len(prompt.image_paths)))
        deadline = time.monotonic() + 5
        while slow.received < 2 * len(SAMPLE) - 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        asked_before_finish = slow.received
        evaluation.finish()
    assert asked_before_finish == 10 + 12  # 10 valid answers, 12 Visual Recognition steps
    assert slow.max_in_flight > 1


def test_responses_added_without_submitting_are_asked_once_at_finish(make_context, judge):
    """A process that does not aggregate passes its responses on; each verdict is still asked once."""
    judge.reset_counters()
    context = make_context(judge.base_url)
    evaluation = TaskEvaluation(context, prepare("clinhallu_sample_replace_vr_kr", settings=context.settings))
    for item in evaluation.prepared.items:
        prompt = evaluation.prompt(item)
        evaluation.add_response(item.item_id, respond(prompt.text, len(prompt.image_paths)), submit=False)
    assert judge.received == 0
    summary = evaluation.finish()
    expected = EXPECTED_JUDGED["clinhallu_sample_replace_vr_kr"]
    assert summary.metrics["clinhallu_h_r"] == pytest.approx(expected["clinhallu_h_r"])
    assert judge.received == summary.cost.judge_calls == summary.counts["clinhallu_acc.judged"] + 12


def test_no_judge_is_told_apart_from_an_unreachable_one(make_context, tmp_path):
    none = evaluate(make_context(None, output_folder=tmp_path / "none"), "clinhallu_sample_baseline", respond).summary
    down = evaluate(make_context(closed_port_url(), output_folder=tmp_path / "down"), "clinhallu_sample_baseline",
                    respond).summary
    assert none is not None and down is not None
    assert none.judge.configured is False and none.judge.failure is None
    assert down.judge.configured is True and down.judge.model == JUDGE_MODEL
    assert down.judge.failure and "unavailable" in down.judge.failure
    for summary in (none, down):
        assert summary.metrics["clinhallu_acc"] is None and summary.metrics["clinhallu_h_v"] is None
        valid_rate = EXPECTED["clinhallu_sample_baseline"]["clinhallu_valid_rate"]
        assert summary.metrics["clinhallu_valid_rate"] == pytest.approx(valid_rate)
    assert "no judge configured" in none.metric_notes["clinhallu_acc"]
    assert "unreachable" in down.metric_notes["clinhallu_acc"]
    # The outage is on record per item: asked, never answered.
    down_records = TaskRecords.read(TaskFiles(tmp_path / "down", "clinhallu_sample_baseline"))
    failed = [j for j in down_records.judgments if j.status == "failed"]
    assert failed and all((j.reason or "").startswith("judge unavailable") for j in failed)


def test_the_records_name_the_templates_this_run_used(make_context, judge, tmp_path):
    """An edited answer-judge template: the records carry its fingerprint, not the installed one's."""
    folder = tmp_path / "templates"
    folder.mkdir()
    from clinhallu_tasks.clinhallu import judges

    edited = (judges.TEMPLATE_DIR / "clinhallu_answer_user.txt").read_text() + "\nBe strict.\n"
    (folder / "clinhallu_answer_user.txt").write_text(edited)
    summary = evaluate(make_context(judge.base_url, judge_templates_dir=folder), "clinhallu_sample_baseline",
                       respond).summary
    assert summary is not None
    assert summary.wording.judge == "custom" and summary.wording.generation == "package"
    assert summary.wording.templates["clinhallu_answer_user.txt"] == hashlib.sha256(edited.encode()).hexdigest()
    assert "clinhallu_step_visual_recognition_user.txt" in summary.wording.templates
    assert "clinhallu_step_reasoning_user.txt" not in summary.wording.templates  # not this run's judge
    assert "generation_user_image.txt" in summary.wording.templates


def test_the_data_fingerprint_covers_the_images(make_context, tmp_path):
    from dataclasses import replace

    context = make_context(None)
    prepared = prepare("clinhallu_sample_baseline", settings=context.settings)
    first = prepared.items[0]
    copy = tmp_path / "image.png"
    copy.write_bytes(Path(first.image_paths[0]).read_bytes())
    from clinhallu_tasks.evaluation import data_fingerprint

    moved = replace(first, image_paths=(str(copy), *first.image_paths[1:]))
    assert data_fingerprint([moved]) == data_fingerprint([first])  # where the file lies does not matter
    copy.write_bytes(copy.read_bytes() + b"\0")
    assert data_fingerprint([moved]) != data_fingerprint([first])  # what it holds does


def test_a_sample_record_round_trips(make_context, judge, tmp_path):
    evaluation = evaluate(make_context(judge.base_url), "clinhallu_sample_baseline", respond)
    records = TaskRecords.read(TaskFiles(tmp_path / "out", "clinhallu_sample_baseline"))
    assert records.summary == evaluation.summary
    assert [to_json(s)["item_id"] for s in records.samples] == [item.item_id for item in SAMPLE]
    assert records.summary.model == "scripted-vlm" and records.summary.items_released is None
