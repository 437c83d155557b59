"""Reading a model's ClinHallu trace (PROTOCOL §1.3): pure functions, no I/O.

A trace is three steps under bracketed headers, then the answer::

    [Visual Recognition]
    ...
    [Knowledge Recall]
    ...
    [Reasoning]
    ...
    [Answer] <final answer>

What the parser tolerates (layout around the headers, never a different structure):

- header spelling: any letter case, any run of spaces or tabs between and inside the
  bracketed words (``[visual  recognition]``, ``[ Reasoning ]``), an optional colon after
  the bracket (``[Reasoning]:``), markdown emphasis around it (``**[Reasoning]**``,
  ``**[Reasoning]:**``);
- a step header must start a line, after optional markdown decoration: heading marks
  (``## [Reasoning]``), emphasis, list bullets, blockquote marks, a short list number
  (``1. [Visual Recognition]``) or a step number (``Step 1: [Visual Recognition]``,
  ``**Step 2 -** [Knowledge Recall]``, ``(Step 3) [Reasoning]``). A bracketed step name in
  the middle of a line is prose (models write "from the [Visual Recognition] above"), not
  a header; a step number before an unbracketed name does not make it one;
- ``[Answer]`` is recognised at the start of a line and also inside a line once the
  ``[Reasoning]`` header has been seen, because the format asks the Reasoning step to end
  with it and models often put it after the last sentence of their reasoning (a mention
  inside a line before that, as in a preamble that echoes the format, is prose);
- thinking: everything up to and including the first ``</think>`` is dropped, whether or
  not the opening ``<think>`` is in the text (chat templates often put the opening tag in
  the prompt). A response that opens with ``<think>`` and never closes it has no marked
  end of thinking: the text after the tag is read as a response (drafts in it give way to
  a later complete trace, see below), and if no valid trace is found the reason is
  ``unclosed_think``. ``Trace.thinking_block`` says whether a thinking block was there;
- text before the first header is ignored.

Which trace is read: a response may write the trace out more than once ("Revised
answer:" and a second full trace). The trace is read from a ``[Visual Recognition]``
header on, and the last such header from which a complete valid trace follows wins. When
none gives a valid trace, the whole text is read as one trace (for the steps it has and
the reason it fails). Within the trace read, the first occurrence of each header wins;
every recognised header (first occurrences and repeats) ends the section before it, and
the text under a repeated header is dropped, so a stray header after the answer or a
partial restatement does not replace a step. A step's text is everything between its
header and the next recognised header, whitespace-trimmed, with trailing markdown rules
(``---``) removed. So the ``[Answer]`` line is never part of the Reasoning text. The
answer is the first non-empty line after ``[Answer]`` (on its own line or the next ones,
up to the next header), with surrounding markdown emphasis, backticks and quotes removed.

There is no guessing: a step without its header is missing, however the prose reads.

Where this reading differs from the official parser's, and why (issue #10):

- the official parser finds the exact-case bracketed names anywhere in the text, so a
  step named in the middle of a sentence starts a new section there; ours needs a header
  to open a line and accepts any case and spacing. Both read step-numbered headers, but
  the official reading leaves "Step 2:" at the end of the step before;
- the official parser keeps, header by header, the last non-empty occurrence, so a
  revised Reasoning after the answer, or a stray header, mixes two versions into one
  trace; ours takes the last complete trace as a whole;
- the official parser does not know thinking blocks (the official runs switch thinking
  off) and reads headers inside one; ours drops a closed block, since it is a draft and
  not the response, even when the response after it is incomplete.

Validity (PROTOCOL §1.3): each step present with at least 3 words (whitespace-separated)
and a non-empty answer. ``Trace.invalid_reason`` names the first failing check, in this
order:

==============================  ==========================================================
``empty_response``              nothing but whitespace (also: nothing after ``</think>``)
``unclosed_think``              opens ``<think>``, never closes it, and holds no valid trace
``missing_visual_recognition``  no ``[Visual Recognition]`` header
``short_visual_recognition``    the header is there, its text has fewer than 3 words
``missing_knowledge_recall``    no ``[Knowledge Recall]`` header
``short_knowledge_recall``      fewer than 3 words under it
``missing_reasoning``           no ``[Reasoning]`` header
``short_reasoning``             fewer than 3 words under it
``missing_answer``              no ``[Answer]`` header
``empty_answer``                ``[Answer]`` with nothing after it before the next header
==============================  ==========================================================

An invalid trace still carries every step it has (the step judges read present steps of
invalid traces too); only ``empty_response`` leaves all fields empty.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from clinhallu_tasks.clinhallu.items import STEPS, Step

__all__ = [
    "ANSWER_HEADER",
    "INVALID_REASONS",
    "MIN_STEP_WORDS",
    "STEP_HEADERS",
    "Trace",
    "join_trace",
    "parse_trace",
    "render_steps",
]

STEP_HEADERS: Mapping[Step, str] = {
    "visual_recognition": "[Visual Recognition]",
    "knowledge_recall": "[Knowledge Recall]",
    "reasoning": "[Reasoning]",
}
ANSWER_HEADER = "[Answer]"
MIN_STEP_WORDS = 3

INVALID_REASONS: tuple[str, ...] = (
    "empty_response",
    "unclosed_think",
    "missing_visual_recognition",
    "short_visual_recognition",
    "missing_knowledge_recall",
    "short_knowledge_recall",
    "missing_reasoning",
    "short_reasoning",
    "missing_answer",
    "empty_answer",
)

_ANSWER = "answer"

# The bracket is a literal first character, so the regex engine skips ahead to each "["
# instead of trying every position: this is what keeps the parser fast on long traces.
# Spaces are any whitespace but a line break (models emit no-break spaces too).
# Group numbers give the header kind (see _KINDS). After the bracket: emphasis closing
# right away, then an optional colon, possibly followed by its own emphasis closing.
_HEADER_RE = re.compile(
    r"\[[^\S\r\n]*(?:(visual[^\S\r\n]+recognition)|(knowledge[^\S\r\n]+recall)|(reasoning)|(answer))[^\S\r\n]*\]"
    r"(?:\*\*|__|\*|_)?(?:[ \t]*:(?:\*\*|__|\*|_)?)?",
    re.IGNORECASE,
)
_KINDS: tuple[str, ...] = ("", "visual_recognition", "knowledge_recall", "reasoning", _ANSWER)

# What may stand between the start of a line and a step header: whitespace, heading marks,
# emphasis, bullets, blockquote marks, a list number such as "1." or "2)", and a step number
# ("Step 1:", "(Step 2)", "Step 3 -"). Every piece starts with a character no other piece
# can match, so a failed match never backtracks through the alternatives.
_LINE_PREFIX_RE = re.compile(
    r"(?:[ \t\r#>*_+\-]|\d{1,2}[.)]|\(?step[ \t]*\d{1,2}(?!\d)(?:[ \t]*[:.)\u2013\u2014])?)*",
    re.IGNORECASE,
)

# Trailing markdown rules or stray heading marks left at the end of a section.
_TRAILING_RULE_RE = re.compile(r"(?:\n[ \t]*(?:[-*_=]{3,}|#{1,6})?[ \t]*)+\Z")
_RULE_ENDINGS = ("-", "*", "_", "=", "#")

_THINK_OPEN_RE = re.compile(r"\s*<think>")
_THINK_CLOSE = "</think>"

# Surrounding decoration removed from the answer line. Single quotes and angle brackets
# only come off in pairs ("<5 mm" and "patients'" keep theirs).
_ANSWER_EDGE_CHARS = ' \t\r*_`"\u201c\u201d'
_ANSWER_PAIRS = (("'", "'"), ("\u2018", "\u2019"), ("<", ">"))


@dataclass(frozen=True, slots=True)
class Trace:
    """A parsed trace: the three step texts ("" when absent), the answer and its validity."""

    visual_recognition: str = ""
    knowledge_recall: str = ""
    reasoning: str = ""
    answer: str = ""
    valid: bool = False
    invalid_reason: str | None = None  # one of INVALID_REASONS, None when valid
    # The response had a thinking block (closed, opened in the prompt, or never closed),
    # dropped before reading: a task where most traces have one was run with thinking on.
    thinking_block: bool = False

    def step(self, name: Step) -> str:
        """Text of one step by its name (``visual_recognition`` ...); ValueError otherwise."""
        if name not in STEP_HEADERS:
            raise ValueError(f"unknown step {name!r}; expected one of {', '.join(STEPS)}")
        return getattr(self, name)

    def as_dict(self) -> dict[str, str | bool | None]:
        """Plain dict of the fields, for sample logs."""
        return {
            "visual_recognition": self.visual_recognition,
            "knowledge_recall": self.knowledge_recall,
            "reasoning": self.reasoning,
            "answer": self.answer,
            "valid": self.valid,
            "invalid_reason": self.invalid_reason,
            "thinking_block": self.thinking_block,
        }


_EMPTY_RESPONSE = Trace(invalid_reason="empty_response")

# (section boundary, end of header, kind, an [Answer] inside a line)
_Header = tuple[int, int, str, bool]


def _scan(text: str) -> list[_Header]:
    """Recognised headers as (section boundary, end of header, kind, inline), in text order.

    The boundary of a line-start header is the start of its line, so its decoration
    ("## ", "**") does not trail the previous section; an inline [Answer] cuts at "[".
    """
    found: list[_Header] = []
    rfind = text.rfind
    prefix_ok = _LINE_PREFIX_RE.fullmatch
    append = found.append
    in_reasoning = False
    for m in _HEADER_RE.finditer(text):
        start = m.start()
        kind = _KINDS[m.lastindex or 0]
        if start == 0 or text[start - 1] == "\n":  # the common case: header opens the line
            append((start, m.end(), kind, False))
        else:
            line_start = rfind("\n", 0, start) + 1
            if prefix_ok(text, line_start, start) is not None:
                append((line_start, m.end(), kind, False))
            elif kind == _ANSWER and in_reasoning:
                append((start, m.end(), kind, True))
            else:
                continue  # a bracketed name inside a line: prose
        in_reasoning = in_reasoning or kind == "reasoning"
    return found


def _split_thinking(text: str) -> tuple[int, bool]:
    """Where the response proper starts (0: no thinking), and whether its <think> is never closed."""
    close = text.find(_THINK_CLOSE)
    if close >= 0:
        return close + len(_THINK_CLOSE), False
    opened = _THINK_OPEN_RE.match(text)
    if opened:
        return opened.end(), True
    return 0, False


def _clean_section(raw: str) -> str:
    text = raw.strip()
    if text.endswith(_RULE_ENDINGS):
        # Re-attach a newline so a rule on the last line is seen as a line of its own.
        text = _TRAILING_RULE_RE.sub("", "\n" + text)[1:].strip() if "\n" in text else text
    return text


def _answer_line(section: str) -> str:
    """First line of the [Answer] section that is not empty once its decoration is gone."""
    pos = 0
    n = len(section)
    while pos <= n:
        nl = section.find("\n", pos)
        if nl < 0:
            nl = n
        line = section[pos:nl].strip(_ANSWER_EDGE_CHARS)
        changed = True
        while changed and len(line) >= 2:
            changed = False
            for left, right in _ANSWER_PAIRS:
                if line[0] == left and line[-1] == right:
                    line = line[1:-1].strip(_ANSWER_EDGE_CHARS)
                    changed = True
                    break
        if "**" in line:  # bold split around the answer ("**C**. Lung cancer") carries no content
            line = line.replace("**", "").strip(_ANSWER_EDGE_CHARS)
        if line:
            return line
        pos = nl + 1
    return ""


def _trace_from(text: str, headers: list[_Header], first: int, thinking_block: bool) -> Trace:
    """The trace under headers[first:], the first occurrence of each header winning; validated."""
    sections: dict[str, str] = {}
    last = len(headers) - 1
    missing = len(_KINDS) - 1
    for i in range(first, last + 1):
        kind = headers[i][2]
        if kind not in sections:
            sections[kind] = text[headers[i][1] : headers[i + 1][0] if i < last else len(text)]
            missing -= 1
            if not missing:
                break
    vr = sections.get("visual_recognition")
    kr = sections.get("knowledge_recall")
    rs = sections.get("reasoning")
    an = sections.get(_ANSWER)
    vr_text = _clean_section(vr) if vr is not None else ""
    kr_text = _clean_section(kr) if kr is not None else ""
    rs_text = _clean_section(rs) if rs is not None else ""
    answer = _answer_line(an) if an is not None else ""

    reason: str | None = None
    if vr is None:
        reason = "missing_visual_recognition"
    elif len(vr_text.split(None, MIN_STEP_WORDS)) < MIN_STEP_WORDS:
        reason = "short_visual_recognition"
    elif kr is None:
        reason = "missing_knowledge_recall"
    elif len(kr_text.split(None, MIN_STEP_WORDS)) < MIN_STEP_WORDS:
        reason = "short_knowledge_recall"
    elif rs is None:
        reason = "missing_reasoning"
    elif len(rs_text.split(None, MIN_STEP_WORDS)) < MIN_STEP_WORDS:
        reason = "short_reasoning"
    elif an is None:
        reason = "missing_answer"
    elif not answer:
        reason = "empty_answer"
    return Trace(vr_text, kr_text, rs_text, answer, reason is None, reason, thinking_block)


_AFTER_VISUAL_RECOGNITION = ("knowledge_recall", "reasoning", _ANSWER)


def _read(text: str, thinking_block: bool) -> Trace:
    """The last complete valid trace, read from a [Visual Recognition] header on; else the whole text."""
    headers = _scan(text)
    starts: list[int] = []
    first_reasoning = len(headers)
    for i, (_, _, kind, _) in enumerate(headers):
        if kind == "visual_recognition":
            starts.append(i)
        elif kind == "reasoning" and i < first_reasoning:
            first_reasoning = i
    if len(starts) > 1:
        # Only a start with every other header after it can give a complete trace: this
        # keeps a text that repeats one header many times from being read once per repeat.
        last_of = {h[2]: i for i, h in enumerate(headers)}
        ends = min(last_of.get(kind, -1) for kind in _AFTER_VISUAL_RECOGNITION)
        starts = [i for i in starts if i < ends] or starts[:1]
    for i in reversed(starts):
        if i > first_reasoning:
            trace = _trace_from(text, _own_headers(headers, i), 0, thinking_block)
        else:
            trace = _trace_from(text, headers, i, thinking_block)
        if trace.valid or i == 0:  # from the first header, the reading is the whole text's
            return trace
    return _trace_from(text, headers, 0, thinking_block)


def _own_headers(headers: list[_Header], first: int) -> list[_Header]:
    """Headers of the trace that starts at headers[first], read as if the text began there.

    An inline [Answer] counts once the trace's own [Reasoning] header is seen; the scan
    took one from an earlier trace, so inline answers before this trace's are prose.
    """
    own: list[_Header] = []
    for j in range(first, len(headers)):
        header = headers[j]
        if header[2] == "reasoning":
            return own + headers[j:]
        if not header[3]:
            own.append(header)
    return own


def parse_trace(text: str) -> Trace:
    """Parse a model's output into a Trace. Never raises, whatever the input."""
    if not isinstance(text, str):
        # Backends sometimes hand over None or a non-str; treat it as no output.
        text = "" if text is None else str(text)
    if not text or text.isspace():
        return _EMPTY_RESPONSE
    start, unclosed = _split_thinking(text)
    body = text[start:] if start else text
    thinking_block = start > 0
    if not body or body.isspace():
        return Trace(invalid_reason="unclosed_think" if unclosed else "empty_response", thinking_block=thinking_block)
    trace = _read(body, thinking_block)
    if unclosed and not trace.valid:
        # The model most likely ran out of room while thinking: say so rather than name a step.
        return replace(trace, invalid_reason="unclosed_think")
    return trace


