"""With imported templates, our builders send what the official pipeline sends, for every item shape.

The expected messages come from reference builders written here after the official ones
(alibaba-damo-academy/ClinHallu: src/common.py lays out every request: the system prompt in a
system message, then a user message with the text first and the images after it in order, a
plain string without images).
- Generation (src/model_evaluation/01_generate_cot.py): the image or text-only user prompt
  filled with the question as released and the options listing (`Options:`, one option per
  line, a blank line), whether or not the question already holds the options; the replace
  runs' continuation prompt filled with the question followed by a blank line and that
  listing, and the given steps as given (replace_kr's own Visual Recognition empty when the
  baseline trace had none).
- Judges (answer_judge.py, step_hallucination_judge.py): the user prompts filled with the
  values as given; the step judges' support context from the checkout's own
  `_build_support_context`, the Visual Recognition judge's images after its text.
- MedHallTune (russellyq/MedHallTune agent.py): the checkout's own `wrap_eval_message`.
Both sides use the made-up constants of the fake checkout.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from clinhallu_tasks.clinhallu import judges
from clinhallu_tasks.clinhallu.items import ClinHalluItem, GoldTrace
from clinhallu_tasks.clinhallu.prompts import (
    build_messages,
    build_prompt_parts,
    gold_given_steps,
    load_prompt_templates,
)
from clinhallu_tasks.medhalltune import judge as medhalltune_judge
from clinhallu_tasks.medhalltune.records import MedHallTuneItem, Reference
from clinhallu_tasks.official import import_prompts
from tests.official.fake_checkouts import constants, write_clinhallu_checkout, write_medhalltune_checkout

GOLD = GoldTrace(
    visual_recognition="Axial CT, a spiculated mass in the right upper lobe.\n",
    knowledge_recall="Spiculated masses in smokers are most often primary lung cancer.",
    reasoning="The mass is spiculated, so cancer.",
    answer="C. Lung cancer",
)
OWN_VR = "My own view: a round opacity {not a placeholder}."
OPTIONS = ("A. Pneumonia", "B. Pulmonary edema ", "C. Lung cancer")
MC = ClinHalluItem(
    "medframeqa", "m1", "Which diagnosis fits?", "multiple_choice", "C. Lung cancer", GOLD,
    ("f1.png", "f2.png", "f3.png"), OPTIONS, "C",
)
SHAPES = {
    "yes_no": ClinHalluItem("vqa_rad", "v1", "Is there a mass?", "yes_no", "yes", GOLD, ("a.png",)),
    "open": ClinHalluItem("pathvqa", "p1", "What tissue is shown?", "open_ended", "fat", GOLD, ("a.png",)),
    "mc_multi_image": MC,
    "mc_options_in_question": dataclasses.replace(
        MC, question="Which fits? (A) Pneumonia (B) Pulmonary edema (C) Lung cancer", image_paths=("x.png",)
    ),
    "text_only_yes_no": ClinHalluItem("vqa_rad", "v2", "Is there a mass?", "yes_no", "yes", GOLD, ()),
    "text_only_mc": dataclasses.replace(MC, image_paths=()),
    "image_token_in_question": ClinHalluItem(
        "vqa_rad", "v3", "<image>\nIs the {heart} enlarged? ", "yes_no", "no", GOLD, ("a.png",)
    ),
}
RUNS = ("baseline", "replace_vr", "replace_kr", "replace_vr_kr")


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("official")
    checkout = write_clinhallu_checkout(root / "ClinHallu")
    out = root / "templates"
    import_prompts(checkout, out)
    return checkout, out


def reference_messages(
    c: dict[str, Any], item: ClinHalluItem, run: str, own_vr: str = OWN_VR
) -> list[dict[str, Any]]:
    """The official builder's messages, with image_file parts standing for its base64 images."""
    listing = "Options:\n" + "\n".join(item.options) if item.options else ""
    if run == "baseline":
        template = c["COT_USER_PROMPT_WITH_IMAGE"] if item.image_paths else c["COT_USER_PROMPT_TEXT_ONLY"]
        text = template.format(question=item.question, options_text=listing + "\n\n" if listing else "")
    else:
        question = f"{item.question}\n\n{listing}" if listing else item.question
        template = {
            "replace_vr": c["CONTINUE_FROM_VR_PROMPT"],
            "replace_kr": c["CONTINUE_FROM_KR_PROMPT"],
            "replace_vr_kr": c["CONTINUE_FROM_VR_KR_PROMPT"],
        }[run]
        visual = own_vr if run == "replace_kr" else item.gold.visual_recognition
        text = template.format(
            question=question, visual_recognition=visual, knowledge_recall=item.gold.knowledge_recall
        )
    return official_layout(c["COT_SYSTEM_PROMPT"], text, item.image_paths)


