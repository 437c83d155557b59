"""The MedHallTune judge: build one text-only request per answer, read the four scores back.

One call rates all four dimensions (PROTOCOL §2.2). The judge sees the figure caption in
place of the image, the question, the ground truth and the answer, plus LLaVA-Med's answer
to the same question with the review the benchmark's judge gave it, as a calibration sample.
HTTP, retries and the cache belong to `clinhallu_tasks.judging`; nothing here sends anything.

Templates live in `templates/*.txt` beside this module. A file of the same name in the
folder named by CLINHALLU_JUDGE_TEMPLATES replaces the packaged one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from clinhallu_tasks.errors import ClinHalluTasksError
from clinhallu_tasks.judging import JudgeRequest, VerdictFormatError
from clinhallu_tasks.medhalltune.records import MedHallTuneItem

logger = logging.getLogger("clinhallu_tasks")

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
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

# The tags the packaged templates put around inserted text. Inserted text that contains one
# of them is defused, so an answer cannot close its own block and pose as instructions.
_DATA_TAGS = re.compile(
    r"<(/?)\s*(caption|question|ground_truth|model_answer|sample_answer|sample_review)\s*>", re.IGNORECASE
)

# One score: a number from 1 to 10 (decimals allowed, as the benchmark's reader took floats).
_SCORE = r"(?:10(?:\.0+)?|[1-9](?:\.[0-9]+)?)"
_SCORE_LINE = re.compile(rf"[ \t]*({_SCORE})[ \t]+({_SCORE})[ \t]+({_SCORE})[ \t]+({_SCORE})[ \t]*")


class TemplateError(ClinHalluTasksError):
    """A judge template that cannot be used; the message names the file."""


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


@dataclass(frozen=True)
class JudgeTemplates:
    """The three template texts and where each came from (for provenance)."""

    system: str
    user: str
    calibration: str
    sources: Mapping[str, str]  # template file name -> path it was read from

    def fingerprint(self) -> str:
        """sha256 over the three effective templates, for provenance (changes when any is edited)."""
        digest = hashlib.sha256()
        for name, text in ((SYSTEM_TEMPLATE, self.system), (USER_TEMPLATE, self.user),
                           (CALIBRATION_TEMPLATE, self.calibration)):
            digest.update(name.encode() + b"\0" + text.encode("utf-8") + b"\0")
        return digest.hexdigest()


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


def load_templates(environ: Mapping[str, str] = os.environ) -> JudgeTemplates:
    """The packaged templates, each replaced by a same-named file in CLINHALLU_JUDGE_TEMPLATES."""
    override = environ.get(TEMPLATES_VARIABLE, "").strip()
    override_dir = Path(override).expanduser() if override else None
    if override_dir is not None and not override_dir.is_dir():
        raise TemplateError(f"{TEMPLATES_VARIABLE}={override}: no such directory.")
    if override_dir is not None:
        # The folder is shared with ClinHallu's templates; an unknown medhalltune_* file is most
        # likely a misspelt name, which would otherwise be ignored without a word.
        strays = sorted(p.name for p in override_dir.glob("medhalltune_*") if p.name not in _PLACEHOLDERS)
        if strays:
            logger.warning("%s: ignoring %s (MedHallTune judge templates are named %s)",
                           TEMPLATES_VARIABLE, strays, sorted(_PLACEHOLDERS))
    texts: dict[str, str] = {}
    sources: dict[str, str] = {}
    for name in (SYSTEM_TEMPLATE, USER_TEMPLATE, CALIBRATION_TEMPLATE):
        path = PACKAGED_TEMPLATES / name
        if override_dir is not None and (override_dir / name).is_file():
            path = override_dir / name
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateError(f"cannot read judge template {path}: {exc}") from None
        _check_template(path, name, text)
        texts[name] = text
        sources[name] = str(path)
    return JudgeTemplates(texts[SYSTEM_TEMPLATE], texts[USER_TEMPLATE], texts[CALIBRATION_TEMPLATE], sources)


def build_judge_messages(
    item: MedHallTuneItem, answer: str, templates: JudgeTemplates
) -> list[dict[str, str]]:
    """The chat messages for judging `answer` to `item` (text only: the caption stands in for the image).

    Without a reference (a gap in the released reference file) the calibration block is left out.
    """
    calibration = ""
    if item.reference is not None:
        block = _fill(
            templates.calibration,
            {"reference_answer": item.reference.answer, "reference_verdict": item.reference.verdict},
        )
        # Set off by blank lines whatever the template's own edges, so either form reads cleanly.
        calibration = f"\n{block.strip()}\n\n"
    user = _fill(
        templates.user,
        {
            "caption": item.caption,
            "question": item.question,
            "ground_truth": item.ground_truth,
            "answer": answer,
        },
        calibration=calibration,
    )
    return [
        {"role": "system", "content": templates.system.strip()},
        {"role": "user", "content": user.strip()},
    ]


def build_judge_request(item: MedHallTuneItem, answer: str, templates: JudgeTemplates) -> JudgeRequest:
    """`build_judge_messages` wrapped for the shared judge client."""
    return JudgeRequest(messages=build_judge_messages(item, answer, templates))




# ---------------------------------------------------------------- helpers


def _defuse(text: str) -> str:
    # `<model_answer>` -> `[model_answer]`: the content stays readable, the block stays closed.
    return _DATA_TAGS.sub(lambda m: f"[{m.group(1)}{m.group(2)}]", text)


def _fill(template: str, values: Mapping[str, str], *, calibration: str | None = None) -> str:
    """Substitute placeholders in one pass, so inserted text is never scanned for more of them."""
    replacements = {name: _defuse(value) for name, value in values.items()}
    if calibration is not None:
        replacements["calibration"] = calibration  # our own template output: not data
    return _PLACEHOLDER.sub(lambda m: replacements.get(m.group(1), m.group(0)), template)


def _check_template(path: Path, name: str, text: str) -> None:
    used = set(_PLACEHOLDER.findall(text))
    unknown = used - _PLACEHOLDERS[name]
    if unknown:
        allowed = ", ".join(f"{{{p}}}" for p in sorted(_PLACEHOLDERS[name])) or "none"
        raise TemplateError(
            f"judge template {path}: unknown placeholder(s) "
            f"{', '.join(f'{{{p}}}' for p in sorted(unknown))}; allowed here: {allowed}"
        )
    absent = _REQUIRED[name] - used
    if absent:
        raise TemplateError(
            f"judge template {path}: must contain {', '.join(f'{{{p}}}' for p in sorted(absent))}"
        )
