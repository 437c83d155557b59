"""`import-prompts`: turn the official prompt constants of a user's checkout into our template files.

We may not ship the benchmarks' own prompt wording, so a user who must reproduce the published
leaderboard imports it from their own checkout: the constants are read from the Python source
(never imported or run), converted to our template format and written to a folder, with a
manifest that records where each file came from. Pointing `CLINHALLU_PROMPT_TEMPLATES` and
`CLINHALLU_JUDGE_TEMPLATES` at that folder makes our builders send the official wording.

Conversion: a constant the official code fills with `str.format` has its `{{`/`}}` escapes
undone and each `{field}` renamed to our placeholder for the same value; a constant it sends
as it is is copied as it is. Two texts are not constants: the step judges' sentence for an
empty support context is the string literal `_build_support_context` falls back to, and
MedHallTune's messages are the f-strings `wrap_eval_message` writes. A text whose literal
part would read as one of our placeholders is refused rather than written wrong.
"""

from __future__ import annotations

import ast
import hashlib
import json
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from clinhallu_tasks.clinhallu import judges as clinhallu_judges
from clinhallu_tasks.clinhallu import prompts
from clinhallu_tasks.judging.templates import PLACEHOLDER, TemplateSet, check_placeholders
from clinhallu_tasks.medhalltune import judge as medhalltune_judge
from clinhallu_tasks.official.source import (
    OfficialPromptError,
    SourceFile,
    fstring_template,
    git_commit,
    parse_source,
    string_constant,
)

MANIFEST_FORMAT = "clinhallu-tasks/official-prompts/v1"
MANIFEST_PREFIX = "import-prompts-"  # import-prompts-<benchmark>.json, one per imported repository

_GENERATION = prompts.TEMPLATE_SET
_CLINHALLU_JUDGE = clinhallu_judges.TEMPLATE_SET
_MEDHALLTUNE_JUDGE = medhalltune_judge.TEMPLATE_SET


@dataclass(frozen=True)
class ConstantSpec:
    """One official constant and the template files it becomes."""

    module: str  # path inside the checkout
    name: str
    files: tuple[str, ...]
    fields: Mapping[str, str] | None  # its str.format field -> our placeholder; None: sent as it is


_STEP_FIELDS = {
    "question": "question",
    "ground_truth": "ground_truth",
    "reference_text": "reference",
    "candidate_text": "candidate",
    "support_context": "support_context",
}
_COT = "prompts/cot_generation.py"
_ANSWER_JUDGE = "prompts/judge.py"
_STEP_JUDGE = "prompts/step_hallucination_judge.py"
# The step judge's code: `_build_support_context` returns `<the lines> or "<sentence>"`.
SUPPORT_MODULE = "src/model_evaluation/step_hallucination_judge.py"
SUPPORT_FUNCTION = "_build_support_context"

# What the official ClinHallu pipeline sends (src/model_evaluation/01_generate_cot.py,
# answer_judge.py, step_hallucination_judge.py): the user prompts are filled with
# str.format, the system prompts are sent as they are.
CLINHALLU_CONSTANTS: tuple[ConstantSpec, ...] = (
    ConstantSpec(_COT, "COT_SYSTEM_PROMPT", (prompts.SYSTEM_TEMPLATE,), None),
    ConstantSpec(
        _COT, "COT_USER_PROMPT_WITH_IMAGE", (prompts.USER_IMAGE_TEMPLATE,),
        {"question": "question", "options_text": "options_text"},
    ),
    ConstantSpec(
        _COT, "COT_USER_PROMPT_TEXT_ONLY", (prompts.USER_TEXT_ONLY_TEMPLATE,),
        {"question": "question", "options_text": "options_text"},
    ),
    # The continuations get the question with its options appended (format_question_with_options).
    ConstantSpec(
        _COT, "CONTINUE_FROM_VR_PROMPT", (prompts.CONTINUATION_TEMPLATES["replace_vr"],),
        {"question": "question_with_options", "visual_recognition": "visual_recognition"},
    ),
    ConstantSpec(
        _COT, "CONTINUE_FROM_KR_PROMPT", (prompts.CONTINUATION_TEMPLATES["replace_kr"],),
        {
            "question": "question_with_options",
            "visual_recognition": "visual_recognition",
            "knowledge_recall": "knowledge_recall",
        },
    ),
    ConstantSpec(
        _COT, "CONTINUE_FROM_VR_KR_PROMPT", (prompts.CONTINUATION_TEMPLATES["replace_vr_kr"],),
        {
            "question": "question_with_options",
            "visual_recognition": "visual_recognition",
            "knowledge_recall": "knowledge_recall",
        },
    ),
    ConstantSpec(_ANSWER_JUDGE, "ANSWER_JUDGE_SYSTEM_PROMPT", ("clinhallu_answer_system.txt",), None),
    ConstantSpec(
        _ANSWER_JUDGE, "ANSWER_JUDGE_USER_PROMPT_TEMPLATE", ("clinhallu_answer_user.txt",),
        {"question": "question", "ground_truth": "ground_truth", "predicted_answer": "model_answer"},
    ),
    ConstantSpec(
        _STEP_JUDGE, "STEP_HALLUCINATION_JUDGE_SYSTEM_PROMPT",
        tuple(f"clinhallu_step_{step}_system.txt" for step in ("visual_recognition", "knowledge_recall", "reasoning")),
        None,
    ),
    ConstantSpec(
        _STEP_JUDGE, "VR_HALLUCINATION_JUDGE_USER_PROMPT_TEMPLATE",
        ("clinhallu_step_visual_recognition_user.txt",), _STEP_FIELDS,
    ),
    ConstantSpec(
        _STEP_JUDGE, "KR_HALLUCINATION_JUDGE_USER_PROMPT_TEMPLATE",
        ("clinhallu_step_knowledge_recall_user.txt",), _STEP_FIELDS,
    ),
    ConstantSpec(
        _STEP_JUDGE, "REASONING_HALLUCINATION_JUDGE_USER_PROMPT_TEMPLATE",
        ("clinhallu_step_reasoning_user.txt",), _STEP_FIELDS,
    ),
)

