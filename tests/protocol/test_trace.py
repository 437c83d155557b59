"""The trace parser: what a model's output counts as (PROTOCOL §1.3), and joining replace runs."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinhallu_tasks.clinhallu.items import STEPS
from clinhallu_tasks.clinhallu.trace import (
    INVALID_REASONS,
    Trace,
    join_trace,
    parse_trace,
    render_steps,
)

VR = "A rounded opacity in the left lower zone."
KR = "Consolidation is airspace opacity with air bronchograms."
RS = "The opacity has air bronchograms, so it is consolidation."


def trace_text(
    vr: str = VR,
    kr: str = KR,
    rs: str = RS,
    answer: str = "B. Pneumonia",
    headers: tuple[str, str, str, str] = (
        "[Visual Recognition]",
        "[Knowledge Recall]",
        "[Reasoning]",
        "[Answer]",
    ),
) -> str:
    h_vr, h_kr, h_rs, h_an = headers
    return f"{h_vr}\n{vr}\n\n{h_kr}\n{kr}\n\n{h_rs}\n{rs}\n{h_an} {answer}"


# --- the canonical format --------------------------------------------------------------


def test_canonical_trace_is_valid_and_split_into_steps():
    trace = parse_trace(trace_text())
    assert trace == Trace(VR, KR, RS, "B. Pneumonia", True, None)


def test_answer_line_is_not_part_of_reasoning():
    trace = parse_trace(trace_text())
    assert "[Answer]" not in trace.reasoning
    assert "Pneumonia" not in trace.reasoning


# --- layout variants real models emit ----------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(
            ("**[Visual Recognition]**", "**[Knowledge Recall]**", "**[Reasoning]**", "**[Answer]**"),
            id="bold",
        ),
        pytest.param(
            ("## [Visual Recognition]", "## [Knowledge Recall]", "### [Reasoning]", "[Answer]"), id="headings"
        ),
        pytest.param(("[visual  recognition]", "[KNOWLEDGE RECALL]", "[ reasoning ]", "[answer]"), id="case-spacing"),
        pytest.param(("[Visual\u00a0Recognition]", "[Knowledge\tRecall]", "[Reasoning]", "[Answer]"), id="odd-spaces"),
        pytest.param(("[Visual Recognition]:", "[Knowledge Recall]:", "[Reasoning]:", "[Answer]:"), id="colon"),
        pytest.param(
            ("**[Visual Recognition]:**", "**[Knowledge Recall]:**", "**[Reasoning]**:", "**[Answer]:**"),
            id="bold-colon",
        ),
        pytest.param(("1. [Visual Recognition]", "2. [Knowledge Recall]", "3. [Reasoning]", "[Answer]"), id="numbered"),
        pytest.param(
            ("- [Visual Recognition]", "> [Knowledge Recall]", "  [Reasoning]", "[Answer]"),
            id="bullet-quote-indent",
        ),
    ],
)
def test_decorated_headers_are_recognised(headers):
    trace = parse_trace(trace_text(headers=headers))
    assert (trace.valid, trace.visual_recognition, trace.knowledge_recall, trace.reasoning) == (
        True,
        VR,
        KR,
        RS,
    )
    assert trace.answer == "B. Pneumonia"


def test_step_text_may_start_on_the_header_line():
    text = f"[Visual Recognition] {VR}\n[Knowledge Recall] {KR}\n[Reasoning] {RS}\n[Answer] yes"
    assert parse_trace(text) == Trace(VR, KR, RS, "yes", True, None)


def test_windows_line_endings_are_read():
    trace = parse_trace(trace_text().replace("\n", "\r\n"))
    assert (trace.valid, trace.visual_recognition, trace.answer) == (True, VR, "B. Pneumonia")


def test_text_before_the_first_header_is_ignored():
    trace = parse_trace("Sure! Here is my analysis of the case.\n\n" + trace_text())
    assert trace.valid and trace.visual_recognition == VR


def test_trailing_markdown_rule_is_not_part_of_a_step():
    text = trace_text(vr=VR + "\n\n---", kr=KR + "\n***")
    trace = parse_trace(text)
    assert (trace.visual_recognition, trace.knowledge_recall) == (VR, KR)


# --- no guessing ---------------------------------------------------------------------------


def test_unbracketed_step_names_are_not_headers():
    text = f"Visual Recognition: {VR}\n[Knowledge Recall]\n{KR}\n[Reasoning]\n{RS}\n[Answer] yes"
    trace = parse_trace(text)
    assert trace.invalid_reason == "missing_visual_recognition"
    assert trace.visual_recognition == ""


def test_prose_without_headers_is_invalid():
    text = f"{VR} {KR} {RS} So the answer is yes."
    assert parse_trace(text).invalid_reason == "missing_visual_recognition"


def test_step_name_in_the_middle_of_a_line_is_prose():
    rs = "Using the [Knowledge Recall] above, the opacity is consolidation."
    trace = parse_trace(trace_text(rs=rs))
    assert trace.reasoning == rs
    assert trace.knowledge_recall == KR


# --- sections --------------------------------------------------------------------------------


def test_first_occurrence_of_a_header_wins_and_repeats_are_dropped():
    text = trace_text() + "\n\n[Visual Recognition]\nA second, different description here."
    trace = parse_trace(text)
    assert trace.visual_recognition == VR
    assert "second" not in trace.answer


def test_repeated_header_ends_the_section_before_it():
    text = (
        f"[Visual Recognition]\n{VR}\n[Knowledge Recall]\n{KR}\n"
        "[Visual Recognition]\nrestated description of the image\n"
        f"[Reasoning]\n{RS}\n[Answer] yes"
    )
    trace = parse_trace(text)
    assert trace.knowledge_recall == KR
    assert trace.visual_recognition == VR


def test_answer_inline_at_the_end_of_reasoning():
    text = trace_text(rs=RS + " [Answer] B. Pneumonia", answer="")
    text = text[: text.rindex("[Answer]")].rstrip()  # drop the standalone answer line
    trace = parse_trace(text)
    assert (trace.valid, trace.reasoning, trace.answer) == (True, RS, "B. Pneumonia")


def test_answer_inside_a_line_before_reasoning_is_prose():
    preamble = "I will end with [Answer] and the option.\n"
    trace = parse_trace(preamble + trace_text())
    assert (trace.valid, trace.answer) == (True, "B. Pneumonia")


def test_answer_on_a_later_line_after_blank_lines():
    trace = parse_trace(trace_text(answer="\n\n  C. Lung cancer\nBecause of the mass."))
    assert trace.answer == "C. Lung cancer"


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("**C. Lung cancer**", "C. Lung cancer"),
        ('"yes"', "yes"),
        ("`fat`", "fat"),
        ("*no*", "no"),
        ("<C. Lung cancer>", "C. Lung cancer"),
        ("'yes'", "yes"),
        ("<5 mm", "<5 mm"),
        ("C. Lung cancer**", "C. Lung cancer"),
        ("**C**. Lung cancer", "C. Lung cancer"),
    ],
)
def test_answer_decoration_is_stripped(written, read):
    assert parse_trace(trace_text(answer=written)).answer == read


def test_answer_is_only_its_first_line():
    trace = parse_trace(trace_text(answer="yes\nThe effusion is large."))
    assert trace.answer == "yes"


# --- thinking -----------------------------------------------------------------------------


def test_leading_think_block_is_stripped_with_headers_inside_it():
    draft = "<think>\n[Visual Recognition]\ndraft words that are wrong\n</think>\n"
    trace = parse_trace(draft + trace_text())
    assert trace.valid and trace.visual_recognition == VR


def test_orphan_closing_think_drops_the_thinking_before_it():
    draft = "[Visual Recognition]\ndraft words that are wrong\n</think>\n\n"
    trace = parse_trace(draft + trace_text())
    assert trace.valid and trace.visual_recognition == VR


def test_thinking_cut_off_before_any_step_is_unclosed_think():
    trace = parse_trace("<think>\nThe opacity could be consolidation, or")
    assert trace == Trace(invalid_reason="unclosed_think", thinking_block=True)


def test_nothing_after_thinking_is_an_empty_response():
    assert parse_trace("<think>pondering</think>\n  ").invalid_reason == "empty_response"


# --- validity codes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty_response"),
        ("  \n\t ", "empty_response"),
        (f"[Knowledge Recall]\n{KR}\n[Reasoning]\n{RS}\n[Answer] yes", "missing_visual_recognition"),
        (trace_text(vr="two words"), "short_visual_recognition"),
        (f"[Visual Recognition]\n{VR}\n[Reasoning]\n{RS}\n[Answer] yes", "missing_knowledge_recall"),
        (trace_text(kr="Consolidation."), "short_knowledge_recall"),
        (f"[Visual Recognition]\n{VR}\n[Knowledge Recall]\n{KR}\n[Answer] yes", "missing_reasoning"),
        (trace_text(rs=""), "short_reasoning"),
        (f"[Visual Recognition]\n{VR}\n[Knowledge Recall]\n{KR}\n[Reasoning]\n{RS}", "missing_answer"),
        (trace_text(answer="  **  "), "empty_answer"),
    ],
)
def test_each_invalid_reason(text, reason):
    trace = parse_trace(text)
    assert (trace.valid, trace.invalid_reason) == (False, reason)


def test_first_failing_check_is_reported():
    text = f"[Visual Recognition]\ntoo short\n[Reasoning]\n{RS}"
    assert parse_trace(text).invalid_reason == "short_visual_recognition"


def test_three_words_is_enough():
    assert parse_trace(trace_text(vr="one two three")).valid


def test_invalid_trace_keeps_the_steps_it_has():
    trace = parse_trace(f"[Visual Recognition]\n{VR}\n[Reasoning]\n{RS}")
    assert (trace.visual_recognition, trace.knowledge_recall, trace.reasoning) == (VR, "", RS)


def test_every_documented_reason_is_distinct():
    assert len(set(INVALID_REASONS)) == len(INVALID_REASONS)


def test_non_string_input_is_no_output():
    assert parse_trace(None).invalid_reason == "empty_response"  # type: ignore[arg-type]


# --- Trace.step ------------------------------------------------------------------------------


def test_step_accessor_reads_each_step():
    trace = parse_trace(trace_text())
    assert [trace.step(s) for s in STEPS] == [VR, KR, RS]


@pytest.mark.parametrize("name", ["answer", "valid", "Visual Recognition", ""])
def test_step_accessor_rejects_non_steps(name):
    with pytest.raises(ValueError, match="unknown step"):
        parse_trace(trace_text()).step(name)  # type: ignore[arg-type]


# --- render_steps ------------------------------------------------------------------------


def test_render_puts_steps_in_canonical_order():
    text = render_steps({"knowledge_recall": KR, "visual_recognition": VR})
    assert text == f"[Visual Recognition]\n{VR}\n\n[Knowledge Recall]\n{KR}"


def test_render_adds_the_answer_line_last():
    text = render_steps({"answer": "yes", "reasoning": RS})
    assert text == f"[Reasoning]\n{RS}\n\n[Answer] yes"


def test_render_rejects_unknown_keys():
    with pytest.raises(ValueError, match="vr"):
        render_steps({"vr": VR})


# --- join_trace (replace runs) -----------------------------------------------------------


def test_join_reads_given_steps_and_the_continuation():
    joined = join_trace({"visual_recognition": VR}, f"[Knowledge Recall]\n{KR}\n[Reasoning]\n{RS}\n[Answer] yes")
    assert parse_trace(joined) == Trace(VR, KR, RS, "yes", True, None)


def test_join_keeps_the_given_step_over_a_restatement():
    continuation = (
        f"[Visual Recognition]\nA large mass is seen instead.\n[Knowledge Recall]\n{KR}\n"
        f"[Reasoning]\n{RS}\n[Answer] yes"
    )
    joined = join_trace({"visual_recognition": VR}, continuation)
    assert "A large mass" not in joined
    trace = parse_trace(joined)
    assert (trace.visual_recognition, trace.knowledge_recall) == (VR, KR)


def test_join_drops_unheaded_text_before_the_continuations_first_header():
    continuation = f"Additionally, the heart is enlarged.\n[Knowledge Recall]\n{KR}\n[Reasoning]\n{RS}\n[Answer] yes"
    trace = parse_trace(join_trace({"visual_recognition": VR}, continuation))
    assert trace.visual_recognition == VR


def test_join_continuation_without_headers_is_missing_its_steps():
    given = {"visual_recognition": VR, "knowledge_recall": KR}
    trace = parse_trace(join_trace(given, f"{RS} So the answer is yes."))
    assert trace.invalid_reason == "missing_reasoning"


def test_join_drops_the_continuations_thinking():
    continuation = f"<think>\n[Reasoning]\nwrong draft here\n</think>\n[Reasoning]\n{RS}\n[Answer] yes"
    trace = parse_trace(join_trace({"visual_recognition": VR, "knowledge_recall": KR}, continuation))
    assert (trace.valid, trace.reasoning) == (True, RS)


def test_join_stray_closing_think_does_not_wipe_the_given_steps():
    continuation = f"[Reasoning]\n{RS}\n</think>\n[Answer] yes\n</think>"
    trace = parse_trace(join_trace({"visual_recognition": VR, "knowledge_recall": KR}, continuation))
    assert (trace.visual_recognition, trace.knowledge_recall, trace.answer) == (VR, KR, "yes")


def test_join_unclosed_think_in_continuation_is_unclosed_think():
    trace = parse_trace(join_trace({"visual_recognition": VR}, f"<think>\n[Knowledge Recall]\n{KR}"))
    assert trace.invalid_reason == "unclosed_think"


def test_join_rejects_an_answer_as_a_given_step():
    with pytest.raises(ValueError, match="answer"):
        join_trace({"answer": "yes"}, "[Answer] no")


# --- properties ----------------------------------------------------------------------------

HEADER_FRAGMENTS = [
    "[Visual Recognition]",
    "[Knowledge Recall]",
    "[Reasoning]",
    "[Answer]",
    "[visual recognition]:",
    "**[Reasoning]**",
    "## [Answer]:",
    "<think>",
    "</think>",
    "\n",
    "\r\n",
    "**",
    "[",
    "]",
    " ",
    "---",
    "1. ",
    "Step 1: ",
]
trace_soup = st.lists(st.one_of(st.sampled_from(HEADER_FRAGMENTS), st.text(max_size=20)), max_size=40).map("".join)

# Step texts that cannot hold anything the parser reads as structure.
clean_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.,;()", min_size=1, max_size=8)
clean_step = st.lists(clean_words, min_size=3, max_size=12).map(" ".join)


def check_invariants(trace: Trace) -> None:
    assert isinstance(trace, Trace)
    assert trace.valid == (trace.invalid_reason is None)
    if trace.valid:
        for s in STEPS:
            assert len(trace.step(s).split()) >= 3
        assert trace.answer.strip() != ""
    else:
        assert trace.invalid_reason in INVALID_REASONS
    assert "\n" not in trace.answer


@given(st.text())
def test_parse_never_raises_on_arbitrary_text(text):
    check_invariants(parse_trace(text))


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(trace_soup)
def test_parse_never_raises_on_header_soup(text):
    check_invariants(parse_trace(text))


@given(clean_step, clean_step, clean_step, clean_words)
def test_rendered_steps_parse_back(vr, kr, rs, answer):
    text = render_steps({"visual_recognition": vr, "knowledge_recall": kr, "reasoning": rs, "answer": answer})
    assert parse_trace(text) == Trace(vr, kr, rs, answer, True, None)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(clean_step, clean_step, st.one_of(trace_soup, st.text()))
def test_given_steps_stand_whatever_the_continuation(vr, kr, continuation):
    given_steps = {"visual_recognition": vr, "knowledge_recall": kr}
    trace = parse_trace(join_trace(given_steps, continuation))
    check_invariants(trace)
    assert (trace.visual_recognition, trace.knowledge_recall) == (vr, kr)
    if continuation.lstrip().startswith("<think>") and "</think>" not in continuation:
        assert trace.invalid_reason in (None, "unclosed_think")
