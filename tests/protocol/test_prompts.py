"""Model prompts per run (PROTOCOL §1.3-1.4): format, answer rules, options, given steps."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinhallu_tasks.clinhallu.items import RUNS, ClinHalluItem, GoldTrace
from clinhallu_tasks.clinhallu.prompts import (
    build_prompt,
    given_steps_for,
    gold_given_steps,
    options_in_question,
)
from clinhallu_tasks.clinhallu.trace import join_trace, parse_trace, render_steps

GOLD = GoldTrace(
    visual_recognition="Axial CT with a spiculated mass in the right upper lobe.",
    knowledge_recall="Spiculated lung masses in smokers are most often primary lung cancer.",
    reasoning="A spiculated mass fits a primary lung cancer.",
    answer="C. Lung cancer",
)
OPTIONS = ("A. Pneumonia", "B. Pulmonary edema", "C. Lung cancer", "D. Normal chest")
MC = ClinHalluItem(
    source="medframeqa",
    item_id="m1",
    question="Which diagnosis best explains the findings?",
    question_type="multiple_choice",
    answer="C. Lung cancer",
    gold=GOLD,
    image_paths=("f1.png", "f2.png", "f3.png"),
    options=OPTIONS,
    answer_letter="C",
)
YES_NO = ClinHalluItem("vqa_rad", "v1", "Is there a mass?", "yes_no", "yes", GOLD, ("a.png",))
OPEN = ClinHalluItem("pathvqa", "p1", "What tissue is shown?", "open_ended", "fat", GOLD, ("a.png",))
HEADERS = ["[Visual Recognition]", "[Knowledge Recall]", "[Reasoning]", "[Answer]"]


def header_lines(prompt: str) -> list[str]:
    """Headers that start a line, in order."""
    return re.findall(r"^(\[(?:Visual Recognition|Knowledge Recall|Reasoning|Answer)\])", prompt, re.M)


# --- the format and its rules -----------------------------------------------------------


@pytest.mark.parametrize("item", [MC, YES_NO, OPEN], ids=["mc", "yes_no", "open"])
def test_baseline_states_each_header_once_in_order(item):
    assert header_lines(build_prompt(item, "baseline")) == HEADERS


def test_step_rules_keep_steps_independent():
    prompt = build_prompt(YES_NO, "baseline").lower()
    vr = prompt[prompt.index("[visual recognition]") : prompt.index("[knowledge recall]")]
    kr = prompt[prompt.index("[knowledge recall]") : prompt.index("[reasoning]")]
    rs = prompt[prompt.index("[reasoning]") : prompt.index("[answer]")]
    assert "only what can be seen" in vr and "do not mention the question" in vr and "diagnosis" in vr
    assert "medical knowledge" in kr and "do not refer to the image" in kr
    assert "answer line" in rs


def test_question_is_in_the_prompt_without_image_tokens():
    item = dataclasses.replace(YES_NO, question="<image>\nIs there a mass?")
    prompt = build_prompt(item, "baseline")
    assert "Is there a mass?" in prompt
    assert "<image>" not in prompt


def test_several_images_are_said_to_come_in_order():
    prompt = build_prompt(MC, "baseline")
    assert "3 medical images" in prompt and "in order" in prompt


def test_single_image_says_nothing_of_order():
    prompt = build_prompt(YES_NO, "baseline")
    assert "a medical image" in prompt and "in order" not in prompt


def test_pre_and_post_prompt_wrap_the_text_verbatim():
    prompt = build_prompt(OPEN, "baseline", pre_prompt="PRE|", post_prompt="|POST")
    assert prompt.startswith("PRE|You are shown") and prompt.endswith("|POST")


# --- answer format by question type -------------------------------------------------------


def test_multiple_choice_lists_options_one_per_line():
    prompt = build_prompt(MC, "baseline")
    assert "\n".join(OPTIONS) in prompt


def test_multiple_choice_asks_for_letter_and_text():
    prompt = build_prompt(MC, "baseline")
    assert "letter followed by its text" in prompt
    assert "do not write any option letter" not in prompt


def test_options_already_in_the_question_are_not_listed_again():
    question = (
        "Which diagnosis fits? Answer Choices: (A) Pneumonia (B) Pulmonary   edema (C) lung cancer (D) Normal chest"
    )
    item = dataclasses.replace(MC, question=question)
    prompt = build_prompt(item, "baseline")
    assert prompt.count("Pneumonia") == 1
    assert "A. Pneumonia" not in prompt
    assert "given in the question" in prompt


def test_options_partly_in_the_question_are_listed():
    item = dataclasses.replace(MC, question="Pneumonia or something else?")
    assert "\n".join(OPTIONS) in build_prompt(item, "baseline")


def test_yes_no_asks_for_exactly_yes_or_no_and_no_letters():
    prompt = build_prompt(YES_NO, "baseline")
    assert "exactly one word, yes or no" in prompt
    assert "do not write any option letter" in prompt
    assert "Options:" not in prompt


def test_open_asks_for_a_short_answer_and_no_letters():
    prompt = build_prompt(OPEN, "baseline")
    assert "short answer" in prompt
    assert "do not write any option letter" in prompt


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Q? (A) Pneumonia (B) Pulmonary edema (C) Lung cancer (D) Normal chest", True),
        ("Q? (A) PNEUMONIA (B) pulmonary\nedema (C) Lung cancer (D) Normal   chest", True),
        ("Q? (A) Pneumonia (B) Pulmonary edema (C) Lung cancer", False),
        ("Q?", False),
    ],
)
def test_options_in_question(question, expected):
    assert options_in_question(question, OPTIONS) is expected


def test_no_options_are_not_in_the_question():
    assert options_in_question("anything", ()) is False


# --- replace runs: given steps ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("run", "steps"),
    [
        ("baseline", ()),
        ("replace_vr", ("visual_recognition",)),
        ("replace_kr", ("visual_recognition", "knowledge_recall")),
        ("replace_vr_kr", ("visual_recognition", "knowledge_recall")),
    ],
)
def test_given_steps_for_each_run(run, steps):
    assert given_steps_for(run) == steps


def test_gold_given_steps_replace_vr_is_the_gold_visual_recognition():
    assert gold_given_steps(MC, "replace_vr") == {"visual_recognition": GOLD.visual_recognition}


def test_gold_given_steps_replace_vr_kr_is_both_gold_steps():
    assert gold_given_steps(MC, "replace_vr_kr") == {
        "visual_recognition": GOLD.visual_recognition,
        "knowledge_recall": GOLD.knowledge_recall,
    }


def test_gold_given_steps_replace_kr_uses_the_models_own_visual_recognition():
    steps = gold_given_steps(MC, "replace_kr", baseline_visual_recognition="My own description here.")
    assert steps == {
        "visual_recognition": "My own description here.",
        "knowledge_recall": GOLD.knowledge_recall,
    }


def test_gold_given_steps_replace_kr_without_baseline_leaves_it_out():
    assert gold_given_steps(MC, "replace_kr") == {"knowledge_recall": GOLD.knowledge_recall}


def test_gold_given_steps_baseline_is_empty():
    assert gold_given_steps(MC, "baseline") == {}


@pytest.mark.parametrize("run", ["replace_vr", "replace_kr", "replace_vr_kr"])
def test_replace_prompt_shows_the_given_steps_rendered(run):
    given = gold_given_steps(MC, run, baseline_visual_recognition="My own description here.")
    prompt = build_prompt(MC, run, given)
    assert render_steps(given) in prompt
    assert "Do not repeat or rewrite" in prompt


def test_replace_vr_asks_for_the_remaining_steps():
    prompt = build_prompt(MC, "replace_vr", gold_given_steps(MC, "replace_vr"))
    tail = prompt[prompt.index("Continue from here") :]
    assert "[Knowledge Recall] and [Reasoning]" in tail and "[Answer]" in tail
    assert "[Visual Recognition]" not in tail


def test_replace_vr_kr_asks_for_reasoning_only():
    prompt = build_prompt(MC, "replace_vr_kr", gold_given_steps(MC, "replace_vr_kr"))
    tail = prompt[prompt.index("Continue from here") :]
    assert "remaining step, [Reasoning]," in tail
    assert "[Knowledge Recall]" not in tail


def test_baseline_has_no_given_steps_section():
    assert "Continue from here" not in build_prompt(MC, "baseline")


@pytest.mark.parametrize(
    ("run", "given", "missing"),
    [
        ("replace_vr", None, "visual_recognition"),
        ("replace_vr", {}, "visual_recognition"),
        ("replace_vr", {"visual_recognition": "  "}, "visual_recognition"),
        ("replace_kr", {"knowledge_recall": GOLD.knowledge_recall}, "visual_recognition"),
        ("replace_vr_kr", {"visual_recognition": GOLD.visual_recognition}, "knowledge_recall"),
    ],
)
def test_replace_run_without_its_given_step_is_an_error(run, given, missing):
    with pytest.raises(ValueError, match=missing):
        build_prompt(MC, run, given)


def test_a_step_the_run_does_not_give_is_an_error():
    with pytest.raises(ValueError, match="reasoning"):
        build_prompt(MC, "replace_vr", {"visual_recognition": "x y z", "reasoning": "a b c"})


def test_baseline_with_given_steps_is_an_error():
    with pytest.raises(ValueError, match="visual_recognition"):
        build_prompt(MC, "baseline", {"visual_recognition": "x y z"})


def test_unknown_run_is_an_error():
    with pytest.raises(ValueError, match="replace_all"):
        build_prompt(MC, "replace_all")  # type: ignore[arg-type]


def test_continuation_in_the_asked_format_joins_into_a_valid_trace():
    given = gold_given_steps(MC, "replace_vr")
    continuation = (
        "[Knowledge Recall]\nSpiculated masses suggest malignancy.\n\n"
        "[Reasoning]\nThe described mass is spiculated, so malignancy.\n[Answer] C. Lung cancer"
    )
    trace = parse_trace(join_trace(given, continuation))
    assert trace.valid and trace.visual_recognition == GOLD.visual_recognition


# --- properties ----------------------------------------------------------------------------


@given(
    st.text(),
    st.sampled_from(["yes_no", "open_ended", "multiple_choice"]),
    st.lists(st.text(max_size=20), max_size=5),
    st.sampled_from(RUNS),
)
def test_prompt_always_holds_the_format_and_the_question(question, qtype, raw_options, run):
    item = ClinHalluItem(
        "sample",
        "x",
        question,
        qtype,
        "yes",
        GOLD,
        ("a.png",),
        tuple(f"{'ABCDE'[i]}. {t}" for i, t in enumerate(raw_options)),
    )
    prompt = build_prompt(item, run, gold_given_steps(item, run, baseline_visual_recognition="own words here"))
    assert all(h in prompt for h in HEADERS)
    assert question.replace("<image>", "").strip() in prompt or "<image>" in question


# --- wording from template files (CLINHALLU_PROMPT_TEMPLATES) ------------------------------


from clinhallu_tasks.clinhallu.prompts import (  # noqa: E402  (added with the template files)
    GENERATION_TEMPLATE_NAMES,
    TEMPLATE_DIR,
    PromptTemplateError,
    build_messages,
    build_prompt_parts,
    load_prompt_templates,
)


def test_our_wording_has_no_system_text():
    assert build_prompt_parts(MC, "baseline").system == ""


@pytest.mark.parametrize("run", RUNS)
def test_user_text_is_the_single_text_prompt(run):
    given = gold_given_steps(MC, run, baseline_visual_recognition="My own description here.")
    assert build_prompt_parts(MC, run, given).user == build_prompt(MC, run, given)


def test_messages_put_the_text_before_the_images_in_order():
    messages = build_messages(MC, "baseline")
    assert [m["role"] for m in messages] == ["user"]
    parts = messages[0]["content"]
    assert parts[0] == {"type": "text", "text": build_prompt(MC, "baseline")}
    assert [p["path"].rsplit("/", 1)[-1] for p in parts[1:]] == ["f1.png", "f2.png", "f3.png"]


def test_messages_without_images_are_plain_text():
    item = dataclasses.replace(YES_NO, image_paths=())
    assert build_messages(item, "baseline") == [{"role": "user", "content": build_prompt(item, "baseline")}]


def test_every_template_file_is_packaged():
    assert all((TEMPLATE_DIR / name).is_file() for name in GENERATION_TEMPLATE_NAMES)


def test_an_override_file_replaces_only_its_part(tmp_path):
    (tmp_path / "generation_part_answer_yes_no.txt").write_text("Say yes or no.\n", encoding="utf-8")
    templates = load_prompt_templates(tmp_path)
    prompt = build_prompt(YES_NO, "baseline", templates=templates)
    assert prompt == build_prompt(YES_NO, "baseline").replace(
        "Answer with exactly one word, yes or no, in lower case. "
        "There are no answer options, so do not write any option letter.",
        "Say yes or no.",
    )


def test_the_environment_variable_names_the_override_folder(tmp_path):
    from clinhallu_tasks.settings import Settings

    (tmp_path / "generation_user_image.txt").write_text("Q={question}\n", encoding="utf-8")
    folder = Settings.from_env({"CLINHALLU_PROMPT_TEMPLATES": str(tmp_path)}).prompt_templates_dir
    assert build_prompt(YES_NO, "baseline", templates=load_prompt_templates(folder)) == "Q=Is there a mass?"


def test_a_template_keeps_all_but_one_final_newline(tmp_path):
    (tmp_path / "generation_user_image.txt").write_text("Q={question}\n\n", encoding="utf-8")
    assert build_prompt(YES_NO, "baseline", templates=load_prompt_templates(tmp_path)) == "Q=Is there a mass?\n"


def test_a_system_template_comes_first_in_the_single_text_and_apart_in_messages(tmp_path):
    (tmp_path / "generation_system.txt").write_text("You are careful.\n", encoding="utf-8")
    templates = load_prompt_templates(tmp_path)
    user = build_prompt(YES_NO, "baseline")
    assert build_prompt(YES_NO, "baseline", templates=templates) == "You are careful.\n\n" + user
    messages = build_messages(YES_NO, "baseline", templates=templates)
    assert messages[0] == {"role": "system", "content": "You are careful."}
    assert messages[1]["content"][0] == {"type": "text", "text": user}


def test_a_continuation_template_gets_each_given_step(tmp_path):
    (tmp_path / "generation_continue_vr_kr.txt").write_text(
        "{question_with_options}|{visual_recognition}|{knowledge_recall}\n", encoding="utf-8"
    )
    given = gold_given_steps(MC, "replace_vr_kr")
    prompt = build_prompt(MC, "replace_vr_kr", given, templates=load_prompt_templates(tmp_path))
    assert prompt == (
        f"{MC.question}\n\nOptions:\n" + "\n".join(OPTIONS) + f"|{GOLD.visual_recognition}|{GOLD.knowledge_recall}"
    )


def test_an_unknown_placeholder_names_the_file(tmp_path):
    (tmp_path / "generation_user_image.txt").write_text("{question} {answer}\n", encoding="utf-8")
    with pytest.raises(PromptTemplateError, match=r"generation_user_image\.txt: unknown placeholder\(s\) \{answer\}"):
        load_prompt_templates(tmp_path)


def test_a_missing_override_folder_names_the_variable(tmp_path):
    with pytest.raises(PromptTemplateError, match="CLINHALLU_PROMPT_TEMPLATES=.*no such directory"):
        load_prompt_templates(tmp_path / "absent")
