"""Scripted traces for the embedded sample: which item gets which (broken) trace, per run.

Built from the sample's gold traces. The expected metric values in the e2e tests were
worked out by hand from the comments below, not computed with the package's code.
"""

from __future__ import annotations

from clinhallu_tasks.clinhallu.items import ClinHalluItem
from clinhallu_tasks.clinhallu.loading import load_source

SAMPLE = load_source("sample")
VR, KR, RE = "[Visual Recognition]", "[Knowledge Recall]", "[Reasoning]"


def _full(item: ClinHalluItem, answer: str | None = None, reasoning: str | None = None) -> str:
    g = item.gold
    return (
        f"{VR}\n{g.visual_recognition}\n{KR}\n{g.knowledge_recall}\n{RE}\n"
        f"{reasoning if reasoning is not None else g.reasoning}\n[Answer] {answer or g.answer}"
    )


def baseline(index: int, item: ClinHalluItem) -> str:
    g = item.gold
    if index == 1:
        return _full(item, answer="Yes.")  # valid, wrong (gold: no)
    if index == 3:
        return _full(item, answer="YES")  # valid, right: case folded
    if index == 4:
        return f"{VR}\n{g.visual_recognition}\n{RE}\n{g.reasoning}\n[Answer] left"  # no KR: invalid
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
    return _full(item)  # 0, 2, 5: gold, valid, right
    # baseline: valid 10/12; right 8 of the 10 valid (1 and 9 wrong)


def replace_vr(index: int, item: ClinHalluItem) -> str:
    g = item.gold
    if index == 2:
        return ""  # no continuation: KR and Reasoning missing, invalid
    if index == 5:
        return f"{KR}\n{g.knowledge_recall}\n{RE}\n{g.reasoning}\n[Answer] kidney"  # valid, wrong
    return f"{KR}\n{g.knowledge_recall}\n{RE}\n{g.reasoning}\n[Answer] {g.answer}"
    # replace_vr: valid 11/12; right 10 of the 11 valid


def replace_vr_kr(index: int, item: ClinHalluItem) -> str:
    g = item.gold
    if index == 7:  # restates the given steps differently first: the given ones stand; valid, right
        return f"{VR}\nSomething else entirely here.\n{KR}\nOther knowledge text here.\n{RE}\n{g.reasoning}\n[Answer] B"
    if index == 11:
        return f"{RE}\n{g.reasoning}\n[Answer] B. It shrinks"  # valid, wrong (gold: A)
    return f"{RE}\n{g.reasoning}\n[Answer] {g.answer}"
    # replace_vr_kr: valid 12/12; right 11 of 12


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
