"""Scripted traces for the embedded sample: which item gets which (broken) trace, per run.

Built from the sample's gold traces. The expected metric values (EXPECTED, and
EXPECTED_JUDGED for the fake judge in tests/support/judge_server.py, which calls a step
hallucinated when it contains the word HALLU and an answer correct when it equals the
ground truth after case folding and trimming punctuation) were worked out by hand from
the comments below, not computed with the package's code.
"""

from __future__ import annotations

from clinhallu_tasks.clinhallu.items import ClinHalluItem
from clinhallu_tasks.clinhallu.loading import load_source

SAMPLE = load_source("sample")
VR, KR, RE = "[Visual Recognition]", "[Knowledge Recall]", "[Reasoning]"


def _full(item: ClinHalluItem, answer: str | None = None, reasoning: str | None = None, vr: str = "") -> str:
    g = item.gold
    return (
        f"{VR}\n{g.visual_recognition}{vr}\n{KR}\n{g.knowledge_recall}\n{RE}\n"
        f"{reasoning if reasoning is not None else g.reasoning}\n[Answer] {answer or g.answer}"
    )


def baseline(index: int, item: ClinHalluItem) -> str:
    g = item.gold
    if index == 1:
        return _full(item, answer="Yes.")  # valid, wrong (gold: no)
    if index == 3:
        return _full(item, answer="YES")  # valid, right: case folded
    if index == 2:
        return _full(item, vr=" HALLU")  # valid, right; VR hallucinated
    if index == 4:  # no KR: invalid; VR hallucinated
        return f"{VR}\n{g.visual_recognition} HALLU\n{RE}\n{g.reasoning}\n[Answer] left"
    if index == 6:
        return _full(item, answer="Pleomorphic.")  # valid, right: trailing punctuation
    if index == 7:
        return _full(item, answer="B")  # valid, right: letter alone
    if index == 8:
        return _full(item, answer="Left pleural effusion")  # valid, right: option text alone
    if index == 9:
        return _full(item, answer="D. Pleural effusion")  # valid, wrong (gold: A)
    if index == 10:  # thinking block and bold headers: valid, right
        return (
            "<think>Look at the frames first.</think>\n"
            f"**{VR}**\n{g.visual_recognition}\n**{KR}**\n{g.knowledge_recall}\n"
            f"**{RE}**\n{g.reasoning}\n**[Answer]** {g.answer}"
        )
    if index == 11:
        return _full(item, reasoning="Obvious.")  # reasoning under 3 words: invalid
    return _full(item)  # 0, 5: gold, valid, right
    # baseline: valid 10/12; right 8 of the 10 valid (1 and 9 wrong)
    # judge: answers equal to the ground truth: 0, 2, 3, 5, 6, 10 (6 of 10 valid; 7 and 8 are
    # right by the rules but not equal); VR with HALLU: 2 and 4 (2 of 12)


def replace_vr(index: int, item: ClinHalluItem) -> str:
    g = item.gold
    if index == 2:
        return ""  # no continuation: KR and Reasoning missing, invalid
    if index == 5:
        return f"{KR}\n{g.knowledge_recall}\n{RE}\n{g.reasoning}\n[Answer] kidney"  # valid, wrong
    if index == 0:
        return f"{KR}\n{g.knowledge_recall} HALLU\n{RE}\n{g.reasoning}\n[Answer] {g.answer}"  # KR hallucinated
    return f"{KR}\n{g.knowledge_recall}\n{RE}\n{g.reasoning}\n[Answer] {g.answer}"
    # replace_vr: valid 11/12; right 10 of the 11 valid
    # judge: 10 of 11 equal; KR hallucinated: 0 (HALLU) and 2 (empty, no judge call): 2 of 12


def replace_vr_kr(index: int, item: ClinHalluItem) -> str:
    g = item.gold
    if index == 7:  # restates the given steps differently first: the given ones stand; valid, right
        restated = f"{VR}\nSomething else entirely here.\n{KR}\nOther knowledge text here.\n"
        return f"{restated}{RE}\n{g.reasoning}\n[Answer] B"
    if index == 3:
        return f"{RE}\n{g.reasoning} HALLU\n[Answer] {g.answer}"  # reasoning hallucinated
    if index == 11:
        return f"{RE}\n{g.reasoning}\n[Answer] B. It shrinks"  # valid, wrong (gold: A)
    return f"{RE}\n{g.reasoning}\n[Answer] {g.answer}"
    # replace_vr_kr: valid 12/12; right 11 of 12
    # judge: 10 of 12 equal (7 answers "B", 11 is wrong); reasoning hallucinated: 3 (1 of 12)


def respond(prompt: str, image_count: int) -> str:
    """Pick the item by its question and the run by which gold steps the prompt already shows."""
    matches = [(i, item) for i, item in enumerate(SAMPLE) if item.question in prompt]
    if not matches:
        return "I cannot tell which question this is."
    index, item = max(matches, key=lambda pair: len(pair[1].question))
    if item.gold.knowledge_recall in prompt:
        return replace_vr_kr(index, item)
    if item.gold.visual_recognition in prompt:
        return replace_vr(index, item)
    return baseline(index, item)


EXPECTED = {
    "clinhallu_sample_baseline": {"clinhallu_valid_rate": 100 * 10 / 12, "clinhallu_acc_rule": 100 * 8 / 10},
    "clinhallu_sample_replace_vr": {"clinhallu_valid_rate": 100 * 11 / 12, "clinhallu_acc_rule": 100 * 10 / 11},
    "clinhallu_sample_replace_vr_kr": {"clinhallu_valid_rate": 100.0, "clinhallu_acc_rule": 100 * 11 / 12},
}

EXPECTED_JUDGED = {
    "clinhallu_sample_baseline": {"clinhallu_acc": 100 * 6 / 10, "clinhallu_h_v": 100 * 2 / 12},
    "clinhallu_sample_replace_vr": {"clinhallu_acc": 100 * 10 / 11, "clinhallu_h_k": 100 * 2 / 12},
    "clinhallu_sample_replace_vr_kr": {"clinhallu_acc": 100 * 10 / 12, "clinhallu_h_r": 100 * 1 / 12},
}
# Distinct judge requests. Steps: 12 + 11 (one KR is empty: no call) + 12 = 35. Answers: the
# cache is keyed by content, so an answer judged in one run (same question, ground truth and
# answer) is not asked again in the next: baseline 10; replace_vr 9 new (0 and 10 were gold in
# baseline too); replace_vr_kr 1 new (only 11's "B. It shrinks"; 7's "B" was judged in baseline).
EXPECTED_JUDGE_CALLS = 35 + 10 + 9 + 1
