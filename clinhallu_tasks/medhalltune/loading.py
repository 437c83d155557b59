"""Read a MedHallTune data root into items (PROTOCOL §2.1).

The root holds the four released annotation files, under their exact released names,
and an `images/` folder with the figures they name:

    val_positive_qa-filtered.jsonl                           questions, P
    val_negative_qa-filtered.jsonl                           questions, N
    llava-med-prediction-postive-GPT4o-eval-filtered.jsonl   LLaVA-Med answers + judge output, P
    llava-med-prediction-negative-GPT4o-eval-filtered.jsonl  LLaVA-Med answers + judge output, N
    images/

A question whose id has no row in the reference file is kept and judged without the
calibration sample (the benchmark's own script skipped such questions, which would
silently shrink the test set); the loader counts these gaps so they can be reported.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clinhallu_tasks.errors import DataError, DataProblems, DataRootError
from clinhallu_tasks.medhalltune.records import (
    IMAGES_DIR,
    QUESTION_FILES,
    REFERENCE_FILES,
    SPLITS,
    MedHallTuneItem,
    Reference,
    Split,
)

DATA_DIR_VARIABLE = "MEDHALLTUNE_DATA_DIR"  # read by clinhallu_tasks.settings
# The embedded sample: a data root in the released layout that ships with the package.
SAMPLE_ROOT = Path(__file__).resolve().parents[1] / "data" / "medhalltune_sample"
IMAGE_PLACEHOLDER = "<image>"
MAX_LISTED = 20


@dataclass(frozen=True)
class LoadedSplit:
    """One split's items plus what the loader noticed about the reference file."""

    split: Split
    items: tuple[MedHallTuneItem, ...]
    question_file: Path
    reference_file: Path
    without_reference: tuple[int, ...]  # question ids judged without the calibration sample
    unused_references: int  # reference rows naming no question (harmless, reported)
    problems: tuple[DataError, ...] = ()  # bad records, each left out of `items`

    @property
    def n_without_reference(self) -> int:
        return len(self.without_reference)


def strip_image_placeholder(text: str) -> str:
    """The question as shown to the model: the `<image>` token gone, no stray blank edges."""
    pieces = (piece.strip() for piece in text.split(IMAGE_PLACEHOLDER))
    return " ".join(piece for piece in pieces if piece)


def check_root(root: Path, splits: Iterable[Split] = SPLITS, *, images: bool = True) -> None:
    """Raise one DataRootError listing every required file or folder that is missing."""
    missing = []
    for split in splits:
        for name in (QUESTION_FILES[split], REFERENCE_FILES[split]):
            if not (root / name).is_file():
                missing.append(name)
    if images and not (root / IMAGES_DIR).is_dir():
        missing.append(f"{IMAGES_DIR}/")
    if missing:
        raise DataRootError(
            f"MedHallTune data root {root} is missing: {', '.join(missing)}. Expected the released "
            f"annotation files under their exact names ({', '.join(_all_file_names())}) and an "
            f"{IMAGES_DIR}/ folder with the figures they name."
        )


def read_split(root: Path | str, split: Split, *, images: bool = True) -> LoadedSplit:
    """Read one split, listing every bad record (left out of `items`) instead of stopping at the first.

    Raises DataRootError when a required file (or, with `images`, the images folder) is missing.
    """
    root = Path(root)
    if split not in SPLITS:
        raise ValueError(f"unknown MedHallTune split {split!r}; expected one of {SPLITS}")
    check_root(root, (split,), images=images)
    question_file = root / QUESTION_FILES[split]
    reference_file = root / REFERENCE_FILES[split]

    problems: list[DataError] = []
    questions = _read_questions(question_file, problems)
    references = _read_references(reference_file, problems)

    items = []
    gaps = []
    for line, row in questions:
        qid = row["question_id"]
        found = references.get(qid)
        if found is None:
            gaps.append(qid)
            reference = None
        else:
            ref_line, ref_row = found
            # A reference row for a different question would calibrate the judge on the
            # wrong answer without anyone noticing: refuse it.
            ref_text = ref_row.get("text")
            if isinstance(ref_text, str) and ref_text != row["text"]:
                problems.append(DataError(
                    reference_file,
                    ref_line,
                    "text",
                    f"question_id {qid} names a different question than {question_file.name} line {line}",
                ))
                continue
            reference = Reference(answer=ref_row["answer"], verdict=ref_row["result"])
        items.append(
            MedHallTuneItem(
                split=split,
                question_id=qid,
                image=row["image"],
                question=strip_image_placeholder(row["text"]),
                ground_truth=row["gpt4_answer"],
                caption=row["fig_caption"],
                reference=reference,
                image_path=(root / IMAGES_DIR / row["image"]) if images else None,
            )
        )

    question_ids = {row["question_id"] for _, row in questions}
    return LoadedSplit(
        split=split,
        items=tuple(items),
        question_file=question_file,
        reference_file=reference_file,
        without_reference=tuple(gaps),
        unused_references=sum(1 for qid in references if qid not in question_ids),
        problems=tuple(problems),
    )


