"""A task's items, loaded and checked before any generation: `prepare(task_name)`.

For a `replace_kr` task this also reads the same model's baseline records (the final traces)
and takes each item's own Visual Recognition from them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from clinhallu_tasks.clinhallu.items import SAMPLE_SOURCE, ClinHalluItem, Step
from clinhallu_tasks.clinhallu.loading import load_source, missing_images
from clinhallu_tasks.errors import BaselineError, DataRootError
from clinhallu_tasks.medhalltune.loading import SAMPLE_ROOT, load_split
from clinhallu_tasks.medhalltune.records import REFERENCE_FILES, MedHallTuneItem
from clinhallu_tasks.metrics.text_similarity import check_text_metric_assets
from clinhallu_tasks.records import Benchmark, TaskFiles, TaskRecords, TraceSample
from clinhallu_tasks.settings import BASELINE_DIR, BASELINE_HINT, Settings
from clinhallu_tasks.spec import clinhallu as clinhallu_spec
from clinhallu_tasks.spec import medhalltune as medhalltune_spec

logger = logging.getLogger("clinhallu_tasks")

MAX_LISTED = 20

Item = ClinHalluItem | MedHallTuneItem


@dataclass(frozen=True)
class Prompt:
    """What the model is sent for one item: an optional system text, the text, then the images in order."""

    system: str | None
    text: str
    image_paths: list[str]


@dataclass(frozen=True)
class PreparedTask:
    """One task's items, checked, with what the records need to describe them."""

    name: str
    benchmark: Benchmark
    source: str  # ClinHallu source name, or MedHallTune split ("P"/"N")
    run: clinhallu_spec.RunSpec | None  # None for MedHallTune
    items: tuple[Item, ...]
    items_released: int | None  # None for the embedded samples
    data_root: Path | None  # None for the embedded samples
    # replace_kr: item id -> the model's own baseline steps handed back ("" where it wrote none)
    own_steps: Mapping[str, Mapping[Step, str]] = field(default_factory=dict)
    baseline_model: str | None = None  # replace_kr: the model the baseline records name
    without_reference: int = 0  # MedHallTune: questions judged without the calibration sample

    @functools.cached_property
    def items_by_id(self) -> Mapping[str, Item]:
        return {item.item_id: item for item in self.items}

    @functools.cached_property
    def data_fingerprint(self) -> str:
        """sha256 over every item of the task, images included."""
        return data_fingerprint(self.items)


