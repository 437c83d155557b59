"""The text prompt a model gets in each ClinHallu run (PROTOCOL §1.3-1.4).

The images travel separately (the framework attaches them, in the item's order), so the
text carries no image placeholder. One prompt shape serves every run: the question, the
format with its rules, and for the stage-replacement runs the steps already written,
which the model continues.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from clinhallu_tasks.clinhallu.items import GIVEN_GOLD_STEPS, RUNS, STEPS, ClinHalluItem, Run, Step
from clinhallu_tasks.clinhallu.trace import ANSWER_HEADER, STEP_HEADERS, render_steps
from clinhallu_tasks.metrics.answer_match import split_option

__all__ = ["build_prompt", "given_steps_for", "gold_given_steps", "options_in_question"]

# Placeholders some releases leave in question texts; the framework sends the images itself.
_IMAGE_TOKEN_RE = re.compile(r"[ \t]*<image>[ \t]*\n?")

_STEP_RULES: Mapping[Step, str] = {
    "visual_recognition": (
        "Describe only what can be seen in the {images}: the kind of image and view, the "
        "anatomy shown, and each visible finding with its location, size, shape and "
        "appearance. This step stands on its own: do not mention the question and do not "
        "name a diagnosis or interpret what the findings mean."
    ),
    "knowledge_recall": (
        "State the medical knowledge this question depends on, such as definitions, "
        "typical features, criteria and associations. This step stands on its own: do not "
        "refer to the {images} or to anything seen in {them}."
    ),
    "reasoning": (
        "Bring what you saw and what you recalled together, step by step, to reach your "
        "conclusion. Finish this step with the answer line."
    ),
}


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


def _answer_rule(item: ClinHalluItem, options_shown: bool, options_listed: bool) -> str:
    if options_shown:
        where = "listed above" if options_listed else "given in the question"
        return (
            f"Choose one of the options {where}. On the answer line write its letter followed "
            "by its text, as in: [Answer] <letter>. <text of that option>"
        )
    no_letters = "There are no answer options, so do not write any option letter."
    if item.question_type == "yes_no":
        return f"Answer with exactly one word, yes or no, in lower case. {no_letters}"
    return f"Give a short answer, a word or a short phrase rather than a sentence. {no_letters}"


def build_prompt(
    item: ClinHalluItem,
    run: Run,
    given_steps: Mapping[Step, str] | None = None,
    *,
    pre_prompt: str = "",
    post_prompt: str = "",
) -> str:
    """The prompt text for one item in one run.

    ``given_steps`` holds the steps that ``run`` hands over (see ``given_steps_for``); it is
    required, each step non-empty, for the replace runs, and must be empty for ``baseline``.
    ``pre_prompt`` and ``post_prompt`` are put before and after the text as they are.
    """
    needed = given_steps_for(run)
    given = dict(given_steps or {})
    extra = [s for s in given if s not in needed]
    if extra:
        raise ValueError(f"run {run!r} gives no step(s) {extra!r}; it gives {list(needed) or 'none'}")
    for step in needed:
        text = given.get(step)
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"run {run!r} needs the given step {step!r}, which is missing or empty")

    n_images = len(item.image_paths)
    several = n_images > 1
    images = "images" if several else "image"
    them = "them" if several else "it"

    question = _IMAGE_TOKEN_RE.sub(" ", item.question).strip()
    options = tuple(item.options)
    options_listed = bool(options) and not options_in_question(question, options)
    options_shown = bool(options) or item.question_type == "multiple_choice"

    parts: list[str] = []
    if several:
        parts.append(
            f"You are shown {n_images} medical images, attached in order (the first image "
            "first), and a question about them."
        )
    else:
        parts.append("You are shown a medical image and a question about it.")
    parts.append(f"Question: {question}")
    if options_listed:
        parts.append("Options:\n" + "\n".join(o.strip() for o in options))

    layout = [
        "Work through the question in three steps, then give your answer. Write each step "
        "under its header, spelled exactly as below and in this order, each header on a "
        "line of its own:"
    ]
    for step in STEPS:
        rule = _STEP_RULES[step].format(images=images, them=them)
        layout.append(f"{STEP_HEADERS[step]}\n{rule}")
    layout.append(f"{ANSWER_HEADER} <your final answer>")
    parts.append("\n\n".join(layout))

    parts.append(
        f"Rules for the answer line: it starts with {ANSWER_HEADER} and holds only the final "
        f"answer. {_answer_rule(item, options_shown, options_listed)}"
    )

    if needed:
        remaining = [STEP_HEADERS[s] for s in STEPS if s not in needed]
        done_word = "step has" if len(needed) == 1 else "steps have"
        todo = remaining[0] if len(remaining) == 1 else " and ".join(remaining)
        todo_word = "step" if len(remaining) == 1 else "steps"
        parts.append(
            f"The first {done_word} already been written and {'is' if len(needed) == 1 else 'are'} "
            "final:\n\n" + render_steps({s: given[s] for s in needed})
        )
        parts.append(
            f"Continue from here. Write the remaining {todo_word}, {todo}, under "
            f"{'its header' if len(remaining) == 1 else 'their headers'} in the same format, "
            f"then finish with the {ANSWER_HEADER} line. Do not repeat or rewrite the "
            f"{'step' if len(needed) == 1 else 'steps'} above."
        )

    return pre_prompt + "\n\n".join(parts) + post_prompt
