"""The scripted model and judge of the VLMEvalKit end-to-end tests, and the values worked out by hand.

The model: ClinHallu traces from tests/support/scripted_model.py (the same script the lmms-eval
tests use, so the expected values are the ones those tests hold the lmms-eval path to), and
fixed MedHallTune answers. The judge: tests/support/judge_server.py's ClinHallu rules and
tests/medhalltune/fake_judge.py's MedHallTune rules, told apart by the `<caption>` section
only MedHallTune's judge prompt has.
"""

from __future__ import annotations

from typing import Any

from clinhallu_tasks.medhalltune import SAMPLE_ROOT, load_root
from tests.medhalltune.fake_judge import EQUAL, HALLU, OTHER, medhalltune_responder
from tests.support import scripted_model
from tests.support.judge_server import clinhallu_responder, message_texts

MEDHALLTUNE = load_root(SAMPLE_ROOT)
P, N = MEDHALLTUNE["P"].items, MEDHALLTUNE["N"].items
# P: one exact answer, one hallucinated, one other. N: other, exact, other.
ANSWERS = {
    "MedHallTune_Sample_P": [P[0].ground_truth, "HALLU: a large mass is clearly present.", "I cannot tell."],
    "MedHallTune_Sample_N": ["No, nothing like that is visible.", N[1].ground_truth, "It depends on the context."],
}
VERDICTS = {"MedHallTune_Sample_P": [EQUAL, HALLU, OTHER], "MedHallTune_Sample_N": [OTHER, EQUAL, OTHER]}
ITEMS = {"MedHallTune_Sample_P": P, "MedHallTune_Sample_N": N}
_BY_QUESTION = {item.question: answer for name, items in ITEMS.items() for item, answer in zip(items, ANSWERS[name],
                                                                                              strict=True)}


def respond(prompt: str, images: int) -> str:
    """The model: a MedHallTune prompt is the question itself; anything else is a ClinHallu prompt."""
    if prompt.strip() in _BY_QUESTION:
        return _BY_QUESTION[prompt.strip()]
    return scripted_model.respond(prompt, images)


def judge(body: dict[str, Any]) -> str:
    _, user_text, _ = message_texts(body)
    return medhalltune_responder(body) if "<caption>" in user_text else clinhallu_responder(body)


def judge_means(name: str) -> dict[str, float]:
    rows = [[float(x) for x in line.split()] for line in VERDICTS[name]]
    dimensions = ("clinical_accuracy", "clinical_relevance", "detail_level", "risk_level")
    return {f"medhalltune_{d}": sum(row[i] for row in rows) / len(rows) for i, d in enumerate(dimensions)}


def _clinhallu(task: str) -> dict[str, float]:
    return {**scripted_model.EXPECTED[task], **scripted_model.EXPECTED_JUDGED[task]}


# replace_kr hands back the model's own baseline Visual Recognition (every baseline trace has
# one of 3+ words) and the gold Knowledge Recall; the script answers it as it answers
# replace_vr_kr (it keys on the gold Knowledge Recall in the prompt): every trace valid, 11 of
# 12 right by rule (11 answers "B. It shrinks", gold A), 10 of 12 equal to the ground truth for
# the judge (7's "B" is right by rule only). The run judges no stage.
REPLACE_KR = {"clinhallu_valid_rate": 100.0, "clinhallu_acc_rule": 100 * 11 / 12, "clinhallu_acc": 100 * 10 / 12}

EXPECTED: dict[str, dict[str, float]] = {
    "ClinHallu_Sample_baseline": _clinhallu("clinhallu_sample_baseline"),
    "ClinHallu_Sample_replace_vr": _clinhallu("clinhallu_sample_replace_vr"),
    "ClinHallu_Sample_replace_vr_kr": _clinhallu("clinhallu_sample_replace_vr_kr"),
    "ClinHallu_Sample_replace_kr": REPLACE_KR,
    "MedHallTune_Sample_P": judge_means("MedHallTune_Sample_P"),
    "MedHallTune_Sample_N": judge_means("MedHallTune_Sample_N"),
}
