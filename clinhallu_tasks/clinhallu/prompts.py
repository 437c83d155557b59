"""The prompt a model gets in each ClinHallu run (PROTOCOL §1.3-1.4), worded by template files.

The wording lives in `templates/generation_*.txt` beside this module; a file of the same name
in the folder named by `CLINHALLU_PROMPT_TEMPLATES` replaces the packaged one (as
`CLINHALLU_JUDGE_TEMPLATES` does for the judges). A file's text is used exactly as written,
less one final newline. `clinhallu-tasks import-prompts` writes such a folder from a checkout
of the official repository, so that the messages built here are the ones its pipeline sends.

A prompt is a system text (empty in our wording: then no system message is sent) and a user
text. The baseline user text comes from `generation_user_image.txt`, or from
`generation_user_text_only.txt` for an item without images; a replace run's from its
continuation template, which may embed the baseline text as `{task}`. Placeholders:

- `{question}` the question as released; `{question_cleaned}` without `<image>` tokens, trimmed;
- `{options_text}` "Options:" and one option per line, then a blank line (empty without options);
  `{question_with_options}` the question, a blank line and that listing (the question alone
  without options); `{options_section}` a blank line and the listing, only when the options are
  not already written in the question;
- `{n_images}`, `{images}` ("image"/"images"), `{them}` ("it"/"them");
- `{intro}` and `{answer_rule}`: the `generation_part_*` sentence for the item's images and
  answer kind;
- continuations also: `{task}`, `{given_steps}` (the given steps under their headers) and each
  given step alone, `{visual_recognition}`, `{knowledge_recall}` (as given, untrimmed).

The images travel separately (the framework attaches them, in the item's order), so the
text carries no image placeholder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clinhallu_tasks.clinhallu.items import GIVEN_GOLD_STEPS, RUNS, STEPS, ClinHalluItem, Run, Step
from clinhallu_tasks.clinhallu.trace import render_steps
from clinhallu_tasks.errors import ClinHalluTasksError
from clinhallu_tasks.judging.templates import TemplateSet, TemplateTexts, fill, load
from clinhallu_tasks.metrics.answer_match import split_option

__all__ = [
    "ENV_PROMPT_TEMPLATES",
    "GENERATION_TEMPLATE_NAMES",
    "Prompt",
    "PromptTemplateError",
    "build_messages",
    "build_prompt",
    "build_prompt_parts",
    "given_steps_for",
    "gold_given_steps",
    "load_prompt_templates",
    "options_in_question",
]

ENV_PROMPT_TEMPLATES = "CLINHALLU_PROMPT_TEMPLATES"
TEMPLATE_DIR = Path(__file__).with_name("templates")

SYSTEM_TEMPLATE = "generation_system.txt"
USER_IMAGE_TEMPLATE = "generation_user_image.txt"
USER_TEXT_ONLY_TEMPLATE = "generation_user_text_only.txt"
CONTINUATION_TEMPLATES: Mapping[Run, str] = {
    "replace_vr": "generation_continue_vr.txt",
    "replace_kr": "generation_continue_kr.txt",
    "replace_vr_kr": "generation_continue_vr_kr.txt",
}
INTRO_ONE_IMAGE = "generation_part_intro_one_image.txt"
INTRO_SEVERAL_IMAGES = "generation_part_intro_several_images.txt"
ANSWER_RULES = {
    "options_listed": "generation_part_answer_options_listed.txt",
    "options_in_question": "generation_part_answer_options_in_question.txt",
    "yes_no": "generation_part_answer_yes_no.txt",
    "open": "generation_part_answer_open.txt",
}

_WORDS = frozenset({"n_images", "images", "them"})
_ITEM_FIELDS = _WORDS | frozenset(
    {"question", "question_cleaned", "options_text", "question_with_options", "options_section", "intro", "answer_rule"}
)
_CONTINUE_FIELDS = _ITEM_FIELDS | frozenset({"task", "given_steps", "visual_recognition", "knowledge_recall"})
# template file name -> placeholders it may use
GENERATION_TEMPLATE_FIELDS: Mapping[str, frozenset[str]] = {
    SYSTEM_TEMPLATE: _ITEM_FIELDS,
    USER_IMAGE_TEMPLATE: _ITEM_FIELDS,
    USER_TEXT_ONLY_TEMPLATE: _ITEM_FIELDS,
    **{name: _CONTINUE_FIELDS for name in CONTINUATION_TEMPLATES.values()},
    INTRO_ONE_IMAGE: _WORDS,
    INTRO_SEVERAL_IMAGES: _WORDS,
    **{name: _WORDS for name in ANSWER_RULES.values()},
}
GENERATION_TEMPLATE_NAMES: tuple[str, ...] = tuple(GENERATION_TEMPLATE_FIELDS)

# Placeholders some releases leave in question texts; the framework sends the images itself.
_IMAGE_TOKEN_RE = re.compile(r"[ \t]*<image>[ \t]*\n?")


class PromptTemplateError(ClinHalluTasksError):
    """A generation template folder or file that cannot be used; the message names it."""


TEMPLATE_SET = TemplateSet(
    label="ClinHallu",
    packaged_dir=TEMPLATE_DIR,
    placeholders=GENERATION_TEMPLATE_FIELDS,
    stray_prefix="generation_",
    variable=ENV_PROMPT_TEMPLATES,
    error=PromptTemplateError,
    kind="generation",
)


def load_prompt_templates(override_dir: str | os.PathLike[str] | None = None) -> TemplateTexts:
    """Read the generation templates, same-named files in `override_dir` winning over the packaged ones.

    The folder a run uses comes from the settings (`Settings.prompt_templates_dir`, read from
    CLINHALLU_PROMPT_TEMPLATES once per evaluation); without one, the packaged wording.
    """
    return load(TEMPLATE_SET, override_dir)


@dataclass(frozen=True)
class Prompt:
    """What a model is sent for one item in one run: an optional system text and the user text."""

    system: str  # empty: send no system message
    user: str


def given_steps_for(run: Run) -> tuple[Step, ...]:
    """Steps a run hands to the model: its gold steps, plus the model's own baseline Visual
    Recognition for ``replace_kr``, in canonical order."""
    if run not in RUNS:
        raise ValueError(f"unknown run {run!r}; expected one of {', '.join(RUNS)}")
    given = set(GIVEN_GOLD_STEPS[run])
    if run == "replace_kr":
        given.add("visual_recognition")
    return tuple(s for s in STEPS if s in given)


def gold_given_steps(item: ClinHalluItem, run: Run, baseline_visual_recognition: str | None = None) -> dict[Step, str]:
    """The step texts to give the model in ``run``: gold texts from the item, and for
    ``replace_kr`` the model's own baseline Visual Recognition when it is passed (left out
    otherwise, so that ``build_prompt`` names it as missing)."""
    steps: dict[Step, str] = {}
    for step in given_steps_for(run):
        if step in GIVEN_GOLD_STEPS[run]:
            steps[step] = item.gold.step(step)
        elif baseline_visual_recognition is not None:
            steps[step] = baseline_visual_recognition
    return steps


def _collapse(text: str) -> str:
    return " ".join(text.split()).casefold()


def options_in_question(question: str, options: tuple[str, ...] | list[str]) -> bool:
    """Whether every option's text already appears in the question (MedXpertQA writes its
    options into the question), ignoring case and spacing."""
    if not options:
        return False
    haystack = _collapse(question)
    for option in options:
        text = _collapse(split_option(option)[1])
        if not text or text not in haystack:
            return False
    return True


def _answer_rule_template(item: ClinHalluItem, options_shown: bool, options_listed: bool) -> str:
    if options_shown:
        return ANSWER_RULES["options_listed" if options_listed else "options_in_question"]
    return ANSWER_RULES["yes_no" if item.question_type == "yes_no" else "open"]


def _check_given(run: Run, given_steps: Mapping[Step, str] | None) -> dict[Step, str]:
    needed = given_steps_for(run)
    given = dict(given_steps or {})
    extra = [s for s in given if s not in needed]
    if extra:
        raise ValueError(f"run {run!r} gives no step(s) {extra!r}; it gives {list(needed) or 'none'}")
    for step in needed:
        text = given.get(step)
        if not isinstance(text, str):
            raise ValueError(f"run {run!r} needs the given step {step!r}, which is missing")
        # The model's own baseline step is handed over as parsed, empty when that trace had none
        # (PROTOCOL §1.4, as the official pipeline does); a gold step is never empty.
        if step in GIVEN_GOLD_STEPS[run] and not text.strip():
            raise ValueError(f"run {run!r} needs the given gold step {step!r}, which is empty")
    return given


def _item_values(item: ClinHalluItem, templates: TemplateTexts) -> dict[str, str]:
    """Every placeholder value an item gives, the `generation_part_*` sentences filled in."""
    n_images = len(item.image_paths)
    several = n_images > 1
    words = {"n_images": str(n_images), "images": "images" if several else "image", "them": "them" if several else "it"}

    question = item.question
    cleaned = _IMAGE_TOKEN_RE.sub(" ", question).strip()
    options = tuple(item.options)
    options_listed = bool(options) and not options_in_question(cleaned, options)
    options_shown = bool(options) or item.question_type == "multiple_choice"
    # The listing as the official pipeline writes it: options verbatim, whether or not the question has them.
    listing = "Options:\n" + "\n".join(options) if options else ""
    rule = _answer_rule_template(item, options_shown, options_listed)
    return {
        **words,
        "question": question,
        "question_cleaned": cleaned,
        "options_text": listing + "\n\n" if options else "",
        "question_with_options": f"{question}\n\n{listing}" if options else question,
        "options_section": "\n\nOptions:\n" + "\n".join(o.strip() for o in options) if options_listed else "",
        "intro": fill(templates.text(INTRO_SEVERAL_IMAGES if several else INTRO_ONE_IMAGE), words),
        "answer_rule": fill(templates.text(rule), words),
    }


def build_prompt_parts(
    item: ClinHalluItem,
    run: Run,
    given_steps: Mapping[Step, str] | None = None,
    *,
    pre_prompt: str = "",
    post_prompt: str = "",
    templates: TemplateTexts | None = None,
) -> Prompt:
    """The system text and the user text for one item in one run.

    ``given_steps`` holds the steps that ``run`` hands over (see ``given_steps_for``); it is
    required for the replace runs, each gold step non-empty (``replace_kr``'s own baseline Visual
    Recognition may be empty), and must be empty for ``baseline``.
    ``pre_prompt`` and ``post_prompt`` are put before and after the user text as they are.
    ``templates`` defaults to those in effect (``load_prompt_templates()``); pass them when
    building many prompts.
    """
    given = _check_given(run, given_steps)
    templates = templates or load_prompt_templates()
    values = _item_values(item, templates)
    baseline = USER_IMAGE_TEMPLATE if item.image_paths else USER_TEXT_ONLY_TEMPLATE
    user = fill(templates.text(baseline), values)
    if run != "baseline":
        continuation = {
            **values,
            "task": user,
            "given_steps": render_steps(given),
            "visual_recognition": given.get("visual_recognition", ""),
            "knowledge_recall": given.get("knowledge_recall", ""),
        }
        user = fill(templates.text(CONTINUATION_TEMPLATES[run]), continuation)
    system = fill(templates.text(SYSTEM_TEMPLATE), values)
    return Prompt(system=system, user=pre_prompt + user + post_prompt)


def build_prompt(
    item: ClinHalluItem,
    run: Run,
    given_steps: Mapping[Step, str] | None = None,
    *,
    pre_prompt: str = "",
    post_prompt: str = "",
    templates: TemplateTexts | None = None,
) -> str:
    """The prompt as one text, for a caller that sends a single user message.

    With our wording (no system text) this is the user text. When the templates in effect
    have a system text, it comes first, then a blank line, then the user text: nothing is
    dropped, but a caller that reproduces the official requests sends the two apart
    (``build_prompt_parts`` or ``build_messages``).
    """
    prompt = build_prompt_parts(
        item, run, given_steps, pre_prompt=pre_prompt, post_prompt=post_prompt, templates=templates
    )
    return f"{prompt.system}\n\n{prompt.user}" if prompt.system else prompt.user


def build_messages(
    item: ClinHalluItem,
    run: Run,
    given_steps: Mapping[Step, str] | None = None,
    *,
    pre_prompt: str = "",
    post_prompt: str = "",
    templates: TemplateTexts | None = None,
) -> list[dict[str, Any]]:
    """Chat messages as the official pipeline lays them out: a system message when there is a
    system text, then the user message: the text, then each image (``{"type": "image_file",
    "path": ...}``, in the item's order); a plain string when the item has no images."""
    prompt = build_prompt_parts(
        item, run, given_steps, pre_prompt=pre_prompt, post_prompt=post_prompt, templates=templates
    )
    messages: list[dict[str, Any]] = [{"role": "system", "content": prompt.system}] if prompt.system else []
    if item.image_paths:
        content: list[dict[str, str]] = [{"type": "text", "text": prompt.user}]
        content += [{"type": "image_file", "path": os.path.abspath(p)} for p in item.image_paths]
        messages.append({"role": "user", "content": content})
    else:
        messages.append({"role": "user", "content": prompt.user})
    return messages