def _image_digest(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def item_content(item: Item) -> dict[str, object]:
    """An item as the fingerprint sees it: every field, with image bytes in place of paths
    (the same data on another machine gives the same fingerprint)."""
    data = asdict(item)
    if isinstance(item, ClinHalluItem):
        data["image_paths"] = [_image_digest(path) for path in item.image_paths]
    else:
        data["image_path"] = _image_digest(item.image_path) if item.image_path is not None else None
    return data


def data_fingerprint(items: Iterable[Item]) -> str:
    """sha256 over the items in order (text fields and image bytes)."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(json.dumps(item_content(item), sort_keys=True, ensure_ascii=False, default=str).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _listed(lines: Sequence[str]) -> str:
    more = len(lines) - MAX_LISTED
    return "\n".join(f"  {line}" for line in lines[:MAX_LISTED]) + (f"\n  ... and {more} more" if more > 0 else "")


def _clinhallu_items(source: str, settings: Settings) -> tuple[list[ClinHalluItem], Path | None]:
    sample = source == SAMPLE_SOURCE.name
    root = None if sample else settings.clinhallu_root()
    items = load_source(source, root)
    missing = [f"{item.item_id}: {path}" for item, path in missing_images(items)]
    if missing:
        raise DataRootError(
            f"clinhallu {source}: {len(missing)} image file(s) missing or empty:\n{_listed(missing)}\n"
            "Run `clinhallu-tasks check` for a full report."
        )
    return items, root


def read_own_steps(
    folder: Path, source: str, items: Sequence[ClinHalluItem], steps: Sequence[Step], model: str | None = None,
) -> tuple[dict[str, dict[Step, str]], str]:
    """The model's own `steps` of each item from its baseline records in `folder`, and that model.

    BaselineError when the folder holds no such records, they are another model's, or they lack items.
    """
    baseline_task = clinhallu_spec.task_name(source, "baseline")
    files = TaskFiles(folder, baseline_task)
    if not files.summary.is_file():
        raise BaselineError(
            f"{folder}: no records of {baseline_task} ({files.summary.name} is missing). {BASELINE_HINT}"
        )
    records = TaskRecords.read(files)
    if model is not None and records.summary.model != model:
        raise BaselineError(
            f"{files.summary}: the baseline was run with model {records.summary.model!r}, this run evaluates "
            f"{model!r}; replace_kr must continue the same model's own traces. {BASELINE_HINT}"
        )
    traces = {sample.item_id: sample for sample in records.samples if isinstance(sample, TraceSample)}
    # A baseline run with --limit covers the first items: replace_kr then continues exactly those
    # (the same --limit gives the same items). Any other gap is an error.
    covered = 0
    while covered < len(items) and items[covered].item_id in traces:
        covered += 1
    if covered == 0 or any(item.item_id in traces for item in items[covered:]):
        lacking = [item.item_id for item in items if item.item_id not in traces]
        raise BaselineError(
            f"{files.samples}: {len(lacking)} item(s) of {source} have no baseline trace:\n{_listed(lacking)}\n"
            f"Run {baseline_task} on every item first (the same --limit, or none). {BASELINE_HINT}"
        )
    if covered < len(items):
        logger.warning("%s: the baseline records cover the first %d of %d items (a --limit run); replace_kr "
                       "continues those %d only", files.samples, covered, len(items), covered)
    own = {item.item_id: {step: traces[item.item_id].steps.get(step, "") for step in steps}
           for item in items[:covered]}
    return own, records.summary.model


def prepare(
    task: str, baseline: Path | None = None, *, settings: Settings | None = None, model: str | None = None,
) -> PreparedTask:
    """Load and check one task's items (and for `replace_kr` its baseline) before any generation.

    `baseline` defaults to CLINHALLU_BASELINE_DIR; `model`, when known, must be the baseline's.
    """
    settings = settings if settings is not None else Settings.from_env()
    parsed = clinhallu_spec.parse_task_name(task)
    if parsed is not None:
        source, run = parsed
        items, root = _clinhallu_items(source.name, settings)
        released = None if root is None else len(items)
        own: dict[str, dict[Step, str]] = {}
        baseline_model = None
        if run.chained:
            folder = baseline if baseline is not None else settings.baseline_dir
            if folder is None:
                raise BaselineError(f"{task}: {BASELINE_DIR} is not set. {BASELINE_HINT}")
            own, baseline_model = read_own_steps(Path(folder), source.name, items, run.given_own, model)
            items = [item for item in items if item.item_id in own]
        return PreparedTask(
            name=task, benchmark="clinhallu", source=source.name, run=run, items=tuple(items),
            items_released=released, data_root=root,
            own_steps=own, baseline_model=baseline_model,
        )
    split_task = medhalltune_spec.parse_task_name(task)
    if split_task is not None:
        root = SAMPLE_ROOT if split_task.sample else settings.medhalltune_root()
        loaded = load_split(root, split_task.split)
        # Fail now, not after hours of generation, when a text metric's assets are missing.
        check_text_metric_assets(settings.bertscore)
        if loaded.without_reference:
            shown = ", ".join(map(str, loaded.without_reference[:MAX_LISTED]))
            logger.warning(
                "%s: %d question(s) have no row in %s (question_id %s%s); they are judged without the "
                "calibration sample (LLaVA-Med's judged answer).", task, loaded.n_without_reference,
                REFERENCE_FILES[split_task.split], shown, ", ..." if loaded.n_without_reference > MAX_LISTED else "",
            )
        return PreparedTask(
            name=task, benchmark="medhalltune", source=split_task.split, run=None, items=loaded.items,
            items_released=split_task.released, data_root=None if split_task.sample else root,
            without_reference=loaded.n_without_reference,
        )
    raise ValueError(f"{task!r} is not a ClinHallu or MedHallTune task name")


__all__ = ["PreparedTask", "Prompt", "data_fingerprint", "item_content", "prepare", "read_own_steps"]