# MedHallTune (agent.py): the instruction constant sits inside a user message that
# wrap_eval_message writes with f-strings from the record's fields.
MEDHALLTUNE_MODULE = "agent.py"
MEDHALLTUNE_CONSTANT = "INSTRUCTION_PROMPT"
MEDHALLTUNE_FUNCTION = "wrap_eval_message"
_MEDHALLTUNE_RECORD_FIELDS = {  # record field -> our placeholder
    "fig_caption": "caption",
    "question": "question",
    "answer": "answer",
    "gpt4_answer": "ground_truth",
    "reference_answers": "reference_answer",
    "reference_scores": "reference_verdict",
}


@dataclass(frozen=True)
class TemplateFile:
    name: str
    text: str
    origin: str  # "<module>:<CONSTANT>" (or a function) it was read from
    kind: str  # "generation" or "judge"


@dataclass(frozen=True)
class ImportResult:
    benchmark: str  # "clinhallu" or "medhalltune"
    repository: str
    commit: str | None
    out_dir: Path
    files: Mapping[str, str]  # file name -> sha256 of the file written
    manifest: Path


def detect(checkout: Path) -> str:
    """Which benchmark's checkout `checkout` is: "clinhallu" or "medhalltune"."""
    if (checkout / _COT).is_file():
        return "clinhallu"
    if (checkout / MEDHALLTUNE_MODULE).is_file():
        return "medhalltune"
    raise OfficialPromptError(
        f"{checkout}: neither {_COT} (alibaba-damo-academy/ClinHallu) nor {MEDHALLTUNE_MODULE} "
        "(russellyq/MedHallTune) is there; give the root of a checkout of one of them"
    )


def import_prompts(checkout: str | Path, out_dir: str | Path) -> ImportResult:
    """Read the official prompts of `checkout` and write them as our templates into `out_dir`.

    Everything is read and checked before anything is written, so a failed import leaves
    `out_dir` as it was.
    """
    checkout = Path(checkout).expanduser().resolve()
    if not checkout.is_dir():
        raise OfficialPromptError(f"{checkout}: no such directory")
    benchmark = detect(checkout)
    if benchmark == "clinhallu":
        repository, templates = "alibaba-damo-academy/ClinHallu", clinhallu_templates(checkout)
    else:
        repository, templates = "russellyq/MedHallTune", medhalltune_templates(checkout)

    for template in templates:
        if "\r" in template.text:  # our loaders read text mode, which would turn it into a newline
            raise OfficialPromptError(f"{checkout / template.origin.split(':')[0]}: {template.origin} holds a "
                                      "carriage return, which a template file cannot keep")
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, str]] = {}
    for template in templates:
        data = (template.text + "\n").encode("utf-8")  # our loaders drop (generation) or strip (judges) it
        (out / template.name).write_bytes(data)
        files[template.name] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "from": template.origin,
            "kind": template.kind,
        }
    commit = git_commit(checkout)
    manifest = {
        "format": MANIFEST_FORMAT,
        "repository": repository,
        "checkout": str(checkout),
        "commit": commit,
        "imported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": files,
    }
    manifest_path = out / f"{MANIFEST_PREFIX}{benchmark}.json"
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return ImportResult(
        benchmark=benchmark,
        repository=repository,
        commit=commit,
        out_dir=out,
        files={name: entry["sha256"] for name, entry in files.items()},
        manifest=manifest_path,
    )


