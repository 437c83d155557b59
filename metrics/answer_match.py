"""Rule-based answer matching and token F1: lenient in form, strict in content.

Form that is forgiven: letter case, surrounding whitespace, trailing punctuation, runs of
internal whitespace, markdown emphasis (``*``, ``**``, ``__``, backticks), surrounding
quotes, a lead-in such as "Answer:" or "The correct answer is", and for multiple choice
the way an option is named (``C``, ``C.``, ``(C)``, ``C)``, ``Option C``, ``C. Lung
cancer``, ``Lung cancer (C)`` or ``Lung cancer``).

Content that is not: a different letter, a letter that is not among the options, a
letter whose text names another option (``C. Pneumonia`` when Pneumonia is B), the other
one of yes/no, or any other wording of an open answer (that is the judge's job).

Pure functions, no I/O; shared by ClinHallu and MedHallTune.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

__all__ = [
    "extract_option_letter",
    "match_answer",
    "normalize_answer",
    "split_option",
    "token_f1",
]

_QUESTION_TYPES = ("yes_no", "open_ended", "multiple_choice")

# Emphasis and code marks carry no content in a short answer, wherever they stand.
_REMOVE_TABLE = str.maketrans("", "", "*`")
_EDGE_CHARS = " _\"'\u201c\u201d\u2018\u2019"
_TRAILING_CHARS = ".,;:!?\u3002\u3001 _\"'\u201c\u201d\u2018\u2019"
_LEADING_CHARS = ": _\"'\u201c\u201d\u2018\u2019"

# "Answer:", "The answer is", "Final answer -", "My correct answer is:"... only in front.
_LEAD_IN_RE = re.compile(
    r"(?:(?:the|my)\s+)?(?:final\s+|correct\s+|best\s+)?answer\b(?:\s+is\b)?\s*(?::|-|\u2013)?\s*",
    re.IGNORECASE,
)
# An option as listed in the data: "A. text", "A) text", "(A) text", "A: text".
_OPTION_RE = re.compile(r"\s*[(\[]?([A-Za-z])(?:[)\]][.:]?|[.:])\s*(.*)", re.DOTALL)
# A bare letter as an answer: "C", "C.", "(C)", "C)", "[C]", "Option C", "choice (c):".
# "option"/"choice" must be followed by a space or bracket: "optionb" is a word, not "Option B".
_OPTION_WORD = r"(?:(?:option|choice)(?:\s+|(?=[(\[])))"
_LETTER_ONLY_RE = re.compile(rf"{_OPTION_WORD}?[(\[]?([A-Za-z])[)\]]?[.:]?", re.IGNORECASE)
# A letter and text: "C. Lung cancer", "(C) Lung cancer", "C) ...", "C: ...", "C - ...".
_LETTER_TEXT_RE = re.compile(
    rf"{_OPTION_WORD}?[(\[]?([A-Za-z])(?:(?:[)\]][.:]?|[.:])\s*|\s+[-\u2013]\s+)(\S.*)",
    re.IGNORECASE | re.DOTALL,
)
# The text, then the letter in brackets: "Lung cancer (C)".
_TEXT_LETTER_RE = re.compile(r"(\S.*?)\s*[(\[]([A-Za-z])[)\]]", re.DOTALL)
_YES_NO_RE = re.compile(r"(yes|no)\b")

# SQuAD deletes punctuation (it does not split on it): "x-ray" is one token, "xray".
_PUNCT_TABLE = str.maketrans("", "", string.punctuation)
_ARTICLES_RE = re.compile(r"\b(?:a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Case-folded text without emphasis, surrounding quotes, trailing punctuation or extra spaces."""
    if not text:
        return ""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    text = " ".join(text.translate(_REMOVE_TABLE).split())
    return text.strip(_EDGE_CHARS).rstrip(_TRAILING_CHARS).lstrip(_LEADING_CHARS).casefold()


def _strip_lead_in(text: str) -> str:
    """The answer without a leading "Answer:" / "The answer is" (case kept)."""
    text = " ".join(text.translate(_REMOVE_TABLE).split()).strip(_EDGE_CHARS)
    m = _LEAD_IN_RE.match(text)
    if m is not None and m.end() < len(text):
        text = text[m.end() :].lstrip(_LEADING_CHARS)
    return text


def split_option(option: str) -> tuple[str | None, str]:
    """``"C. Lung cancer"`` -> ``("C", "Lung cancer")``; ``(None, option)`` without a letter."""
    m = _OPTION_RE.fullmatch(option)
    if m is None:
        return None, option.strip()
    return m.group(1).upper(), m.group(2).strip()


@lru_cache(maxsize=8192)
def _option_table(options: tuple[str, ...]) -> tuple[dict[str, str], dict[str, str | None]]:
    """(letter -> normalized option text, normalized text or full option -> letter).

    A text shared by two options maps to None: naming it names no single option.
    """
    by_letter: dict[str, str] = {}
    by_text: dict[str, str | None] = {}
    for option in options:
        letter, text = split_option(option)
        if letter is None or letter in by_letter:
            continue
        norm = normalize_answer(text)
        by_letter[letter] = norm
        for key in (norm, normalize_answer(option)):
            if key:
                by_text[key] = None if by_text.get(key, letter) != letter else letter
    return by_letter, by_text


