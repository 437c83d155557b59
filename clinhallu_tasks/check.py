"""`clinhallu-tasks check`: validate data roots before a long run, listing every problem at once."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from clinhallu_tasks.clinhallu.items import RELEASED_ITEMS, SOURCES
from clinhallu_tasks.clinhallu.loading import DATA_DIR_VARIABLE, locate_source, missing_images, read_source
from clinhallu_tasks.errors import ClinHalluTasksError, DataError
from clinhallu_tasks.medhalltune import loading as medhalltune_loading
from clinhallu_tasks.medhalltune.records import IMAGES_DIR, QUESTION_FILES, RELEASED_QUESTIONS, SPLITS

Printer = Callable[[str], None]


def _listed(lines: list[str], max_listed: int | None, say: Printer, indent: str = "      ") -> None:
    shown = lines if max_listed is None else lines[:max_listed]
    for line in shown:
        say(f"{indent}{line}")
    if len(shown) < len(lines):
        say(f"{indent}... and {len(lines) - len(shown)} more (--max-listed 0 lists all)")


def _problem_line(problem: DataError) -> str:
    where = f"line {problem.line}" if problem.line is not None else "file"
    field = f", field '{problem.field}'" if problem.field else ""
    message = str(problem).split(": ", 1)[-1] if problem.line is not None or problem.field else str(problem)
    return f"{where}{field}: {message}"


def check_clinhallu_root(root: Path, *, max_listed: int | None = None, say: Printer = print) -> int:
    """Per-source counts and every problem of every file; the number of problems found."""
    say(f"ClinHallu data root: {root}")
    problems = 0
    total = 0
    found_sources = 0
    for source in SOURCES:
        try:
            files = locate_source(root, source)
            read = read_source(files)
        except ClinHalluTasksError as exc:
            say(f"  {source.label:<11} PROBLEM: {exc}")
            problems += 1
            continue
        found_sources += 1
        items = read.items
        types = Counter(item.question_type for item in items)
        n_images = sum(len(item.image_paths) for item in items)
        missing = list(missing_images(items))
        total += len(items)
        kinds = ", ".join(f"{name} {count}" for name, count in sorted(types.items())) or "none readable"
        say(
            f"  {source.label:<11} {len(items):>5} items ({kinds}); {n_images} images, "
            f"{len(missing)} missing; {files.layout} layout: {files.gold_file}"
        )
        if read.problems:
            problems += len(read.problems)
            say(f"      {len(read.problems)} bad record field(s) in {files.gold_file.name} (left out of the items):")
            _listed([_problem_line(p) for p in read.problems], max_listed, say, indent="        ")
        if missing:
            problems += len(missing)
            if not os.path.isdir(files.image_dir):
                say(f"      image folder not found: {files.image_dir} (all {len(missing)} images missing)")
            else:
                _listed([f"missing image for {item.item_id}: {path}" for item, path in missing], max_listed, say)
    say(
        f"  Total: {total:,} items read from {found_sources} of {len(SOURCES)} sources; "
        f"the benchmark releases {RELEASED_ITEMS:,} across the four."
    )
    return problems


def check_medhalltune_root(root: Path, *, max_listed: int | None = None, say: Printer = print) -> int:
    """Per-split counts and every problem of every file; the number of problems found."""
    say(f"MedHallTune data root: {root}")
    problems = 0
    image_dir = root / IMAGES_DIR
    has_images = image_dir.is_dir()
    for split in SPLITS:
        try:
            loaded = medhalltune_loading.read_split(root, split, images=has_images)
        except ClinHalluTasksError as exc:
            say(f"  {split}  PROBLEM: {exc}")
            problems += 1
            continue
        items = loaded.items
        missing = medhalltune_loading.missing_images(items)  # every image when there is no folder
        missing_names = sorted({item.image for item in missing})
        say(
            f"  {split}  {len(items):>5} questions (the benchmark releases {RELEASED_QUESTIONS[split]:,} in "
            f"{QUESTION_FILES[split]}); {len(items) - loaded.n_without_reference} with the calibration row; "
            f"{len({item.image for item in items})} images, {len(missing_names)} missing"
        )
        if loaded.problems:
            problems += len(loaded.problems)
            say(f"      {len(loaded.problems)} bad record field(s) (left out of the questions):")
            _listed([f"{p.path.name}, {_problem_line(p)}" for p in loaded.problems], max_listed, say, indent="        ")
        if loaded.without_reference:
            say(f"      {loaded.n_without_reference} question(s) have no calibration row: judged without it")
        if missing_names:
            problems += len(missing_names)
            if not has_images:
                say(f"      image folder not found: {image_dir} (all {len(missing_names)} images missing)")
            else:
                _listed([f"missing image: {image_dir / name}" for name in missing_names], max_listed, say)
    return problems


def run_check(
    clinhallu_root: Path | None,
    medhalltune_root: Path | None,
    *,
    max_listed: int | None = None,
    environ: dict[str, str] | None = None,
    say: Printer = print,
) -> int:
    """Check the roots given, else those the environment names; exit status 0 (clean), 1 (problems), 2 (none)."""
    env = dict(os.environ if environ is None else environ)
    roots: list[tuple[str, Path, Callable[..., int]]] = []
    for given, variable, check in (
        (clinhallu_root, DATA_DIR_VARIABLE, check_clinhallu_root),
        (medhalltune_root, medhalltune_loading.DATA_DIR_VARIABLE, check_medhalltune_root),
    ):
        if given is None and env.get(variable, "").strip():
            given = Path(env[variable].strip()).expanduser()
        if given is not None:
            roots.append((variable, given, check))
    if not roots:
        say(
            f"error: nothing to check: pass a ClinHallu root (or --medhalltune ROOT), or set {DATA_DIR_VARIABLE} "
            f"or {medhalltune_loading.DATA_DIR_VARIABLE}. The embedded samples need no data."
        )
        return 2
    problems = 0
    for variable, root, check in roots:
        if not root.is_dir():
            say(f"error: {variable}: {root} is not a directory")
            problems += 1
            continue
        problems += check(root, max_listed=max_listed, say=say)
    say("OK: no problems found." if not problems else f"{problems} problem(s) found.")
    return 1 if problems else 0
