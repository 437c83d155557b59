"""Find and read ClinHallu's released `gold_cot.jsonl` files into items.

Two layouts on disk (PROTOCOL §1.2):
- official working tree: `results/<key>/gold/<gold model>/gold_cot.jsonl`, images in
  `data/<dataset>/input/test/images/`;
- flat: `<root>/<key>/gold_cot.jsonl`, images in `<root>/<key>/images/`.

Reading never decodes an image: items carry paths, and `missing_images` only stats files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clinhallu_tasks.clinhallu.items import (
    QUESTION_TYPES,
    SAMPLE_SOURCE,
    SOURCES_BY_NAME,
    STEPS,
    ClinHalluItem,
    GoldTrace,
    Source,
)
from clinhallu_tasks.errors import DataError, DataProblems, DataRootError

DATA_DIR_VARIABLE = "CLINHALLU_DATA_DIR"  # read by clinhallu_tasks.settings
GOLD_FILE = "gold_cot.jsonl"

# Fields the package reads itself; everything else a record carries is kept as metadata.
_CORE_FIELDS = frozenset(
    {"question", "answer", "images", "question_type", "options", "answer_letter", "gold_cot", "source_id"}
)


@dataclass(frozen=True)
class SourceFiles:
    """Where one source's annotations and images live."""

    source: Source
    gold_file: Path
    image_dir: Path
    layout: str  # "official" or "flat"


def locate_source(root: Path, source: Source) -> SourceFiles:
    """Find one source under either layout; the error lists every path tried."""
    flat = root / source.key / GOLD_FILE
    if flat.is_file():
        return SourceFiles(source, flat, root / source.key / "images", "flat")

    gold_dir = root / "results" / source.key / "gold"
    candidates = sorted(gold_dir.glob(f"*/{GOLD_FILE}")) if gold_dir.is_dir() else []
    if len(candidates) > 1:
        listed = ", ".join(str(c) for c in candidates)
        raise DataRootError(
            f"{source.label}: several gold trace files under {gold_dir} ({listed}); keep exactly one gold model folder."
        )
    if candidates:
        image_dir = root / "data" / source.dataset_dir / "input" / "test" / "images"
        return SourceFiles(source, candidates[0], image_dir, "official")

    raise DataRootError(
        f"{source.label} ({source.key}) not found under {root}: tried {flat} (flat layout) and "
        f"{gold_dir}/<gold model>/{GOLD_FILE} (official layout)."
    )


@dataclass(frozen=True)
class SourceRead:
    """Every record of one source file: the items that were read, and a problem for each that was not."""

    files: SourceFiles
    items: list[ClinHalluItem]
    problems: list[DataError]