def _letter_from_form(answer: str, by_letter: dict[str, str] | None, by_text: dict[str, str | None]) -> str | None:
    """Letter named by a letter form; ``by_letter`` None means any letter is allowed."""
    m = _LETTER_ONLY_RE.fullmatch(answer)
    if m is not None:
        letter = m.group(1).upper()
        return letter if by_letter is None or letter in by_letter else None
    m = _LETTER_TEXT_RE.fullmatch(answer)
    if m is not None:
        letter, text = m.group(1), m.group(2)
    else:
        m = _TEXT_LETTER_RE.fullmatch(answer)
        if m is None:
            return None
        text, letter = m.group(1), m.group(2)
    letter = letter.upper()
    if by_letter is not None and letter not in by_letter:
        return None
    # The text may paraphrase or trail off, but it must not name a different option.
    named = by_text.get(normalize_answer(text), letter)
    return letter if named == letter else None


def extract_option_letter(model_answer: str, options: Sequence[str]) -> str | None:
    """The option letter the answer names, or None (no option, several, or a letter not offered).

    ``options`` are the item's ``"A. text"`` strings. The letter alone, the letter with
    its text, and the option text alone all name the option.
    """
    if not model_answer or not options:
        return None
    by_letter, by_text = _option_table(tuple(options))
    if not by_letter:
        return None
    answer = _strip_lead_in(model_answer)
    norm = normalize_answer(answer)
    if not norm:
        return None
    bare = answer.rstrip(_TRAILING_CHARS)
    # A bare letter first: it names a letter even where some option's text is one letter.
    m = _LETTER_ONLY_RE.fullmatch(bare)
    if m is not None:
        letter = m.group(1).upper()
        return letter if letter in by_letter else None
    if norm in by_text:  # the option text alone, or the option exactly as listed
        return by_text[norm]
    return _letter_from_form(bare, by_letter, by_text)


def _gold_letter(ground_truth: str, options: Sequence[str], answer_letter: str | None) -> str | None:
    if answer_letter:
        letter = answer_letter.strip().strip("().:[] ").upper()
        if len(letter) == 1 and letter.isalpha():
            return letter
    letter, _ = split_option(ground_truth)
    if letter is not None:
        return letter
    if options:
        return _option_table(tuple(options))[1].get(normalize_answer(ground_truth))
    return None


def _yes_no(text: str) -> str | None:
    m = _YES_NO_RE.match(normalize_answer(_strip_lead_in(text)))
    return m.group(1) if m is not None else None


def match_answer(
    model_answer: str,
    *,
    question_type: str,
    ground_truth: str,
    options: Sequence[str] = (),
    answer_letter: str | None = None,
) -> bool:
    """Whether the model's answer names the ground truth (rule-based, no judge).

    Multiple choice (or any item with options): the option named must be the gold one.
    Yes/no: the leading word, yes or no, must equal the gold one. Open: the normalized
    texts must be equal.
    """
    if question_type not in _QUESTION_TYPES:
        raise ValueError(f"unknown question_type {question_type!r}; expected one of {_QUESTION_TYPES}")
    if not model_answer or not model_answer.strip():
        return False

    if options or question_type == "multiple_choice":
        gold = _gold_letter(ground_truth, options, answer_letter)
        if options:
            predicted = extract_option_letter(model_answer, options)
            if gold is not None:
                return predicted == gold
        elif gold is not None:
            # Options only inside the question text (MedXpertQA): any letter may be named,
            # and the text alone is compared with the gold option's text.
            answer = _strip_lead_in(model_answer)
            gold_text = normalize_answer(split_option(ground_truth)[1])
            norm = normalize_answer(answer)
            if norm and norm in (gold_text, normalize_answer(ground_truth)):
                return True
            return _letter_from_form(answer.rstrip(_TRAILING_CHARS), None, {}) == gold
        # No gold letter to be had: fall through to a plain text comparison.

    elif question_type == "yes_no":
        gold_word = _yes_no(ground_truth)
        if gold_word is not None:
            return _yes_no(model_answer) == gold_word

    gold_norm = normalize_answer(ground_truth)
    return bool(gold_norm) and normalize_answer(_strip_lead_in(model_answer)) == gold_norm


def _f1_tokens(text: str) -> list[str]:
    text = text.casefold()
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return _ARTICLES_RE.sub(" ", text.translate(_PUNCT_TABLE)).split()


def token_f1(prediction: str, ground_truth: str) -> float:
    """SQuAD-style bag-of-tokens F1 in [0, 1] (case-folded, punctuation and articles removed).

    Two texts with no tokens at all score 1.0; one empty side scores 0.0.
    """
    pred = _f1_tokens(prediction or "")
    gold = _f1_tokens(ground_truth or "")
    if not pred or not gold:
        return float(pred == gold)
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision = common / len(pred)
    recall = common / len(gold)
    return 2 * precision * recall / (precision + recall)
