"""The MedHallTune judge: build one text-only request per answer, read the four scores back.

One call rates all four dimensions (PROTOCOL §2.2). The judge sees the figure caption in
place of the image, the question, the ground truth and the answer, plus LLaVA-Med's answer
to the same question with the review the benchmark's judge gave it, as a calibration sample.
HTTP, retries and the cache belong to `clinhallu_tasks.judging`; nothing here sends anything.

Templates live in `templates/*.txt` beside this module. A file of the same name in the
folder the settings name (`Settings.judge_templates_dir`, from CLINHALLU_JUDGE_TEMPLATES)
replaces the packaged one. A file's text is used
exactly, less one final newline, and the fields are inserted as given, so that the templates
`clinhallu-tasks import-prompts` writes send what the benchmark's `wrap_eval_message` sends.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from clinhallu_tasks.errors import ClinHalluTasksError
from clinhallu_tasks.judging import JudgeRequest, VerdictFormatError
from clinhallu_tasks.judging.templates import PLACEHOLDER, TemplateSet, TemplateTexts, fill, load, template_tags
from clinhallu_tasks.medhalltune.records import MedHallTuneItem

TEMPLATES_VARIABLE = "CLINHALLU_JUDGE_TEMPLATES"
PACKAGED_TEMPLATES = Path(__file__).parent / "templates"

SYSTEM_TEMPLATE = "medhalltune_judge_system.txt"
USER_TEMPLATE = "medhalltune_judge_user.txt"
CALIBRATION_TEMPLATE = "medhalltune_judge_calibration.txt"

# The dimensions in the order the verdict's first line gives them. The benchmark's code
# calls the fourth "Lethal Level"; the paper and our metric names call it Risk Level.
DIMENSIONS: tuple[str, ...] = ("clinical_accuracy", "clinical_relevance", "detail_level", "risk_level")

# Placeholders each template may use; anything else in braces that looks like one is a typo.
_PLACEHOLDERS: dict[str, frozenset[str]] = {
    SYSTEM_TEMPLATE: frozenset(),
    USER_TEMPLATE: frozenset({"caption", "question", "ground_truth", "answer", "calibration"}),
    CALIBRATION_TEMPLATE: frozenset({"reference_answer", "reference_verdict"}),
}
_REQUIRED: dict[str, frozenset[str]] = {
    SYSTEM_TEMPLATE: frozenset(),
    USER_TEMPLATE: frozenset({"answer"}),  # a prompt without the answer cannot rate it
    CALIBRATION_TEMPLATE: frozenset(),
}

# One score: a number from 1 to 10 (decimals allowed, as the benchmark's reader took floats).
_SCORE = r"(?:10(?:\.0+)?|[1-9](?:\.[0-9]+)?)"
_SCORE_LINE = re.compile(rf"[ \t]*({_SCORE})[ \t]+({_SCORE})[ \t]+({_SCORE})[ \t]+({_SCORE})[ \t]*")


class TemplateError(ClinHalluTasksError):
    """A judge template that cannot be used; the message names the file."""


TEMPLATE_SET = TemplateSet(
    label="MedHallTune",
    packaged_dir=PACKAGED_TEMPLATES,
    placeholders=_PLACEHOLDERS,
    required=_REQUIRED,
    # The override folder is shared with ClinHallu's templates: only medhalltune_* are ours.
    stray_prefix="medhalltune_",
    variable=TEMPLATES_VARIABLE,
    error=TemplateError,
)


@dataclass(frozen=True)
class Verdict:
    """The judge's four scores (1-10, higher is better) and its explanation."""

    clinical_accuracy: float
    clinical_relevance: float
    detail_level: float
    risk_level: float
    explanation: str

    def scores(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in DIMENSIONS}


def parse_verdict(reply: str) -> Verdict:
    """Read the benchmark's verdict format or raise VerdictFormatError.

    The format: a first line holding exactly four scores from 1 to 10 separated by spaces,
    then a non-empty explanation on the following lines. Leading blank lines are skipped;
    nothing else is forgiven (no commas, no Markdown, no words on the score line).
    """
    if not isinstance(reply, str):
        raise VerdictFormatError(f"expected the judge's reply text, got {type(reply).__name__}")
    text = reply.lstrip("\r\n \t")
    first, _, rest = text.partition("\n")
    match = _SCORE_LINE.fullmatch(first.rstrip("\r"))
    if match is None:
        raise VerdictFormatError(
            f"first line must be four scores from 1 to 10 separated by spaces, got {first[:80]!r}"
        )
    explanation = rest.strip()
    if not explanation:
        raise VerdictFormatError("the four scores must be followed by an explanation on the next lines")
    a, b, c, d = (float(group) for group in match.groups())
    return Verdict(a, b, c, d, explanation)


def load_templates(override_dir: str | os.PathLike[str] | None = None) -> TemplateTexts:
    """The packaged templates, each replaced by a same-named file in `override_dir` (when given)."""
    return load(TEMPLATE_SET, override_dir)


def build_judge_messages(
    item: MedHallTuneItem, answer: str, templates: TemplateTexts
) -> list[dict[str, str]]:
    """The chat messages for judging `answer` to `item` (text only: the caption stands in for the image).

    The user template decides where the calibration sample goes: at its `{calibration}`
    placeholder (our wording), set off by blank lines; or, without that placeholder, in a second
    user message of its own (the benchmark's layout, which the imported templates have).
    Without a reference (a gap in the released reference file) the calibration is left out.
    Inserted text is defused against the tags of all three templates (`judging.templates.fill`).
    """
    tags = template_tags(*templates.texts.values())
    calibration: str | None = None
    if item.reference is not None:
        calibration = fill(
            templates.text(CALIBRATION_TEMPLATE),
            {"reference_answer": item.reference.answer, "reference_verdict": item.reference.verdict},
            defuse_tags=tags,
        )
    user_template = templates.text(USER_TEMPLATE)
    inline = "calibration" in PLACEHOLDER.findall(user_template)
    # Set off by blank lines whatever the template's own edges, so either form reads cleanly.
    block = f"\n{calibration.strip()}\n\n" if inline and calibration is not None else ""
    user = fill(
        user_template,
        {"caption": item.caption, "question": item.question, "ground_truth": item.ground_truth, "answer": answer},
        defuse_tags=tags,
        verbatim={"calibration": block},  # our own template's output: not data
    )
    messages = [{"role": "system", "content": templates.text(SYSTEM_TEMPLATE)}, {"role": "user", "content": user}]
    if not inline and calibration is not None:
        messages.append({"role": "user", "content": calibration})
    return messages


def build_judge_request(item: MedHallTuneItem, answer: str, templates: TemplateTexts) -> JudgeRequest:
    """`build_judge_messages` wrapped for the shared judge client."""
    return JudgeRequest(messages=build_judge_messages(item, answer, templates))
