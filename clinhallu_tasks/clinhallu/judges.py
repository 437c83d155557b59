"""ClinHallu's two LLM judges (PROTOCOL §1.5): what to ask, and how to read the reply.

- Answer judge: question, ground truth and the model's final answer; text only.
- Step judge: one step at a time. Visual Recognition is judged with the item's
  images attached; Knowledge Recall and Reasoning are text only, with a support
  context of earlier steps. Nothing else of the model's output is shown.

Prompts are text files in `templates/` (`clinhallu_*.txt`); a file of the same name in
the folder the settings name (`Settings.judge_templates_dir`, from `CLINHALLU_JUDGE_TEMPLATES`)
replaces the packaged one. Placeholders
are written `{name}`; other text in braces (such as a JSON example) is left alone. A file's
text is used exactly, less one final newline, and values are inserted as given, so that the
templates `clinhallu-tasks import-prompts` writes send what the official pipeline sends
(src/model_evaluation/answer_judge.py, step_hallucination_judge.py): a system message, then
the user text, followed by the images for Visual Recognition.

The model's text is inserted between tags, and any tag of the template that appears
inside it is defused (`judging.templates.fill`), so model output cannot close its section
and pose as instructions. This module builds requests and parses replies; it never touches HTTP.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..judging import JudgeRequest, VerdictFormatError
from ..judging.templates import TemplateSet, TemplateTexts, fill, load, template_tags
from .items import STEPS, Step

ENV_TEMPLATES = "CLINHALLU_JUDGE_TEMPLATES"
TEMPLATE_DIR = Path(__file__).with_name("templates")

STEP_TITLES: Mapping[str, str] = {
    "visual_recognition": "Visual Recognition",
    "knowledge_recall": "Knowledge Recall",
    "reasoning": "Reasoning",
}
# Support-context lines for the text-only step judges, in the order they are shown.
SUPPORT_KEYS: Mapping[str, str] = {
    "reference_visual_recognition": "Reference Visual Recognition",
    "reference_knowledge_recall": "Reference Knowledge Recall",
    "candidate_visual_recognition": "Candidate Visual Recognition",
    "candidate_knowledge_recall": "Candidate Knowledge Recall",
}

_ANSWER_FIELDS = frozenset({"question", "ground_truth", "model_answer"})
_STEP_FIELDS = frozenset(
    {"question", "ground_truth", "reference", "candidate", "support_context", "n_images"}
)
# The text-only step judges. Each has a `clinhallu_step_<step>_no_support.txt`: its {support_context}
# when no support text is non-empty (the official code writes a sentence of its own; ours, "(none)").
SUPPORTED_STEPS: tuple[Step, ...] = ("knowledge_recall", "reasoning")
# template file name -> placeholders it may use
TEMPLATE_FIELDS: Mapping[str, frozenset[str]] = {
    "clinhallu_answer_system.txt": _ANSWER_FIELDS,
    "clinhallu_answer_user.txt": _ANSWER_FIELDS,
    **{f"clinhallu_step_{step}_{part}.txt": _STEP_FIELDS for step in STEPS for part in ("system", "user")},
    **{f"clinhallu_step_{step}_no_support.txt": frozenset() for step in SUPPORTED_STEPS},
}
TEMPLATE_NAMES: tuple[str, ...] = tuple(TEMPLATE_FIELDS)

_FENCE = re.compile(r"\A```(?:json)?[ \t]*\r?\n(.*?)\r?\n[ \t]*```\Z", re.S | re.I)


# -- templates --------------------------------------------------------------------------------------

TEMPLATE_SET = TemplateSet(
    label="ClinHallu",
    packaged_dir=TEMPLATE_DIR,
    placeholders=TEMPLATE_FIELDS,
    # The override folder is shared with the other benchmark's templates: only clinhallu_* are ours.
    stray_prefix="clinhallu_",
    variable=ENV_TEMPLATES,
)


def load_templates(override_dir: str | os.PathLike[str] | None = None) -> TemplateTexts:
    """The packaged templates, each replaced by a same-named file in `override_dir` (when given)."""
    return load(TEMPLATE_SET, override_dir)


def _render_pair(templates: TemplateTexts, prefix: str, values: Mapping[str, str]) -> tuple[str, str]:
    system = templates.text(f"clinhallu_{prefix}_system.txt")
    user = templates.text(f"clinhallu_{prefix}_user.txt")
    tags = template_tags(system, user)
    return fill(system, values, defuse_tags=tags), fill(user, values, defuse_tags=tags)


def _messages(system: str, user_content: Any) -> list[dict[str, Any]]:
    # A blank system template means "send no system message" (some judges reproduce that way).
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system.strip() else []
    messages.append({"role": "user", "content": user_content})
    return messages


# -- requests ---------------------------------------------------------------------------------------


def _verdict_schema(flag: str, text: str) -> dict[str, Any]:
    """The JSON schema of a verdict, for endpoints that offer structured output (strict mode needs every
    property required and no others)."""
    return {
        "type": "object",
        "properties": {flag: {"type": "integer", "enum": [0, 1]}, text: {"type": "string"}},
        "required": [flag, text],
        "additionalProperties": False,
    }


ANSWER_VERDICT_SCHEMA = _verdict_schema("answer_correct", "answer_reasoning")
STEP_VERDICT_SCHEMA = _verdict_schema("hallucinated", "reason")


def answer_request(
    question: str, ground_truth: str, model_answer: str, *, templates: TemplateTexts | None = None
) -> JudgeRequest:
    """Answer-judge request (text only) for one model answer."""
    templates = templates or load_templates()
    values = {"question": question, "ground_truth": ground_truth, "model_answer": model_answer}
    system, user = _render_pair(templates, "answer", values)
    return JudgeRequest(messages=_messages(system, user), schema=ANSWER_VERDICT_SCHEMA, schema_name="answer_verdict")


def format_support(support: Mapping[str, str | None] | None, no_support: str = "(none)") -> str:
    """One `Label: text` line per non-empty support text (as given, in SUPPORT_KEYS order), the lines
    trimmed at the ends as a whole, as the official code writes them; `no_support` when that leaves nothing."""
    support = support or {}
    unknown = sorted(set(support) - set(SUPPORT_KEYS))
    if unknown:
        raise ValueError(f"unknown support key(s) {unknown}; expected some of {list(SUPPORT_KEYS)}")
    lines = [f"{label}: {support[key]}" for key, label in SUPPORT_KEYS.items() if support.get(key)]
    return "\n".join(lines).strip() or no_support


def step_request(
    step: Step,
    question: str,
    ground_truth: str,
    reference: str,
    candidate: str,
    *,
    image_paths: Sequence[str] = (),
    support: Mapping[str, str | None] | None = None,
    templates: TemplateTexts | None = None,
) -> JudgeRequest:
    """Step-judge request for one candidate step.

    Visual Recognition attaches `image_paths` (required) after the text and ignores `support`;
    the other steps are text only and show the non-empty `support` lines, or the step's
    `clinhallu_step_<step>_no_support.txt` text when there is none. A step without a reference
    is settled without a call (`judged.step_settlement`): nothing here stands in for an empty one.
    """
    if step not in STEP_TITLES:
        raise ValueError(f"unknown step {step!r}; expected one of {list(STEP_TITLES)}")
    templates = templates or load_templates()
    visual = step == "visual_recognition"
    if visual and not image_paths:
        raise ValueError("the Visual Recognition judge needs the item's images")
    values = {
        "question": question,
        "ground_truth": ground_truth,
        "reference": reference,
        "candidate": candidate,
        "support_context": (
            "(not used for this step)" if visual
            else format_support(support, templates.text(f"clinhallu_step_{step}_no_support.txt"))
        ),
        "n_images": str(len(image_paths)) if visual else "0",
    }
    system, user = _render_pair(templates, f"step_{step}", values)
    if visual:
        # The official layout: the text, then the images in the item's order.
        parts: list[dict[str, str]] = [{"type": "text", "text": user}]
        parts += [{"type": "image_file", "path": os.path.abspath(p)} for p in image_paths]
        return JudgeRequest(messages=_messages(system, parts), schema=STEP_VERDICT_SCHEMA, schema_name="step_verdict")
    return JudgeRequest(messages=_messages(system, user), schema=STEP_VERDICT_SCHEMA, schema_name="step_verdict")


# -- verdicts ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerVerdict:
    correct: bool
    reasoning: str


@dataclass(frozen=True)
class StepVerdict:
    hallucinated: bool
    reason: str


def _strict_object(text: str, flag: str, note: str) -> tuple[bool, str]:
    """Read exactly `{flag: 0|1, note: str}`, optionally inside one ```json fence; nothing else."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise VerdictFormatError(f"not a JSON object ({exc.msg})") from None
    if not isinstance(data, dict):
        raise VerdictFormatError("not a JSON object")
    if set(data) != {flag, note}:
        raise VerdictFormatError(f"expected exactly the keys {flag!r} and {note!r}, got {sorted(data)}")
    value = data[flag]
    # bool is an int subclass in Python; JSON true/false, "1" or 1.0 are not the requested 0/1.
    if type(value) is not int or value not in (0, 1):
        raise VerdictFormatError(f"{flag!r} must be 0 or 1, got {value!r}")
    if not isinstance(data[note], str):
        raise VerdictFormatError(f"{note!r} must be a string")
    return bool(value), data[note]


def parse_answer_verdict(text: str) -> AnswerVerdict:
    """`{"answer_correct": 0|1, "answer_reasoning": str}` or VerdictFormatError."""
    correct, reasoning = _strict_object(text, "answer_correct", "answer_reasoning")
    return AnswerVerdict(correct=correct, reasoning=reasoning)


def parse_step_verdict(text: str) -> StepVerdict:
    """`{"hallucinated": 0|1, "reason": str}` or VerdictFormatError."""
    hallucinated, reason = _strict_object(text, "hallucinated", "reason")
    return StepVerdict(hallucinated=hallucinated, reason=reason)