def load_split(root: Path | str, split: Split, *, images: bool = True) -> LoadedSplit:
    """Read one split for evaluation: DataProblems listing every bad record if there is one, and with
    `images` a DataRootError listing every figure missing under `root/images/`."""
    loaded = read_split(root, split, images=images)
    if loaded.problems:
        raise DataProblems(list(loaded.problems))
    if images:
        _check_images(Path(root), split, list(loaded.items))
    return loaded


def load_root(
    root: Path | str, splits: Iterable[Split] = SPLITS, *, images: bool = True
) -> dict[Split, LoadedSplit]:
    """Read several splits; missing files of all of them are reported together."""
    root = Path(root)
    splits = tuple(splits)
    check_root(root, splits, images=images)
    return {split: load_split(root, split, images=images) for split in splits}


def missing_images(items: Iterable[MedHallTuneItem]) -> list[MedHallTuneItem]:
    """Items whose image file is absent or empty (stat only: nothing is decoded)."""
    missing = []
    for item in items:
        path = item.image_path
        if path is None or not path.is_file() or path.stat().st_size == 0:
            missing.append(item)
    return missing


# ---------------------------------------------------------------- reading


def _all_file_names() -> list[str]:
    return [QUESTION_FILES[s] for s in SPLITS] + [REFERENCE_FILES[s] for s in SPLITS]


def _check_images(root: Path, split: Split, items: list[MedHallTuneItem]) -> None:
    missing = missing_images(items)
    if not missing:
        return
    names = sorted({item.image for item in missing})
    listed = ", ".join(names[:MAX_LISTED])
    more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
    raise DataRootError(
        f"MedHallTune {split}: {len(names)} image file(s) named in {QUESTION_FILES[split]} are missing "
        f"or empty in {root / IMAGES_DIR}: {listed}{more}. The figures are distributed on Hugging Face "
        "as russellyq/MedHallTune."
    )


def _read_jsonl(path: Path, problems: list[DataError]) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    try:
        with path.open(encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue  # blank lines (a trailing newline, say) carry nothing
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    message = f"not valid JSON ({exc.msg}, column {exc.colno})"
                    problems.append(DataError(path, line_number, None, message))
                    continue
                if not isinstance(row, dict):
                    message = f"expected a JSON object, got {type(row).__name__}"
                    problems.append(DataError(path, line_number, None, message))
                    continue
                rows.append((line_number, row))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, None, None, f"cannot read the file: {exc}") from None
    return rows


def _field_problem(path: Path, line: int, row: dict[str, Any], field: str, kind: type, *,
                   empty_ok: bool = False) -> DataError | None:
    if field not in row:
        return DataError(path, line, field, "missing")
    value = row[field]
    # bool is an int subclass; an id of `true` is a broken record, not question 1.
    if not isinstance(value, kind) or isinstance(value, bool):
        shown = repr(value)[:60]
        return DataError(path, line, field, f"expected {kind.__name__}, got {type(value).__name__} {shown}")
    if isinstance(value, str) and not empty_ok and not value.strip():
        return DataError(path, line, field, "empty")
    return None


def _valid_rows(path: Path, rows: list[tuple[int, dict[str, Any]]], fields: tuple[tuple[str, type, bool], ...],
                problems: list[DataError]) -> list[tuple[int, dict[str, Any]]]:
    """The rows whose every field is present and well-typed, and no earlier row has the same question_id."""
    kept = []
    seen: dict[int, int] = {}
    for line, row in rows:
        found = [p for name, kind, empty_ok in fields
                 if (p := _field_problem(path, line, row, name, kind, empty_ok=empty_ok)) is not None]
        if not found and "text" in row and not strip_image_placeholder(row["text"]):
            found.append(DataError(path, line, "text", "empty once the <image> placeholder is removed"))
        if not found:
            qid = row["question_id"]
            if qid in seen:
                found.append(DataError(path, line, "question_id", f"{qid} repeats line {seen[qid]}"))
            else:
                seen[qid] = line
        problems.extend(found)
        if not found:
            kept.append((line, row))
    return kept


_QUESTION_FIELDS = (("question_id", int, False), ("image", str, False), ("text", str, False),
                    ("gpt4_answer", str, False), ("fig_caption", str, True))
# A model may answer nothing, so the reference answer may be empty.
_REFERENCE_FIELDS = (("question_id", int, False), ("answer", str, True), ("result", str, False))


def _read_questions(path: Path, problems: list[DataError]) -> list[tuple[int, dict[str, Any]]]:
    return _valid_rows(path, _read_jsonl(path, problems), _QUESTION_FIELDS, problems)


def _read_references(path: Path, problems: list[DataError]) -> dict[int, tuple[int, dict[str, Any]]]:
    rows = _valid_rows(path, _read_jsonl(path, problems), _REFERENCE_FIELDS, problems)
    return {row["question_id"]: (line, row) for line, row in rows}