def read_source(files: SourceFiles) -> SourceRead:
    """Read every record of one source file, listing each bad record instead of stopping at the first.

    Raises DataError only when the file as a whole cannot be read.
    """
    items: list[ClinHalluItem] = []
    problems: list[DataError] = []
    first_line: dict[str, int] = {}
    try:
        with files.gold_file.open(encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    item = _parse_record(line, files, line_number)
                except DataProblems as bad:
                    problems.extend(bad.problems)
                    continue
                except DataError as problem:
                    problems.append(problem)
                    continue
                if item.item_id in first_line:
                    problems.append(DataError(files.gold_file, line_number, "source_id",
                                              f"{item.item_id!r} repeats line {first_line[item.item_id]}"))
                    continue
                first_line[item.item_id] = line_number
                items.append(item)
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(files.gold_file, None, None, f"cannot read the file: {exc}") from None
    if not items and not problems:
        problems.append(DataError(files.gold_file, None, None, "file holds no records"))
    return SourceRead(files, items, problems)


def read_items(files: SourceFiles) -> list[ClinHalluItem]:
    """Every item of one source file; DataProblems listing every bad record if there is one."""
    read = read_source(files)
    if read.problems:
        raise DataProblems(read.problems)
    return read.items


def sample_files() -> SourceFiles:
    """The embedded sample shipped with the package (no environment variable needed)."""
    folder = Path(__file__).resolve().parents[1] / "data" / "clinhallu_sample"
    return SourceFiles(SAMPLE_SOURCE, folder / GOLD_FILE, folder / "images", "embedded")


def load_source(source_name: str, root: Path | None = None) -> list[ClinHalluItem]:
    """Items of one source (`vqa_rad`, ..., or `sample`) from the data `root` (`Settings.clinhallu_root()`);
    the embedded sample needs none."""
    if source_name == SAMPLE_SOURCE.name:
        return read_items(sample_files())
    if root is None:
        raise DataRootError(f"clinhallu {source_name}: no data root given (set {DATA_DIR_VARIABLE})")
    return read_items(locate_source(root, SOURCES_BY_NAME[source_name]))


def missing_images(items: Iterable[ClinHalluItem]) -> Iterator[tuple[ClinHalluItem, str]]:
    """Each (item, path) whose image file is absent or empty. Stats files, never decodes them."""
    for item in items:
        for path in item.image_paths:
            try:
                if os.stat(path).st_size > 0:
                    continue
            except OSError:
                pass
            yield item, path


def _parse_record(line: str, files: SourceFiles, line_number: int) -> ClinHalluItem:
    """One record as an item; DataProblems naming every bad field of the record otherwise."""
    path = files.gold_file
    problems: list[DataError] = []

    def fail(field: str | None, message: str) -> None:
        problems.append(DataError(path, line_number, field, message))

    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(path, line_number, None, f"malformed JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise DataError(path, line_number, None, "record is not a JSON object")

    def text(field: str, *, required: bool = True) -> str:
        value = record.get(field)
        if value is None:
            if required:
                fail(field, "missing")
            return ""
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            fail(field, f"expected text, got {type(value).__name__}")
            return ""
        return str(value)

    question_type = text("question_type")
    if question_type and question_type not in QUESTION_TYPES:
        fail("question_type", f"unknown value {question_type!r} (expected one of {', '.join(QUESTION_TYPES)})")

    item_id = record.get("source_id")
    if item_id in (None, ""):
        item_id = record.get("original_index")
    if item_id in (None, ""):
        fail("source_id", "missing (and no original_index to fall back on)")

    images = record.get("images")
    if not isinstance(images, list) or not images or not all(isinstance(i, str) and i for i in images):
        fail("images", "expected a non-empty list of file names")
        images = []

    options: tuple[str, ...] = ()
    answer_letter = None
    if question_type == "multiple_choice":
        raw_options = record.get("options")
        if not isinstance(raw_options, list) or not raw_options:
            fail("options", "multiple-choice record needs a non-empty list of options")
        elif not all(isinstance(o, str) and o.strip() for o in raw_options):
            fail("options", "every option must be non-empty text")
        else:
            options = tuple(raw_options)
        answer_letter = text("answer_letter").strip().upper()
        if not answer_letter and "answer_letter" in record:
            fail("answer_letter", "empty")

    question, answer = text("question"), text("answer")
    gold = _parse_gold(record.get("gold_cot"), fail)
    if problems:
        raise DataProblems(problems)
    return ClinHalluItem(
        source=files.source.name,
        item_id=str(item_id),
        question=question,
        question_type=question_type,  # type: ignore[arg-type]  # checked above
        answer=answer,
        gold=gold,  # type: ignore[arg-type]  # None only with a problem, raised above
        image_paths=tuple(str(files.image_dir / name) for name in images),
        options=options,
        answer_letter=answer_letter,
        metadata={k: v for k, v in record.items() if k not in _CORE_FIELDS},
    )


def _parse_gold(gold: Any, fail: Callable[[str | None, str], None]) -> GoldTrace | None:
    if not isinstance(gold, dict):
        fail("gold_cot", "missing or not an object")
        return None
    texts = {}
    for step in STEPS:
        part = gold.get(step)
        value = part.get("text") if isinstance(part, dict) else None
        if not isinstance(value, str) or not value.strip():
            fail(f"gold_cot.{step}.text", "missing or empty")
            continue
        texts[step] = value.strip()
    if len(texts) < len(STEPS):
        return None
    reasoning = gold.get("reasoning")
    answer = reasoning.get("answer", "") if isinstance(reasoning, dict) else ""
    return GoldTrace(answer=str(answer or ""), **texts)
