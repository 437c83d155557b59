"""Rule-based answer matching (lenient in form, strict in content) and token F1."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinhallu_tasks.metrics.answer_match import (
    extract_option_letter,
    match_answer,
    normalize_answer,
    split_option,
    token_f1,
)

OPTIONS = ("A. Pneumonia", "B. Pulmonary edema", "C. Lung cancer", "D. Normal chest")


def mc(answer: str, *, options=OPTIONS, ground_truth="C. Lung cancer", answer_letter="C") -> bool:
    return match_answer(
        answer,
        question_type="multiple_choice",
        ground_truth=ground_truth,
        options=options,
        answer_letter=answer_letter,
    )


# --- normalisation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("  Fat. ", "fat"),
        ("YES!", "yes"),
        ("left   lower\n lobe", "left lower lobe"),
        ("**Pneumonia**", "pneumonia"),
        ('"fat"', "fat"),
        ("\u201cfat\u201d.", "fat"),
        ("`T2`", "t2"),
        ("3.5 cm", "3.5 cm"),
        ("", ""),
    ],
)
def test_normalize_answer(raw, norm):
    assert normalize_answer(raw) == norm


def test_normalize_keeps_inner_punctuation():
    assert normalize_answer("T. gondii, acute.") == "t. gondii, acute"


@pytest.mark.parametrize(
    ("option", "parts"),
    [
        ("C. Lung cancer", ("C", "Lung cancer")),
        ("(b) Edema", ("B", "Edema")),
        ("D) Normal", ("D", "Normal")),
        ("E: Other", ("E", "Other")),
        ("Lung cancer", (None, "Lung cancer")),
    ],
)
def test_split_option(option, parts):
    assert split_option(option) == parts


# --- naming an option ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        "C",
        "C.",
        "(C)",
        "C)",
        "[C]",
        "c",
        "Option C",
        "option (c):",
        "C. Lung cancer",
        "(C) Lung cancer",
        "C) lung cancer.",
        "C: Lung cancer",
        "C - Lung cancer",
        "**C. Lung cancer**",
        "**C**. Lung cancer",
        "Lung cancer",
        "lung  CANCER.",
        "Answer: C",
        "The correct answer is C. Lung cancer",
        "Lung cancer (C)",
        "C. Lung carcinoma",  # the letter stands when the text paraphrases
    ],
)
def test_forms_that_name_option_c(answer):
    assert extract_option_letter(answer, OPTIONS) == "C"


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param("E", id="letter-not-offered"),
        pytest.param("E. Lung cancer", id="letter-not-offered-with-text"),
        pytest.param("C. Pneumonia", id="letter-contradicts-text"),
        pytest.param("Pneumonia (C)", id="text-contradicts-letter"),
        pytest.param("B or C", id="two-letters"),
        pytest.param("Lung", id="partial-text"),
        pytest.param("Cancer of the lung", id="reworded-text"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
    ],
)
def test_forms_that_name_no_option(answer):
    assert extract_option_letter(answer, OPTIONS) is None


def test_no_options_means_no_letter():
    assert extract_option_letter("C", ()) is None


def test_text_shared_by_two_options_names_neither():
    assert extract_option_letter("Edema", ("A. Edema", "B. Edema", "C. Mass")) is None


def test_bare_letter_is_a_letter_even_if_an_option_text_is_that_letter():
    options = ("A. C", "B. D", "C. E")  # e.g. vitamins
    assert extract_option_letter("C", options) == "C"


def test_option_text_that_looks_like_a_letter_form_is_read_as_text():
    options = ("A. Candida", "B. T. gondii infection", "C. CMV")
    assert extract_option_letter("T. gondii infection", options) == "B"


# --- match_answer: multiple choice -------------------------------------------------------


def test_option_text_that_starts_with_option_is_not_an_option_word():
    # Found by hypothesis: "optionb" is the text of option A, not "Option B".
    assert extract_option_letter("OPTIONB", ("A. optionb", "B. aa")) == "A"
    assert extract_option_letter("Option B", ("A. optionb", "B. aa")) == "B"
    assert extract_option_letter("option(b)", ("A. optionb", "B. aa")) == "B"


def test_mc_right_letter_matches():
    assert mc("C")


def test_mc_wrong_letter_does_not_match():
    assert not mc("B. Pulmonary edema")


def test_mc_gold_letter_read_from_answer_when_no_answer_letter():
    assert mc("Lung cancer", answer_letter=None)


def test_mc_gold_letter_read_from_option_text_when_answer_has_no_letter():
    assert mc("C", ground_truth="Lung cancer", answer_letter=None)


def test_mc_options_only_in_question_text():
    # MedXpertQA: the options are in the question; no option list comes with the item.
    assert mc("C", options=())
    assert mc("Lung cancer", options=())
    assert not mc("B", options=())


def test_items_with_options_use_option_matching_whatever_their_type():
    assert match_answer("A", question_type="yes_no", ground_truth="A. yes", options=("A. yes", "B. no"))


# --- match_answer: yes/no -----------------------------------------------------------------


@pytest.mark.parametrize("answer", ["yes", "Yes.", "YES", "Yes, there is an effusion.", "**yes**", "Answer: yes"])
def test_yes_no_leading_yes_matches_yes(answer):
    assert match_answer(answer, question_type="yes_no", ground_truth="yes")


@pytest.mark.parametrize("answer", ["no", "No.", "Not sure", "yesterday", "It is yes", "", "maybe"])
def test_yes_no_other_answers_do_not_match_yes(answer):
    assert not match_answer(answer, question_type="yes_no", ground_truth="yes")


def test_yes_no_no_matches_no():
    assert match_answer("No, the lungs are clear.", question_type="yes_no", ground_truth="No")


def test_yes_no_gold_that_is_not_yes_or_no_falls_back_to_exact_match():
    assert match_answer("Fat.", question_type="yes_no", ground_truth="fat")


# --- match_answer: open ---------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["fat", "Fat.", "  FAT ", "**fat**", '"fat"', "The answer is fat"])
def test_open_same_content_matches(answer):
    assert match_answer(answer, question_type="open_ended", ground_truth="fat")


@pytest.mark.parametrize("answer", ["fatty tissue", "no fat", "", "A"])
def test_open_other_content_does_not_match(answer):
    assert not match_answer(answer, question_type="open_ended", ground_truth="fat")


def test_open_empty_ground_truth_matches_nothing():
    # "**" normalizes to "" like the empty gold; an empty key still names no answer.
    assert not match_answer("**", question_type="open_ended", ground_truth="")


def test_unknown_question_type_is_an_error():
    with pytest.raises(ValueError, match="question_type"):
        match_answer("yes", question_type="boolean", ground_truth="yes")


# --- token F1 -------------------------------------------------------------------------------


def test_token_f1_identical_is_one():
    assert token_f1("Left lower lobe", "left lower lobe.") == 1.0


def test_token_f1_disjoint_is_zero():
    assert token_f1("mass", "effusion") == 0.0


def test_token_f1_partial_overlap():
    # pred {left, lung}, gold {left, lung, apex}: P = 1, R = 2/3, F1 = 0.8
    assert token_f1("left lung", "left lung apex") == pytest.approx(0.8)


def test_token_f1_ignores_articles_and_punctuation():
    assert token_f1("The x-ray, a film", "xray film") == 1.0


def test_token_f1_counts_repeated_tokens_once_each():
    # pred has "mass" twice, gold once: common = 1, P = 1/2, R = 1, F1 = 2/3
    assert token_f1("mass mass", "mass") == pytest.approx(2 / 3)


def test_token_f1_empty_sides():
    assert token_f1("", "") == 1.0
    assert token_f1("the", "mass") == 0.0


# --- properties ------------------------------------------------------------------------------

option_text = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=2, max_size=20).filter(
    lambda t: len(t.strip()) >= 2
)


@given(st.lists(option_text, min_size=2, max_size=6, unique_by=normalize_answer), st.data())
def test_every_form_of_an_option_names_it(texts, data):
    letters = "ABCDEF"[: len(texts)]
    options = tuple(f"{letter}. {text}" for letter, text in zip(letters, texts, strict=True))
    i = data.draw(st.integers(0, len(texts) - 1))
    letter = letters[i]
    for form in (letter, f"({letter})", f"{letter}. {texts[i]}", texts[i].upper(), f"Option {letter}"):
        assert extract_option_letter(form, options) == letter, form


@given(st.text(), st.lists(st.text(max_size=15), max_size=5))
def test_extracted_letter_is_one_offered(answer, raw_options):
    options = tuple(f"{'ABCDE'[i]}. {t}" for i, t in enumerate(raw_options))
    letter = extract_option_letter(answer, options)
    assert letter is None or letter in "ABCDE"[: len(options)]


@given(st.text(), st.text(), st.sampled_from(["yes_no", "open_ended", "multiple_choice"]), st.lists(st.text()))
def test_match_answer_never_raises(answer, gold, qtype, options):
    assert isinstance(match_answer(answer, question_type=qtype, ground_truth=gold, options=options), bool)


@given(st.text(), st.text())
def test_token_f1_is_a_symmetric_score_in_unit_range(a, b):
    score = token_f1(a, b)
    assert 0.0 <= score <= 1.0
    assert score == pytest.approx(token_f1(b, a))


@given(st.text())
def test_normalize_is_idempotent(text):
    once = normalize_answer(text)
    assert normalize_answer(once) == once
