"""The per-sample record, and what each judge is allowed to see of the model's output."""

from __future__ import annotations

import json

import pytest

from clinhallu_tasks.clinhallu.items import ClinHalluItem, GoldTrace
from clinhallu_tasks.clinhallu.scoring import answer_judge_input, score_response, step_judge_input

ITEM = ClinHalluItem(
    source="sample",
    item_id="x1",
    question="Which option fits?",
    question_type="multiple_choice",
    answer="C. Lung cancer",
    answer_letter="C",
    options=("A. Asthma", "B. COPD", "C. Lung cancer"),
    image_paths=("/img/a.png", "/img/b.png"),
    gold=GoldTrace("gold seen words here", "gold known words here", "gold reasoning words here", "C. Lung cancer"),
)

TRACE = (
    "[Visual Recognition]\nMODEL-VR a spiculated nodule\n"
    "[Knowledge Recall]\nMODEL-KR spiculation suggests malignancy\n"
    "[Reasoning]\nMODEL-RE so the nodule is malignant\n[Answer] MODEL-ANSWER C"
)


def _model_text_in(payload: dict) -> set[str]:
    dumped = json.dumps(payload)
    return {marker for marker in ("MODEL-VR", "MODEL-KR", "MODEL-RE", "MODEL-ANSWER") if marker in dumped}


def test_visual_recognition_judge_sees_the_step_and_images_only():
    record = score_response(ITEM, "baseline", TRACE)
    payload = step_judge_input(record, "visual_recognition")
    assert _model_text_in(payload) == {"MODEL-VR"}
    assert payload["image_paths"] == ["/img/a.png", "/img/b.png"]
    assert payload["support"] == {}
    assert payload["reference"] == "gold seen words here"


def test_knowledge_judge_sees_no_later_step_and_no_answer():
    record = score_response(ITEM, "baseline", TRACE)
    payload = step_judge_input(record, "knowledge_recall")
    assert _model_text_in(payload) == {"MODEL-VR", "MODEL-KR"}  # candidate VR is support context
    assert payload["image_paths"] == []
    assert set(payload["support"]) == {
        "reference_visual_recognition",
        "reference_knowledge_recall",
        "candidate_visual_recognition",
        "candidate_knowledge_recall",
    }


def test_reasoning_judge_never_sees_the_answer_line():
    record = score_response(ITEM, "baseline", TRACE)
    payload = step_judge_input(record, "reasoning")
    assert "MODEL-ANSWER" not in json.dumps(payload)
    assert payload["candidate"] == "MODEL-RE so the nodule is malignant"


def test_answer_judge_sees_the_extracted_answer_not_the_trace():
    record = score_response(ITEM, "baseline", TRACE)
    assert _model_text_in(answer_judge_input(record)) == {"MODEL-ANSWER"}


def test_replace_run_record_holds_the_given_gold_step_as_the_models():
    given = {"visual_recognition": ITEM.gold.visual_recognition}
    continuation = "[Knowledge Recall]\nsome known words here\n[Reasoning]\nthree words here\n[Answer] C"
    record = score_response(ITEM, "replace_vr", continuation, given)
    assert record["valid"] is True
    assert record["steps"]["visual_recognition"] == ITEM.gold.visual_recognition
    assert record["rule_correct"] is True


def test_failed_request_is_an_invalid_trace_with_its_own_reason():
    record = score_response(ITEM, "baseline", "[LMMS_EVAL_REQUEST_FAILED after 5 retries] timeout")
    assert (record["valid"], record["invalid_reason"], record["rule_correct"]) == (False, "request_failed", None)


@pytest.mark.parametrize(
    ("question_type", "answer", "expected_f1"),
    [("multiple_choice", "C. Lung cancer", None), ("open_ended", "fat", 1.0)],
)
def test_token_f1_only_for_free_text_answers(question_type, answer, expected_f1):
    item = ClinHalluItem(**{**ITEM.__dict__, "question_type": question_type, "answer": answer})
    trace = TRACE.replace("MODEL-ANSWER C", answer)
    assert score_response(item, "baseline", trace)["token_f1"] == expected_f1
