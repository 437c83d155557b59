"""The simulation's scripted "model": ClinHallu traces derived from the sample's gold traces.

It plays a plausible, imperfect model, deterministically: each (item, run) gets its own
random generator seeded by a hash of the item id and the run, which decides

- whether the step this run asks the model to write first (and that the run judges:
  Visual Recognition in baseline, Knowledge Recall in replace_vr, Reasoning in
  replace_vr_kr) gets one invented sentence that the gold step does not contain;
- whether the answer is wrong (the other of yes/no, another option, a plausible wrong word);

and exactly one trace of the 36, the (item, run) with the smallest hash, breaks the
format: the model stops after its reasoning and never writes the [Answer] line.
The model gets better when gold steps are handed to it (fewer wrong answers), as the
benchmark expects. Thinking is off: no <think> block is ever written.

Which item and run a request is for: the item by its question text, the run by which gold
steps the prompt already contains (replace_vr shows the gold Visual Recognition,
replace_vr_kr also the gold Knowledge Recall).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clinhallu_tasks.demo.chat_server import message_text
from clinhallu_tasks.metrics.answer_match import split_option

if TYPE_CHECKING:
    from clinhallu_tasks.clinhallu.items import ClinHalluItem

# The trace format the prompts ask for (PROTOCOL §1.3).
STEP_HEADERS: dict[str, str] = {
    "visual_recognition": "[Visual Recognition]",
    "knowledge_recall": "[Knowledge Recall]",
    "reasoning": "[Reasoning]",
}
ANSWER_HEADER = "[Answer]"

SALT = "clinhallu-demo-17"
RUNS: tuple[str, ...] = ("baseline", "replace_vr", "replace_vr_kr")
# The steps the model writes in each run; the first is the one the run judges.
WRITTEN_STEPS: dict[str, tuple[str, ...]] = {
    "baseline": ("visual_recognition", "knowledge_recall", "reasoning"),
    "replace_vr": ("knowledge_recall", "reasoning"),
    "replace_vr_kr": ("reasoning",),
}
# Chances per run. Gold steps help: fewer wrong answers the more of them the model is given.
P_INVENT: dict[str, float] = {"baseline": 0.4, "replace_vr": 0.3, "replace_vr_kr": 0.25}
P_WRONG: dict[str, float] = {"baseline": 0.4, "replace_vr": 0.25, "replace_vr_kr": 0.15}
# What SALT's generators decide on the embedded sample (tests/cli/test_demo.py checks this table
# and the metrics worked out from it by hand; the scripted judge's rules make them exact):
#   baseline       invented VR:  yn-01 yn-02 open-01 open-03 mc-02 frames-02        H^V 6/12 = 50.0
#                  wrong answer: open-01 ("right") open-02 ("spleen") mc-01 (C) mc-03 (C) frames-01 (A)
#                  broken:       mc-02 (no [Answer] line): valid 11/12, left out of Acc
#                  Acc = (11 valid - 5 wrong) / 11 = 6/11 = 54.5
#   replace_vr     invented KR:  yn-02 frames-01                                    H^K 2/12 = 16.7
#                  wrong answer: yn-03 ("no") open-02 ("spleen") frames-02 (B)      Acc 9/12 = 75.0
#   replace_vr_kr  invented RE:  yn-03 open-01 open-02 mc-01 frames-01              H^R 5/12 = 41.7
#                  wrong answer: mc-01 (D) frames-02 (C)                            Acc 10/12 = 83.3
#   ΔV = 75.0 - 54.5 = +20.5 points, ΔVK = 83.3 - 54.5 = +28.8 points

# Sentences no gold step of the sample contains: what a hallucinating model adds.
INVENTED: dict[str, tuple[str, ...]] = {
    "visual_recognition": (
        "A second, smaller nodule is also visible near the upper edge of the image.",
        "A thin bright line, probably a surgical clip, crosses the lower part of the image.",
        "Several small calcified foci are scattered along the right margin.",
    ),
    "knowledge_recall": (
        "This appearance is pathognomonic and excludes every other diagnosis.",
        "The finding is present in most healthy adults over forty and is rarely significant.",
        "Guidelines require a biopsy of every such finding within one week.",
    ),
    "reasoning": (
        "The additional lesion elsewhere confirms this beyond doubt.",
        "Because the patient is elderly, the process must be chronic.",
        "The image quality is poor, so the opposite conclusion is equally likely.",
    ),
}
# Plausible confusions for open questions; anything else gets the fallback.
WRONG_OPEN: dict[str, str] = {"left": "right", "right": "left", "liver": "spleen", "pleomorphic": "uniform"}
WRONG_OPEN_FALLBACK = "indeterminate"

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Plan:
    """What the model does for one item in one run."""

    item_id: str
    run: str
    invents: bool  # the run's first written step gets an invented sentence
    wrong: bool  # the answer is wrong
    broken: bool  # no [Answer] line: an invalid trace
    seed: int


def _seed(item_id: str, run: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{SALT}:{item_id}:{run}".encode()).digest()[:8], "big")


def make_plans(items: Sequence[ClinHalluItem]) -> dict[tuple[str, str], Plan]:
    """The plan of every (item id, run), decided by the seeded generators."""
    seeds = {(item.item_id, run): _seed(item.item_id, run) for item in items for run in RUNS}
    broken = min(seeds, key=seeds.__getitem__)  # exactly one invalid trace
    plans = {}
    for (item_id, run), seed in seeds.items():
        rng = random.Random(seed)
        invents = rng.random() < P_INVENT[run]
        wrong = rng.random() < P_WRONG[run]
        plans[(item_id, run)] = Plan(item_id, run, invents, wrong, (item_id, run) == broken, seed)
    return plans


def wrong_answer(item: ClinHalluItem, rng: random.Random) -> str:
    """A plausible wrong answer: the other of yes/no, another option, or a confused word."""
    if item.question_type == "yes_no":
        return "no" if item.answer.strip().lower().startswith("yes") else "yes"
    if item.options:
        gold_letter = item.answer_letter or split_option(item.answer)[0]
        others = [o for o in item.options if split_option(o)[0] != gold_letter]
        return rng.choice(others).strip()
    return WRONG_OPEN.get(item.answer.strip().lower(), WRONG_OPEN_FALLBACK)


def with_invented(text: str, step: str, rng: random.Random) -> str:
    """The gold step with one invented sentence put after a randomly chosen sentence."""
    sentences = [s for s in _SENTENCE_END.split(text.strip()) if s]
    sentences.insert(rng.randint(1, len(sentences)), rng.choice(INVENTED[step]))
    return " ".join(sentences)


def write_trace(item: ClinHalluItem, plan: Plan) -> str:
    """The model's reply for one item in one run, following its plan."""
    rng = random.Random(plan.seed ^ 0x5EED)  # the choices of wording, apart from the plan's decisions
    steps = WRITTEN_STEPS[plan.run]
    lines = []
    for step in steps:
        text = item.gold.step(step)
        if plan.invents and step == steps[0]:
            text = with_invented(text, step, rng)
        lines += [STEP_HEADERS[step], text]
    if not plan.broken:
        answer = wrong_answer(item, rng) if plan.wrong else (item.gold.answer or item.answer)
        lines.append(f"{ANSWER_HEADER} {answer}")
    return "\n".join(lines)


def identify(items: Sequence[ClinHalluItem], prompt: str) -> tuple[ClinHalluItem, str] | None:
    """The item (by its question) and the run (by the gold steps shown) a prompt is for."""
    matches = [item for item in items if item.question in prompt]
    if not matches:
        return None
    item = max(matches, key=lambda i: len(i.question))  # a question inside a longer one loses
    if item.gold.knowledge_recall in prompt:
        return item, "replace_vr_kr"
    if item.gold.visual_recognition in prompt:
        return item, "replace_vr"
    return item, "baseline"


class ScriptedModel:
    """`respond(body)` for a ChatServer: the planned trace for the item and run of the request."""

    def __init__(self, items: Sequence[ClinHalluItem]) -> None:
        self.items = tuple(items)
        self.plans = make_plans(self.items)

    def respond(self, body: dict[str, Any]) -> str:
        found = identify(self.items, message_text(body))
        if found is None:
            return "I cannot tell which question this is."
        item, run = found
        return write_trace(item, self.plans[(item.item_id, run)])
