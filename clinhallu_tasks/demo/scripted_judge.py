"""The simulation's scripted judge: answers ClinHallu judge prompts by two plain rules.

It reads the data sections of our judge prompts (`<question>`, `<ground_truth>`,
`<model_answer>`, `<reference_step>`, `<candidate_step>`; see
clinhallu_tasks/clinhallu/templates/) and replies with the strict JSON our parsers read:

- answer judge: `{"answer_correct": 0|1, "answer_reasoning": "..."}`, correct iff the
  rule-based matcher (`match_answer`) accepts the answer for the item with that question;
- step judge: `{"hallucinated": 0|1, "reason": "..."}`, hallucinated iff the candidate
  step contains a sentence the reference step does not contain (case and spacing ignored).

A real judge weighs meaning; these rules only make the simulation's verdicts predictable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from clinhallu_tasks.demo.chat_server import message_text
from clinhallu_tasks.metrics.answer_match import match_answer

if TYPE_CHECKING:
    from clinhallu_tasks.clinhallu.items import ClinHalluItem

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def section(text: str, tag: str) -> str | None:
    """The text between the first `<tag>` and the `</tag>` after it, stripped; None if absent."""
    match = re.search(rf"<{tag}>(.*?)</{tag}>", text, re.S)
    return match.group(1).strip() if match else None


def _normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


def unsupported_sentences(candidate: str, reference: str) -> list[str]:
    """The candidate's sentences that the reference does not contain (case and spacing ignored)."""
    ref = _normalise(reference)
    sentences = [s.strip() for s in _SENTENCE_END.split(candidate.strip()) if s.strip()]
    return [s for s in sentences if _normalise(s) not in ref]


class ScriptedJudge:
    """`respond(body)` for a ChatServer: verdicts for answer and step judge prompts."""

    def __init__(self, items: Sequence[ClinHalluItem]) -> None:
        self.by_question = {item.question.strip(): item for item in items}

    def respond(self, body: dict[str, Any]) -> str:
        user = message_text(body, role="user")
        if section(user, "model_answer") is not None:
            return self.judge_answer(user)
        if section(user, "candidate_step") is not None:
            return self.judge_step(user)
        return "This is not a ClinHallu judge prompt."  # not JSON: the client counts a failure

    def judge_answer(self, user: str) -> str:
        question = section(user, "question") or ""
        ground_truth = section(user, "ground_truth") or ""
        answer = section(user, "model_answer") or ""
        item = self.by_question.get(question)
        if item is None:  # not a sample question: compare the texts only
            correct = match_answer(answer, question_type="open_ended", ground_truth=ground_truth)
        else:
            correct = match_answer(
                answer,
                question_type=item.question_type,
                ground_truth=ground_truth,
                options=item.options,
                answer_letter=item.answer_letter,
            )
        why = "names the ground truth" if correct else f"does not name the ground truth ({ground_truth})"
        return json.dumps({"answer_correct": int(correct), "answer_reasoning": f"Simulated judge: the answer {why}."})

    def judge_step(self, user: str) -> str:
        extra = unsupported_sentences(section(user, "candidate_step") or "", section(user, "reference_step") or "")
        if extra:
            reason = f"Simulated judge: the reference does not support: {extra[0]!r}"
        else:
            reason = "Simulated judge: every sentence is in the reference."
        return json.dumps({"hallucinated": int(bool(extra)), "reason": reason})
