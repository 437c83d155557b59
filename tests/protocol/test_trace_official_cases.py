"""Corner cases where the official parser reads a trace right and ours did not (issue #10).

A differential comparison with the official ClinHallu parser found three: step-numbered
headers, a trace after a thinking block that is never closed, and a trace written out twice
(the official reading keeps the later one). Next to each, the neighbouring cases where our
reading stays different on purpose, so that a fix cannot widen into them.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinhallu_tasks.clinhallu.trace import Trace, join_trace, parse_trace, render_steps

VR = "A rounded opacity in the left lower zone."
KR = "Consolidation is airspace opacity with air bronchograms."
RS = "The opacity has air bronchograms, so it is consolidation."

VR2 = "Two opacities, one in each lower zone."
KR2 = "Bilateral consolidation suggests an infective cause."
RS2 = "Both lower zones are consolidated, so this is pneumonia."


def full_trace(vr: str = VR, kr: str = KR, rs: str = RS, answer: str = "B. Pneumonia") -> str:
    return f"[Visual Recognition]\n{vr}\n\n[Knowledge Recall]\n{kr}\n\n[Reasoning]\n{rs}\n[Answer] {answer}"


# --- step-numbered headers ------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(("Step 1: [Visual Recognition]", "Step 2: [Knowledge Recall]", "Step 3: [Reasoning]"), id="colon"),
        pytest.param(("Step 1 [Visual Recognition]", "Step 2 [Knowledge Recall]", "Step 3 [Reasoning]"), id="bare"),
        pytest.param(("Step 1. [Visual Recognition]", "Step 2) [Knowledge Recall]", "Step 3 - [Reasoning]"), id="mark"),
        pytest.param(
            ("Step 1 \u2013 [Visual Recognition]", "Step 2 \u2014 [Knowledge Recall]", "Step 3 : [Reasoning]"),
            id="dashes-spaced-colon",
        ),
        pytest.param(
            ("**Step 1: [Visual Recognition]**", "### Step 2: [Knowledge Recall]", "- **Step 3:** [Reasoning]"),
            id="markdown",
        ),
        pytest.param(("step 1: [visual recognition]", "STEP 2: [KNOWLEDGE RECALL]", "Step3:[Reasoning]"), id="case"),
        pytest.param(
            ("(Step 1) [Visual Recognition]", "Step 2: **[Knowledge Recall]**", "Step 3: [Reasoning]:"), id="other"
        ),
    ],
)
def test_step_numbered_headers_are_read(headers):
    h_vr, h_kr, h_rs = headers
    text = f"{h_vr}\n{VR}\n\n{h_kr}\n{KR}\n\n{h_rs}\n{RS}\n[Answer] B. Pneumonia"
    # Exact step texts: unlike the official reading, "Step 2:" does not trail the step before it.
    assert parse_trace(text) == Trace(VR, KR, RS, "B. Pneumonia", True, None)


def test_step_numbered_header_inside_a_sentence_is_prose():
    rs = "As noted in Step 1: [Visual Recognition] the opacity has air bronchograms."
    trace = parse_trace(full_trace(rs=rs))
    assert (trace.valid, trace.visual_recognition, trace.reasoning) == (True, VR, rs)


def test_step_number_does_not_make_unbracketed_names_headers():
    text = f"Step 1: Visual Recognition\n{VR}\n[Knowledge Recall]\n{KR}\n[Reasoning]\n{RS}\n[Answer] yes"
    assert parse_trace(text).invalid_reason == "missing_visual_recognition"


# --- thinking blocks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "opening",
    [
        pytest.param("<think>\n", id="tag-alone"),
        pytest.param("  <think>\nThe image is a chest film; I will follow the format.\n\n", id="with-thoughts"),
        pytest.param("<think>", id="same-line-as-header"),
    ],
)
def test_trace_after_a_never_closed_think_is_read(opening):
    trace = parse_trace(opening + full_trace())
    assert (trace.valid, trace.visual_recognition, trace.knowledge_recall, trace.reasoning, trace.answer) == (
        True,
        VR,
        KR,
        RS,
        "B. Pneumonia",
    )


def test_draft_steps_in_a_never_closed_think_give_way_to_the_trace_after_them():
    draft = "<think>\n[Visual Recognition]\nsome draft words\n[Knowledge Recall]\nmore draft words\n\n"
    trace = parse_trace(draft + full_trace())
    assert (trace.valid, trace.visual_recognition, trace.knowledge_recall) == (True, VR, KR)


def test_never_closed_think_without_a_complete_trace_is_unclosed_think():
    trace = parse_trace(f"<think>\nLet me look.\n[Visual Recognition]\n{VR}\n[Knowledge Recall]\n{KR}")
    assert (trace.valid, trace.invalid_reason) == (False, "unclosed_think")
    # The steps it has are kept, as for any invalid trace.
    assert (trace.visual_recognition, trace.knowledge_recall, trace.reasoning) == (VR, KR, "")


def test_closed_think_is_dropped_even_when_it_holds_a_complete_trace():
    # The official reading takes the Reasoning and the answer from the thinking here; the
    # thinking is a draft, not the response, so ours reads only what follows it.
    text = f"<think>\n{full_trace(VR2, KR2, RS2)}\n</think>\n\n[Visual Recognition]\n{VR}\n[Knowledge Recall]\n{KR}"
    trace = parse_trace(text)
    assert (trace.invalid_reason, trace.visual_recognition, trace.reasoning, trace.answer) == (
        "missing_reasoning",
        VR,
        "",
        "",
    )


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        pytest.param(full_trace(), False, id="none"),
        pytest.param("<think>\nhmm\n</think>\n" + full_trace(), True, id="closed"),
        pytest.param("hmm, the prompt opened it\n</think>\n" + full_trace(), True, id="opened-in-prompt"),
        pytest.param("<think>\n" + full_trace(), True, id="never-closed"),
        pytest.param("<think>hmm</think>  \n", True, id="nothing-after"),
        pytest.param("", False, id="empty"),
    ],
)
def test_thinking_block_flag_says_whether_the_response_had_one(text, flag):
    assert parse_trace(text).thinking_block is flag


def test_thinking_block_flag_is_in_the_sample_log_dict():
    assert parse_trace("<think>\n" + full_trace()).as_dict()["thinking_block"] is True


@pytest.mark.parametrize("opening", ["<think>\nok\n</think>\n", "<think>\n"], ids=["closed", "never-closed"])
def test_join_keeps_the_thinking_block_flag_of_the_continuation(opening):
    given = {"visual_recognition": VR, "knowledge_recall": KR}
    assert parse_trace(join_trace(given, f"{opening}[Reasoning]\n{RS}\n[Answer] yes")).thinking_block


def test_join_reads_a_continuation_after_a_never_closed_think():
    given = {"visual_recognition": VR, "knowledge_recall": KR}
    trace = parse_trace(join_trace(given, f"<think>\nNow the reasoning.\n[Reasoning]\n{RS}\n[Answer] yes"))
    assert (trace.valid, trace.visual_recognition, trace.reasoning, trace.answer) == (True, VR, RS, "yes")


# --- a trace written out twice ---------------------------------------------------------------


@pytest.mark.parametrize(
    "between",
    [
        pytest.param("\n\nRevised answer:\n", id="revised"),
        pytest.param("\n\n---\n\n", id="rule"),
        pytest.param("\n", id="nothing"),
    ],
)
def test_trace_written_twice_in_full_keeps_the_last(between):
    text = full_trace() + between + full_trace(VR2, KR2, RS2, "C. Lung cancer")
    assert parse_trace(text) == Trace(VR2, KR2, RS2, "C. Lung cancer", True, None)


def test_an_incomplete_second_trace_does_not_replace_the_first():
    text = full_trace() + f"\n\nLet me redo it.\n[Visual Recognition]\n{VR2}\n[Knowledge Recall]\n{KR2}"
    assert parse_trace(text) == Trace(VR, KR, RS, "B. Pneumonia", True, None)


def test_a_second_trace_with_a_short_step_does_not_replace_the_first():
    text = full_trace() + "\n\n" + full_trace(VR2, "Pneumonia.", RS2, "C. Lung cancer")
    assert parse_trace(text) == Trace(VR, KR, RS, "B. Pneumonia", True, None)


def test_a_revised_reasoning_alone_does_not_replace_the_trace():
    # The official reading takes this later Reasoning and answer; ours reads whole traces
    # only, so a partial restatement after the answer is a stray section.
    text = full_trace() + f"\n\nOn reflection:\n[Reasoning]\n{RS2}\n[Answer] C. Lung cancer"
    assert parse_trace(text) == Trace(VR, KR, RS, "B. Pneumonia", True, None)


def test_replace_run_continuation_written_twice_keeps_the_last():
    given = {"visual_recognition": VR}
    first = f"[Knowledge Recall]\n{KR}\n[Reasoning]\n{RS}\n[Answer] B. Pneumonia"
    second = f"[Knowledge Recall]\n{KR2}\n[Reasoning]\n{RS2}\n[Answer] C. Lung cancer"
    trace = parse_trace(join_trace(given, first + "\n\nRevised answer:\n" + second))
    assert trace == Trace(VR, KR2, RS2, "C. Lung cancer", True, None)


def test_replace_run_restating_the_given_step_twice_keeps_the_given_step_and_the_last_rest():
    given = {"visual_recognition": VR}
    continuation = full_trace(VR2, KR, RS, "B. Pneumonia") + "\n\n" + full_trace(VR2, KR2, RS2, "C. Lung cancer")
    trace = parse_trace(join_trace(given, continuation))
    assert trace == Trace(VR, KR2, RS2, "C. Lung cancer", True, None)


def test_in_a_second_trace_answer_inside_a_line_before_its_reasoning_is_prose():
    vr2 = "Unlike the [Answer] above suggests, there are two opacities."
    text = full_trace() + "\n\n" + full_trace(vr2, KR2, RS2, "C. Lung cancer")
    assert parse_trace(text) == Trace(vr2, KR2, RS2, "C. Lung cancer", True, None)


clean_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.,;()", min_size=1, max_size=8)
clean_step = st.lists(clean_words, min_size=3, max_size=12).map(" ".join)
clean_trace = st.tuples(clean_step, clean_step, clean_step, clean_words)


@given(clean_trace, clean_trace)
def test_of_two_complete_traces_the_second_is_read(first, second):
    text = "\n\n".join(
        render_steps({"visual_recognition": vr, "knowledge_recall": kr, "reasoning": rs, "answer": answer})
        for vr, kr, rs, answer in (first, second)
    )
    assert parse_trace(text) == Trace(*second, True, None)