def clinhallu_templates(checkout: Path) -> list[TemplateFile]:
    """The ClinHallu template files from the checkout's prompt constants and its step judge's sentence
    for an empty support context."""
    sources: dict[str, SourceFile] = {}
    result: list[TemplateFile] = []
    for spec in CLINHALLU_CONSTANTS:
        if spec.module not in sources:
            sources[spec.module] = parse_source(checkout / spec.module)
        source = sources[spec.module]
        value = string_constant(source, spec.name)
        text = _as_template(source.path, spec.name, value, spec.fields)
        for name in spec.files:
            template_set = _GENERATION if name.startswith("generation_") else _CLINHALLU_JUDGE
            _check(template_set, name, text, source.path, spec.name)
            result.append(TemplateFile(name, text, f"{spec.module}:{spec.name}", template_set.kind))
    source = parse_source(checkout / SUPPORT_MODULE)
    sentence = _join_pieces(source.path, f"{SUPPORT_FUNCTION}()", [(_fallback_literal(source), None)])
    for step in clinhallu_judges.SUPPORTED_STEPS:
        name = f"clinhallu_step_{step}_no_support.txt"
        _check(_CLINHALLU_JUDGE, name, sentence, source.path, SUPPORT_FUNCTION)
        result.append(TemplateFile(name, sentence, f"{SUPPORT_MODULE}:{SUPPORT_FUNCTION}", "judge"))
    return result


def _fallback_literal(source: SourceFile) -> str:
    """The string `_build_support_context` returns when it has no line: the last operand of the
    `... or "<sentence>"` it returns."""
    function = source.function(SUPPORT_FUNCTION)
    returned = [node.value for node in ast.walk(function) if isinstance(node, ast.Return) and node.value is not None]
    if len(returned) == 1 and isinstance(returned[0], ast.BoolOp) and isinstance(returned[0].op, ast.Or):
        last = returned[0].values[-1]
        if isinstance(last, ast.Constant) and isinstance(last.value, str):
            return last.value
    line = returned[0].lineno if returned else function.lineno
    raise OfficialPromptError(
        f"{source.path}, line {line}: {SUPPORT_FUNCTION}() should end in one `return <lines> or \"<sentence>\"`; "
        "the import reads the sentence it writes for an empty support context from there"
    )


def medhalltune_templates(checkout: Path) -> list[TemplateFile]:
    """The MedHallTune judge template files from agent.py: its system message, its user message
    (the instruction constant inlined) and its calibration message."""
    source = parse_source(checkout / MEDHALLTUNE_MODULE)
    instruction = string_constant(source, MEDHALLTUNE_CONSTANT)
    function = source.function(MEDHALLTUNE_FUNCTION)
    where = f"{MEDHALLTUNE_FUNCTION}()"
    fields, local_texts = _record_locals(function)
    messages = _returned_messages(source, function, where)
    roles = [role for role, _ in messages]
    if roles != ["system", "user", "user"]:
        raise OfficialPromptError(
            f"{source.path}: {where} builds messages with roles {roles}; the import knows the layout "
            "system, user (the answer to rate), user (the calibration sample)"
        )
    texts: list[str] = []
    for index, (_, content) in enumerate(messages):
        if isinstance(content, ast.Name) and content.id in local_texts:
            content = local_texts[content.id]
        pieces = fstring_template(
            source, f"{where} message {index + 1}", content, fields, {MEDHALLTUNE_CONSTANT: instruction}
        )
        texts.append(_join_pieces(source.path, f"{where} message {index + 1}", pieces))
    system, user, calibration = texts
    origin = f"{MEDHALLTUNE_MODULE}:{MEDHALLTUNE_FUNCTION}"
    files = [
        TemplateFile(medhalltune_judge.SYSTEM_TEMPLATE, system, origin, "judge"),
        # Without a {calibration} placeholder our builder sends the calibration as a message of its own.
        TemplateFile(medhalltune_judge.USER_TEMPLATE, user, f"{origin}+{MEDHALLTUNE_CONSTANT}", "judge"),
        TemplateFile(medhalltune_judge.CALIBRATION_TEMPLATE, calibration, origin, "judge"),
    ]
    for file in files:
        _check(_MEDHALLTUNE_JUDGE, file.name, file.text, source.path, file.origin)
    return files


