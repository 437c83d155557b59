"""replace_kr continues the same model's own baseline: its final traces' Visual Recognition + the gold KR."""

from __future__ import annotations

import pytest

from clinhallu_tasks.errors import BaselineError
from clinhallu_tasks.evaluation import TaskEvaluation, prepare
from clinhallu_tasks.records import TaskFiles, TaskRecords
from clinhallu_tasks.settings import Settings
from tests.evaluation.conftest import evaluate
from tests.support.scripted_model import SAMPLE, respond

TASK = "clinhallu_sample_replace_kr"


@pytest.fixture
def baseline(make_context, tmp_path):
    folder = tmp_path / "baseline"
    evaluate(make_context(None, output_folder=folder), "clinhallu_sample_baseline", respond)
    return folder


def test_the_prompt_hands_back_the_models_own_visual_recognition(make_context, baseline):
    context = make_context(None)
    evaluation = TaskEvaluation(context, prepare(TASK, baseline=baseline, settings=context.settings,
                                                 model="scripted-vlm"))
    own = {s.item_id: s.steps["visual_recognition"]
           for s in TaskRecords.read(TaskFiles(baseline, "clinhallu_sample_baseline")).samples}
    for item in SAMPLE:
        text = evaluation.prompt(item).text
        assert item.gold.knowledge_recall in text
        if own[item.item_id]:
            assert own[item.item_id] in text
        if item.gold.visual_recognition not in own[item.item_id]:
            assert item.gold.visual_recognition not in text


def test_an_item_without_its_own_visual_recognition_gets_it_empty(make_context, tmp_path):
    folder = tmp_path / "no_vr"
    first = SAMPLE[0]

    def respond_without_vr(prompt: str, images: int) -> str:
        if first.question in prompt:
            return "[Knowledge Recall]\nSomething.\n[Reasoning]\nSo.\n[Answer] yes"
        return respond(prompt, images)

    evaluate(make_context(None, output_folder=folder), "clinhallu_sample_baseline", respond_without_vr)
    context = make_context(None)
    prepared = prepare(TASK, baseline=folder, settings=context.settings)
    assert prepared.own_steps[first.item_id] == {"visual_recognition": ""}
    text = TaskEvaluation(context, prepared).prompt(first).text  # still a prompt, as in the official pipeline
    assert first.gold.knowledge_recall in text and first.gold.visual_recognition not in text


def test_the_baseline_folder_comes_from_the_settings(make_context, baseline):
    context = make_context(None, baseline_dir=baseline)
    assert prepare(TASK, settings=context.settings).baseline_model == "scripted-vlm"


def test_no_baseline_folder_is_a_clear_error(make_context):
    with pytest.raises(BaselineError, match="CLINHALLU_BASELINE_DIR is not set"):
        prepare(TASK, settings=Settings())


def test_a_folder_without_the_baseline_is_a_clear_error(tmp_path):
    with pytest.raises(BaselineError, match="no records of clinhallu_sample_baseline"):
        prepare(TASK, baseline=tmp_path, settings=Settings())


def test_another_models_baseline_is_refused(baseline):
    with pytest.raises(BaselineError, match="'scripted-vlm'.*'other-vlm'"):
        prepare(TASK, baseline=baseline, settings=Settings(), model="other-vlm")


def _partial_baseline(make_context, folder, items) -> None:
    context = make_context(None, output_folder=folder)
    evaluation = TaskEvaluation(context, prepare("clinhallu_sample_baseline", settings=context.settings))
    for item in items:
        evaluation.add_response(item.item_id, respond(evaluation.prompt(item).text, 1))
    evaluation.finish()


def test_a_limited_baseline_is_continued_on_its_items_only(make_context, tmp_path, caplog):
    """A --limit 5 baseline covers the first 5 items: replace_kr (with the same --limit) continues those."""
    _partial_baseline(make_context, tmp_path / "limited", SAMPLE[:5])
    prepared = prepare(TASK, baseline=tmp_path / "limited", settings=Settings())
    assert [item.item_id for item in prepared.items] == [item.item_id for item in SAMPLE[:5]]
    assert "cover the first 5 of 12 items" in caplog.text


def test_a_baseline_with_a_gap_is_refused(make_context, tmp_path):
    _partial_baseline(make_context, tmp_path / "gap", [*SAMPLE[:5], *SAMPLE[6:]])
    with pytest.raises(BaselineError, match=r"1 item\(s\) of sample have no baseline trace"):
        prepare(TASK, baseline=tmp_path / "gap", settings=Settings())


def test_a_baseline_without_the_first_item_is_refused(make_context, tmp_path):
    _partial_baseline(make_context, tmp_path / "late", SAMPLE[1:])
    with pytest.raises(BaselineError, match=r"1 item\(s\) of sample have no baseline trace"):
        prepare(TASK, baseline=tmp_path / "late", settings=Settings())
