"""A scripted model for the whole protocol: which trace each item gets in each run, per attempt.

It plays the model behind an OpenAI-compatible server (tests/support/model_server.py). It finds
the item by its question in the prompt and the run by which step texts the prompt hands over:

    gold VR and gold KR   -> replace_vr_kr
    gold KR, no gold VR   -> replace_kr (the model's own VR is there instead)
    gold VR only          -> replace_vr
    neither               -> baseline

and counts the requests per (item, run): the n-th request is attempt n. It keeps every request
it saw (`seen`), so a test can read what a prompt contained. A failure injected for an
(item, run, attempt) makes the server drop that request, however often the client retries,
until the test clears it (the backend then reports a failed request); a dropped request is
not an attempt.

The script, on the 12-item sample, with resampling up to 3 attempts (--resample 2). The expected
values below are worked out by hand from this table, not computed with the package's code; the
scripted judge (tests/support/judge_server.py) marks an answer correct iff it equals the ground
truth (case and end punctuation aside) and a step hallucinated iff it contains the word HALLU.

baseline (own Visual Recognition: "Own reading OWNVR-<index>-<attempt> ..." on every attempt)
    1 yn-02      attempts 1, 2 lack Knowledge Recall (invalid); attempt 3 valid, right
    4 open-01    attempt 1 lacks Knowledge Recall (invalid); attempt 2 valid, answer wrong ("right")
    11 frames-02 every attempt's Reasoning is one word (invalid): the 3rd attempt is kept
    2 yn-03      valid, right, its VR contains HALLU
    others       valid, right at the first attempt
    -> 17 requests (9 + 3 + 2 + 3); valid first attempt 9/12, valid after resampling 11/12
       Acc (judge) = 10 right / 11 valid = 90.909...; H^V = 1 (item 2) / 12 = 8.333...
       (item 11's trace is invalid but has its VR: judged, no HALLU: not hallucinated)
replace_vr
    5 open-02    attempt 1 empty (invalid); attempt 2 valid, right
    0 yn-01      valid, right, its KR contains HALLU
    -> 13 requests; valid first 11/12, valid 12/12; Acc = 12/12 = 100; H^K = 1/12 = 8.333...
replace_vr_kr
    3 yn-04      valid, right, its Reasoning contains HALLU
    -> 12 requests; valid 12/12; Acc = 100; H^R = 1/12 = 8.333...
replace_kr (the model's own final baseline VR + gold KR)
    6 open-03    valid, answer wrong ("fibrous")
    -> 12 requests; valid 12/12; Acc = 11/12 = 91.666...
Deltas: ΔV = 100 - 90.909 = 9.0909; ΔK = 91.667 - 90.909 = 0.7576; ΔVK = 9.0909
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from clinhallu_tasks.clinhallu.items import ClinHalluItem
from clinhallu_tasks.clinhallu.loading import load_source

SAMPLE = load_source("sample")
VR, KR, RE = "[Visual Recognition]", "[Knowledge Recall]", "[Reasoning]"

REQUESTS = {"baseline": 17, "replace_vr": 13, "replace_vr_kr": 12, "replace_kr": 12}
ATTEMPTS = {  # item index -> attempts, per run; others 1
    "baseline": {1: 3, 4: 2, 11: 3},
    "replace_vr": {5: 2},
}
EXPECTED = {
    "clinhallu_sample_baseline": {
        "clinhallu_valid_rate": 100 * 11 / 12, "clinhallu_acc_rule": 100 * 10 / 11,
        "clinhallu_acc": 100 * 10 / 11, "clinhallu_h_v": 100 * 1 / 12,
    },
    "clinhallu_sample_replace_vr": {
        "clinhallu_valid_rate": 100.0, "clinhallu_acc": 100.0, "clinhallu_h_k": 100 * 1 / 12,
    },
    "clinhallu_sample_replace_vr_kr": {
        "clinhallu_valid_rate": 100.0, "clinhallu_acc": 100.0, "clinhallu_h_r": 100 * 1 / 12,
    },
    "clinhallu_sample_replace_kr": {"clinhallu_valid_rate": 100.0, "clinhallu_acc": 100 * 11 / 12},
}
DELTA_K = 100 * 11 / 12 - 100 * 10 / 11  # 0.7576
DELTA_V = 100.0 - 100 * 10 / 11  # 9.0909


def own_visual_recognition(index: int, attempt: int) -> str:
    """The model's own VR: different from the gold one, and from one attempt to the next."""
    return f"Own reading OWNVR-{index}-{attempt} of the image: one region looks brighter than the rest."