def official_layout(system: str, text: str, image_paths: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    """src/common.py's request: the system message, then the text and the images (image_file parts
    standing for its base64 ones) or the text alone."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    if image_paths:
        parts = [{"type": "text", "text": text}]
        parts += [{"type": "image_file", "path": os.path.abspath(p)} for p in image_paths]
        messages.append({"role": "user", "content": parts})
    else:
        messages.append({"role": "user", "content": text})
    return messages


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("shape", SHAPES)
def test_generation_messages_equal_the_official_builders(imported, shape, run):
    checkout, out = imported
    item = SHAPES[shape]
    given = gold_given_steps(item, run, baseline_visual_recognition=OWN_VR)
    ours = build_messages(item, run, given, templates=load_prompt_templates(out))
    assert ours == reference_messages(constants(checkout, "prompts/cot_generation.py"), item, run)


@pytest.mark.parametrize("shape", ["mc_multi_image", "text_only_yes_no"])
def test_replace_kr_after_a_baseline_without_visual_recognition_equals_the_official(imported, shape):
    # The official pipeline continues from the baseline's parsed step, empty when it had none.
    checkout, out = imported
    item = SHAPES[shape]
    given = gold_given_steps(item, "replace_kr", baseline_visual_recognition="")
    ours = build_messages(item, "replace_kr", given, templates=load_prompt_templates(out))
    assert ours == reference_messages(constants(checkout, "prompts/cot_generation.py"), item, "replace_kr", own_vr="")


def test_replace_kr_after_a_baseline_without_visual_recognition_is_built_in_our_wording():
    given = gold_given_steps(MC, "replace_kr", baseline_visual_recognition="")
    user = build_prompt_parts(MC, "replace_kr", given, templates=load_prompt_templates()).user
    assert f"[Visual Recognition]\n\n\n[Knowledge Recall]\n{GOLD.knowledge_recall}" in user


def test_the_environment_variable_selects_the_imported_wording(imported):
    from clinhallu_tasks.settings import Settings

    checkout, out = imported
    folder = Settings.from_env({"CLINHALLU_PROMPT_TEMPLATES": str(out)}).prompt_templates_dir
    prompt = build_prompt_parts(SHAPES["yes_no"], "baseline", templates=load_prompt_templates(folder))
    assert prompt.system == constants(checkout, "prompts/cot_generation.py")["COT_SYSTEM_PROMPT"]


# --- ClinHallu judges -----------------------------------------------------------------------------

# Values as the official pipeline passes them: the question and ground truth as released, the
# gold steps as stored (a trailing newline included), the model's steps as parsed.
QUESTION = "<image>\nIs the {heart} enlarged? "
GROUND_TRUTH = "no\n"
STEP_TEXTS = {
    "visual_recognition": ("Axial CT, a spiculated mass.\n", "A round {opacity} in the right lung."),
    "knowledge_recall": ("Spiculated masses are often malignant.\n", "Round opacities are always benign."),
    "reasoning": ("Spiculated, so malignant.", "It is round, so benign."),
}
STEP_CONSTANTS = {
    "visual_recognition": "VR_HALLUCINATION_JUDGE_USER_PROMPT_TEMPLATE",
    "knowledge_recall": "KR_HALLUCINATION_JUDGE_USER_PROMPT_TEMPLATE",
    "reasoning": "REASONING_HALLUCINATION_JUDGE_USER_PROMPT_TEMPLATE",
}
# Our support keys -> (the official sample and CoT field it reads them from).
SUPPORT_SOURCES = {
    "reference_visual_recognition": ("gold_cot", "visual_recognition"),
    "reference_knowledge_recall": ("gold_cot", "knowledge_recall"),
    "candidate_visual_recognition": ("cot", "visual_recognition"),
    "candidate_knowledge_recall": ("cot", "knowledge_recall"),
}
SUPPORTS = {
    "full": {
        "reference_visual_recognition": "Axial CT, a spiculated mass.\n",
        "reference_knowledge_recall": "Spiculated masses are often malignant.\n",
        "candidate_visual_recognition": "A round opacity.",
        "candidate_knowledge_recall": "Round opacities are benign.",
    },
    "partial": {
        "reference_visual_recognition": "Axial CT, a spiculated mass.\n",
        "reference_knowledge_recall": "",
        "candidate_visual_recognition": "A round opacity.",
        "candidate_knowledge_recall": "",
    },
    "empty": {key: "" for key in SUPPORT_SOURCES},
}


def official_step_request(
    checkout: Path, step: str, support: dict[str, str], image_paths: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """step_hallucination_judge.py's request, its support context from the checkout's own builder."""
    prompts = constants(checkout, "prompts/step_hallucination_judge.py")
    build_support = constants(checkout, "src/model_evaluation/step_hallucination_judge.py")["_build_support_context"]
    samples: dict[str, dict[str, dict[str, str]]] = {"gold_cot": {}, "cot": {}}
    for key, (sample, field) in SUPPORT_SOURCES.items():
        samples[sample][field] = {"text": support.get(key, "")}
    reference, candidate = STEP_TEXTS[step]
    text = prompts[STEP_CONSTANTS[step]].format(
        question=QUESTION, ground_truth=GROUND_TRUTH, reference_text=reference or "(empty)",
        candidate_text=candidate,
        support_context=build_support({"gold_cot": samples["gold_cot"]}, {"cot": samples["cot"]}),
    )
    return official_layout(prompts["STEP_HALLUCINATION_JUDGE_SYSTEM_PROMPT"], text, image_paths)


def test_answer_judge_request_equals_the_official(imported):
    checkout, out = imported
    c = constants(checkout, "prompts/judge.py")
    answer = " No, it is {normal}."
    request = judges.answer_request(QUESTION, GROUND_TRUTH, answer, templates=judges.load_templates(out))
    text = c["ANSWER_JUDGE_USER_PROMPT_TEMPLATE"].format(
        question=QUESTION, ground_truth=GROUND_TRUTH, predicted_answer=answer
    )
    assert request.messages == official_layout(c["ANSWER_JUDGE_SYSTEM_PROMPT"], text, ())


@pytest.mark.parametrize("image_paths", [("a.png",), ("f1.png", "f2.png", "f3.png")])
def test_visual_step_judge_request_equals_the_official(imported, image_paths):
    checkout, out = imported
    reference, candidate = STEP_TEXTS["visual_recognition"]
    request = judges.step_request(
        "visual_recognition", QUESTION, GROUND_TRUTH, reference, candidate,
        image_paths=image_paths, templates=judges.load_templates(out),
    )
    # The official code builds (and its VR prompt ignores) a support context; ours passes none.
    assert request.messages == official_step_request(checkout, "visual_recognition", SUPPORTS["full"], image_paths)


@pytest.mark.parametrize("support", SUPPORTS)
@pytest.mark.parametrize("step", ["knowledge_recall", "reasoning"])
def test_text_step_judge_request_equals_the_official(imported, step, support):
    checkout, out = imported
    reference, candidate = STEP_TEXTS[step]
    request = judges.step_request(
        step, QUESTION, GROUND_TRUTH, reference, candidate,
        support=SUPPORTS[support], templates=judges.load_templates(out),
    )
    assert request.messages == official_step_request(checkout, step, SUPPORTS[support])


def test_empty_support_gets_the_checkouts_sentence_not_ours(imported):
    checkout, out = imported
    request = judges.step_request("reasoning", "Q?", "yes", "ref", "cand", support={},
                                  templates=judges.load_templates(out))
    assert "NO-CTX: nothing else to go on." in request.messages[-1]["content"]
    assert "(none)" not in request.messages[-1]["content"]


# --- MedHallTune judge -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def medhalltune_imported(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("medhalltune")
    checkout = write_medhalltune_checkout(root / "MedHallTune")
    out = root / "templates"
    import_prompts(checkout, out)
    return checkout, out


MEDHALLTUNE_ITEM = MedHallTuneItem(
    split="P", question_id=1, image="i.jpg", question="What does the {x-ray} show? ",
    ground_truth="A consolidation.\n", caption=" Chest x-ray, PA view.",
    reference=Reference(answer="An opacity.\n", verdict="6 7 5 8\n\nFine, but vague."),
)


def official_medhalltune_messages(checkout: Path, item: MedHallTuneItem, answer: str) -> list[dict[str, str]]:
    """agent.py's wrap_eval_message; without a reference row, its messages before the calibration one."""
    reference = item.reference
    record = {
        "fig_caption": item.caption, "question": item.question, "answer": answer, "gpt4_answer": item.ground_truth,
        "reference_answers": reference.answer if reference else "",
        "reference_scores": reference.verdict if reference else "",
    }
    messages = constants(checkout, "agent.py")["wrap_eval_message"](record)
    return messages if reference else messages[:2]


@pytest.mark.parametrize("with_reference", [True, False], ids=["calibration", "no_reference_row"])
def test_medhalltune_judge_messages_equal_the_official(medhalltune_imported, with_reference):
    checkout, out = medhalltune_imported
    item = MEDHALLTUNE_ITEM if with_reference else dataclasses.replace(MEDHALLTUNE_ITEM, reference=None)
    answer = " It shows a {consolidation}.\n"
    ours = medhalltune_judge.build_judge_messages(item, answer, medhalltune_judge.load_templates(out))
    assert ours == official_medhalltune_messages(checkout, item, answer)