# ---------------------------------------------------------------- helpers

def _as_template(path: Path, constant: str, value: str, fields: Mapping[str, str] | None) -> str:
    """`value` in our template format: renamed fields and undone escapes when the official code
    fills it with str.format (`fields` given), the text as it is otherwise."""
    if fields is None:
        return _join_pieces(path, constant, [(value, None)])
    try:
        parsed = list(string.Formatter().parse(value))
    except ValueError as exc:
        raise OfficialPromptError(f"{path}: constant {constant} is not a str.format template: {exc}") from None
    pieces: list[tuple[str, str | None]] = []
    for literal, field, spec, conversion in parsed:
        pieces.append((literal, None))
        if field is None:
            continue
        if spec or conversion or field not in fields:
            known = ", ".join(f"{{{f}}}" for f in fields)
            raise OfficialPromptError(
                f"{path}: constant {constant} has the field {{{field}"
                f"{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}; "
                f"the official code fills only {known}"
            )
        pieces.append(("", fields[field]))
    return _join_pieces(path, constant, pieces)


def _join_pieces(path: Path, where: str, pieces: list[tuple[str, str | None]]) -> str:
    out: list[str] = []
    for literal, placeholder in pieces:
        if placeholder is not None:
            out.append(f"{{{placeholder}}}")
            continue
        clash = PLACEHOLDER.search(literal)
        if clash:
            raise OfficialPromptError(
                f"{path}: {where} contains the literal text {clash.group(0)!r}, which our templates would read "
                "as a placeholder; it cannot be imported faithfully"
            )
        out.append(literal)
    return "".join(out)


def _check(template_set: TemplateSet, name: str, text: str, path: Path, origin: str) -> None:
    """The written file must load; a failure here is a gap between the two formats, said plainly."""
    try:
        check_placeholders(template_set, name, text, name)
    except Exception as exc:  # noqa: BLE001  (each set raises its own error class)
        raise OfficialPromptError(f"{path}: {origin} does not fit {name}: {exc}") from None


def _record_locals(function: ast.FunctionDef) -> tuple[dict[str, str], dict[str, ast.expr]]:
    """Local names bound to a record field (`x = sample["f"]` or `sample.get("f")`) -> our
    placeholder, and local names bound to a string or f-string."""
    fields: dict[str, str] = {}
    texts: dict[str, ast.expr] = {}
    for node in ast.walk(function):
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        name, value = node.targets[0].id, node.value
        key = _record_key(value)
        if key is not None and key in _MEDHALLTUNE_RECORD_FIELDS:
            fields[name] = _MEDHALLTUNE_RECORD_FIELDS[key]
        elif isinstance(value, ast.JoinedStr) or (isinstance(value, ast.Constant) and isinstance(value.value, str)):
            texts[name] = value
    return fields, texts


def _record_key(node: ast.expr) -> str | None:
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
        return node.slice.value
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return node.args[0].value
    return None


def _returned_messages(source: SourceFile, function: ast.FunctionDef, where: str) -> list[tuple[str, ast.expr]]:
    """`(role, content expression)` of each message in the list the function returns."""
    assigned = {
        node.targets[0].id: node.value
        for node in ast.walk(function)
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
    }
    returned = [node.value for node in ast.walk(function) if isinstance(node, ast.Return) and node.value is not None]
    if len(returned) != 1:
        raise OfficialPromptError(f"{source.path}: {where} should have one return of its message list")
    value = returned[0]
    if isinstance(value, ast.Name):
        value = assigned.get(value.id, value)
    if not isinstance(value, ast.List):
        raise OfficialPromptError(f"{source.path}, line {value.lineno}: {where} does not return a list of messages")
    messages: list[tuple[str, ast.expr]] = []
    for element in value.elts:
        entry = (
            {k.value: v for k, v in zip(element.keys, element.values, strict=True) if isinstance(k, ast.Constant)}
            if isinstance(element, ast.Dict)
            else {}
        )
        role = entry.get("role")
        if not (isinstance(role, ast.Constant) and isinstance(role.value, str)) or "content" not in entry:
            raise OfficialPromptError(
                f"{source.path}, line {element.lineno}: {where} has a message that is not "
                '{"role": <text>, "content": ...}'
            )
        messages.append((role.value, entry["content"]))
    return messages