def _steps(item: ClinHalluItem, *, vr: str | None, kr: str | None, reasoning: str, answer: str) -> str:
    parts = []
    if vr is not None:
        parts.append(f"{VR}\n{vr}")
    if kr is not None:
        parts.append(f"{KR}\n{kr}")
    parts.append(f"{RE}\n{reasoning}\n[Answer] {answer}")
    return "\n".join(parts)


def baseline(index: int, item: ClinHalluItem, attempt: int) -> str:
    g = item.gold
    vr = own_visual_recognition(index, attempt) + (" HALLU" if index == 2 else "")
    if index == 1 and attempt < 3 or index == 4 and attempt < 2:
        return _steps(item, vr=vr, kr=None, reasoning=g.reasoning, answer=g.answer)  # no KR: invalid
    if index == 11:
        return _steps(item, vr=vr, kr=g.knowledge_recall, reasoning="Obvious.", answer=g.answer)  # invalid
    answer = "right" if index == 4 else g.answer
    return _steps(item, vr=vr, kr=g.knowledge_recall, reasoning=g.reasoning, answer=answer)


def replace_vr(index: int, item: ClinHalluItem, attempt: int) -> str:
    g = item.gold
    if index == 5 and attempt == 1:
        return ""
    kr = g.knowledge_recall + (" HALLU" if index == 0 else "")
    return _steps(item, vr=None, kr=kr, reasoning=g.reasoning, answer=g.answer)


def replace_vr_kr(index: int, item: ClinHalluItem, attempt: int) -> str:
    g = item.gold
    reasoning = g.reasoning + (" HALLU" if index == 3 else "")
    return _steps(item, vr=None, kr=None, reasoning=reasoning, answer=g.answer)


def replace_kr(index: int, item: ClinHalluItem, attempt: int) -> str:
    g = item.gold
    return _steps(item, vr=None, kr=None, reasoning=g.reasoning, answer="fibrous" if index == 6 else g.answer)


SCRIPTS = {"baseline": baseline, "replace_vr": replace_vr, "replace_vr_kr": replace_vr_kr, "replace_kr": replace_kr}


class InjectedFailure(Exception):
    """Raised inside the server's handler: the request is dropped, as a crashed server would."""


@dataclass(frozen=True)
class Seen:
    index: int
    run: str
    attempt: int
    prompt: str


class ProtocolModel:
    """The responder: `ProtocolModel()(prompt, image_count) -> reply`, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.attempts: dict[tuple[int, str], int] = {}
        self.seen: list[Seen] = []
        self.fail: set[tuple[int, str, int]] = set()  # (index, run, attempt) to drop while listed

    @staticmethod
    def identify(prompt: str) -> tuple[int, str]:
        matches = [(i, item) for i, item in enumerate(SAMPLE) if item.question in prompt]
        if not matches:
            raise AssertionError(f"no sample question in the prompt: {prompt[:300]!r}")
        index, item = max(matches, key=lambda pair: len(pair[1].question))
        gold_vr = item.gold.visual_recognition in prompt
        gold_kr = item.gold.knowledge_recall in prompt
        if gold_kr:
            return index, "replace_vr_kr" if gold_vr else "replace_kr"
        return index, "replace_vr" if gold_vr else "baseline"

    def __call__(self, prompt: str, image_count: int) -> str:
        index, run = self.identify(prompt)
        with self._lock:
            attempt = self.attempts.get((index, run), 0) + 1
            if (index, run, attempt) in self.fail:
                raise InjectedFailure(f"scripted failure of item {index}, {run}, attempt {attempt}")
            self.attempts[(index, run)] = attempt
            self.seen.append(Seen(index, run, attempt, prompt))
        return SCRIPTS[run](index, SAMPLE[index], attempt)

    def requests(self, run: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if run is None or s.run == run]
