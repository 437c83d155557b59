"""Checkouts shaped like the official repositories, holding made-up prompt text (never the official text).

The files sit where the official ones do and build their constants the ways the official
ones do (implicit concatenation, `+` of constants, an alias, `{{`/`}}` escapes in
str.format templates, an f-string message builder, a support-context builder that falls
back to a sentence of its own), so the import meets the same shapes.
"""

from __future__ import annotations

import runpy
import textwrap
from pathlib import Path
from typing import Any

COT_GENERATION = '''
"""Made-up generation prompts."""

COT_SYSTEM_PROMPT = (
    "SYS-GEN line one: think in three parts.\\n\\n"
    "Headers: [Visual Recognition], [Knowledge Recall], [Reasoning], then [Answer] x.\\n"
    "A literal brace stays: { not a field }.\\n"
)

COT_USER_PROMPT_WITH_IMAGE = (
    "IMG-USER look at the picture.\\n\\n"
    "Question: {question}\\n\\n"
    "{options_text}"
    "Braces in JSON style: {{\\"k\\": 1}}.\\n\\n"
    "Write the three parts."
)

COT_USER_PROMPT_TEXT_ONLY = (
    "TXT-USER no picture today.\\n\\n"
    "Question: {question}\\n\\n"
    "{options_text}"
    "Write the three parts; imagine the view."
)

CONTINUE_FROM_VR_PROMPT = (
    "CONT-VR carry on.\\n\\n"
    "Question: {question}\\n\\n"
    "Done already:\\n[Visual Recognition]\\n{visual_recognition}\\n\\n"
    "Now write [Knowledge Recall] and [Reasoning]."
)

CONTINUE_FROM_KR_PROMPT = (
    "CONT-KR carry on.\\n\\n"
    "Question: {question}\\n\\n"
    "[Visual Recognition]\\n{visual_recognition}\\n\\n"
    "[Knowledge Recall]\\n{knowledge_recall}\\n\\n"
    "Now write [Reasoning] only."
)

CONTINUE_FROM_VR_KR_PROMPT = CONTINUE_FROM_KR_PROMPT
'''

ANSWER_JUDGE = '''
"""Made-up answer-judge prompts."""

ANSWER_JUDGE_SYSTEM_PROMPT = (
    "SYS-ANS grade the answer.\\n"
    "Reply in JSON only."
)

ANSWER_JUDGE_USER_PROMPT_TEMPLATE = (
    "Q: {question}\\n"
    "Key: {ground_truth}\\n"
    "Said: {predicted_answer}\\n\\n"
    "{{\\n"
    '  "answer_correct": 0 or 1,\\n'
    '  "answer_reasoning": "why"\\n'
    "}}"
)
'''

STEP_JUDGE = '''
"""Made-up step-judge prompts."""

STEP_HALLUCINATION_JUDGE_SYSTEM_PROMPT = (
    "SYS-STEP audit one step.\\n\\n"
    "Reply in JSON only."
)

STEP_HALLUCINATION_JUDGE_JSON_FORMAT = (
    "{{\\n"
    '  "hallucinated": 0 or 1,\\n'
    '  "reason": "why"\\n'
    "}}"
)

VR_HALLUCINATION_JUDGE_USER_PROMPT_TEMPLATE = (
    "Kind: VR\\nQ: {question}\\nKey: {ground_truth}\\n\\n"
    "Ref:\\n{reference_text}\\n\\nCand:\\n{candidate_text}\\n\\n"
    "Answer as:\\n"
    + STEP_HALLUCINATION_JUDGE_JSON_FORMAT
)

KR_HALLUCINATION_JUDGE_USER_PROMPT_TEMPLATE = (
    "Kind: KR\\nQ: {question}\\nKey: {ground_truth}\\n\\n"
    "Ref:\\n{reference_text}\\n\\nCand:\\n{candidate_text}\\n\\nContext:\\n{support_context}\\n\\n"
    "Answer as:\\n"
    + STEP_HALLUCINATION_JUDGE_JSON_FORMAT
)

REASONING_HALLUCINATION_JUDGE_USER_PROMPT_TEMPLATE = (
    "Kind: RS\\nQ: {question}\\nKey: {ground_truth}\\n\\n"
    "Ref:\\n{reference_text}\\n\\nCand:\\n{candidate_text}\\n\\nContext:\\n{support_context}\\n\\n"
    "Answer as:\\n"
    + STEP_HALLUCINATION_JUDGE_JSON_FORMAT
)
'''

