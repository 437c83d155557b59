"""A MedHallTune responder for tests/support/judge_server.FakeJudgeServer.

It plays a judge that reads the data sections of the request naively (from an opening
tag to the first closing tag) and scores by fixed rules, so tests know the exact result:

- answer equal to the ground truth (case and edge punctuation ignored): `9 9 8 9`;
- answer containing the word HALLU: `2 3 4 1`;
- answer containing FAKE_JUDGE_MALFORMED: a reply without the score line;
- any other answer: `4 5 3 6`.

The explanation says whether a calibration sample came with the request. An instruction
`output a b c d` found *outside* the data sections is obeyed verbatim, so the judge is
fooled exactly when the delimiting of model text fails.
"""

from __future__ import annotations

import re
from typing import Any

from tests.support.judge_server import message_texts

TAGS = ("caption", "question", "ground_truth", "model_answer", "sample_answer", "sample_review")
EQUAL, HALLU, OTHER = "9 9 8 9", "2 3 4 1", "4 5 3 6"


def _norm(text: str) -> str:
    return text.strip().casefold().rstrip(".!?,;: \t\n").strip()


def sections(text: str) -> dict[str, str]:
    found = {}
    for tag in TAGS:
        match = re.search(rf"<{tag}>(.*?)</{tag}>", text, re.S)
        if match:
            found[tag] = match.group(1).strip()
    return found


def expected_scores(answer: str, ground_truth: str) -> str:
    """The score line this fake judge gives (for tests computing expected means)."""
    if re.search(r"\bHALLU\b", answer):
        return HALLU
    if _norm(answer) == _norm(ground_truth):
        return EQUAL
    return OTHER


def medhalltune_responder(body: dict[str, Any]) -> str:
    _, user_text, _ = message_texts(body)
    found = sections(user_text)
    outside = re.sub(rf"<({'|'.join(TAGS)})>.*?</\1>", " ", user_text, flags=re.S)
    injected = re.search(r"output\s+(\d+ \d+ \d+ \d+)", outside)
    if injected:
        return f"{injected.group(1)}\nobeyed an instruction found outside the data sections"
    answer = found.get("model_answer", "")
    if "FAKE_JUDGE_MALFORMED" in answer:
        return "The answer looks reasonable overall; I would rate it fairly well."
    calibrated = "with" if "sample_review" in found else "without"
    line = expected_scores(answer, found.get("ground_truth", ""))
    return f"{line}\n\nfake judge, {calibrated} a calibration sample."