def render_steps(steps: Mapping[str, str]) -> str:
    """Write the given steps under their headers, in canonical order, blank-line separated.

    Keys are step names (``visual_recognition``, ``knowledge_recall``, ``reasoning``) and
    optionally ``answer``, which becomes the closing ``[Answer]`` line. Texts are trimmed.
    """
    unknown = [k for k in steps if k not in STEP_HEADERS and k != _ANSWER]
    if unknown:
        raise ValueError(f"unknown step name(s) {unknown!r}; expected {', '.join(STEPS)} or answer")
    blocks = [f"{STEP_HEADERS[s]}\n{steps[s].strip()}" for s in STEPS if s in steps]
    if _ANSWER in steps:
        blocks.append(f"{ANSWER_HEADER} {steps[_ANSWER].strip()}")
    return "\n\n".join(blocks)


def join_trace(given: Mapping[str, str], continuation: str) -> str:
    """One trace text from the given (gold) steps and the model's continuation (replace runs).

    The given steps come first, rendered by ``render_steps``; then the continuation's
    sections. Choices, so that the given steps always stand as given:

    - a step that is given and that the continuation restates under its header is dropped
      from the continuation (the given text stands, the restatement is not read anywhere);
    - continuation text before its first header is dropped, as text before the first
      header of any trace is ignored; prose that only continues a given step is not read;
    - a continuation that writes its part out again after an ``[Answer]`` (a revised
      version) has each version written after its own copy of the given steps, so that
      ``parse_trace`` reads the last complete version, as in a baseline trace;
    - the continuation's thinking block comes first, as in the response, and
      ``parse_trace`` drops it (and reports it in ``thinking_block``); stray ``</think>``
      tags after it are removed, so they cannot wipe the given steps. A ``<think>`` that
      is never closed marks no end to cut at: the tag comes first and the continuation's
      sections are kept as usual, so the joined text parses as valid or ``unclosed_think``.

    Parse the result with ``parse_trace``.
    """
    unknown = [k for k in given if k not in STEP_HEADERS]
    if unknown:
        raise ValueError(f"given steps must be step names, got {unknown!r}")
    rendered = render_steps(given)
    if not isinstance(continuation, str):
        continuation = "" if continuation is None else str(continuation)
    start, _ = _split_thinking(continuation)
    body = continuation[start:]
    if _THINK_CLOSE in body:
        body = body.replace(_THINK_CLOSE, "")
    headers = _scan(body)
    versions: list[str] = []
    kept: list[str] = []
    last = len(headers) - 1
    after_answer = False
    for i, (begin, _, kind, _) in enumerate(headers):
        if after_answer and kind != _ANSWER and kept:  # a step after an [Answer]: a new version
            versions.append("".join(kept))
            kept = []
        after_answer = kind == _ANSWER
        if kind not in given:
            stop = headers[i + 1][0] if i < last else len(body)
            kept.append(body[begin:stop])
    if kept:
        versions.append("".join(kept))
    parts = [rendered + "\n\n" + version for version in versions] if versions else [rendered]
    if start:
        parts.insert(0, continuation[:start].lstrip())
    return "\n\n".join(parts)