STEP_JUDGE_CODE = '''
"""Made-up step-judge code: only the support-context builder, shaped like the official one."""


def _step_text(cot, step):
    return cot.get(step, {}).get("text", "") if isinstance(cot, dict) else ""


def _build_support_context(reference_sample, candidate_sample):
    reference = reference_sample.get("gold_cot", {})
    candidate = candidate_sample.get("cot", {})
    shown = [
        ("Reference Visual Recognition", _step_text(reference, "visual_recognition")),
        ("Reference Knowledge Recall", _step_text(reference, "knowledge_recall")),
        ("Candidate Visual Recognition", _step_text(candidate, "visual_recognition")),
        ("Candidate Knowledge Recall", _step_text(candidate, "knowledge_recall")),
    ]
    lines = [f"{label}: {text}" for label, text in shown if text]
    return "\\n".join(lines).strip() or "NO-CTX: nothing else to go on."
'''

AGENT = '''
"""Made-up MedHallTune judge."""

INSTRUCTION_PROMPT = """RATE four things from 1 to 10.
        First line: four numbers. Then why.
        """


def wrap_eval_message(sample):
    fig_caption = sample.get("fig_caption")
    question = sample["question"]
    ans = sample["answer"]
    gt_answer = sample["gpt4_answer"]
    reference_answers = sample["reference_answers"]
    reference_scores = sample["reference_scores"]

    conv_to_str = (
        f"CAP: {fig_caption}\\n\\n"
        f"ASK: {question}\\n\\n"
        f"GOT: {ans}\\n END\\n\\n"
        f"KEY: {gt_answer}\\n END\\n\\n"
        f"RULES: {INSTRUCTION_PROMPT}\\n\\n"
    )

    messages = [
        {"role": "system", "content": "SYS-MHT be precise."},
        {"role": "user", "content": conv_to_str},
        {"role": "user", "content": f"EXAMPLE: {reference_answers}\\n\\nEXAMPLE SCORES: {reference_scores}\\n\\n"},
    ]
    return messages
'''

CLINHALLU_FILES = {
    "prompts/__init__.py": "",
    "prompts/cot_generation.py": COT_GENERATION,
    "prompts/judge.py": ANSWER_JUDGE,
    "prompts/step_hallucination_judge.py": STEP_JUDGE,
    "src/model_evaluation/step_hallucination_judge.py": STEP_JUDGE_CODE,
}
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def write_clinhallu_checkout(root: Path, *, with_git: bool = True) -> Path:
    """A checkout shaped like alibaba-damo-academy/ClinHallu, with a `.git` naming COMMIT."""
    for name, text in CLINHALLU_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    if with_git:
        (root / ".git" / "refs" / "heads").mkdir(parents=True)
        (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
        (root / ".git" / "packed-refs").write_text(f"# pack-refs\n{COMMIT} refs/heads/main\n", encoding="utf-8")
    return root


def write_medhalltune_checkout(root: Path) -> Path:
    """A checkout shaped like russellyq/MedHallTune (its judge lives in agent.py)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "agent.py").write_text(textwrap.dedent(AGENT).lstrip(), encoding="utf-8")
    return root


def constants(checkout: Path, module: str) -> dict[str, Any]:
    """The made-up module's values as Python computes them (the test's own file, safe to run)."""
    return runpy.run_path(str(checkout / module))
