"""Run folders -> models: the typed records of `clinhallu_tasks.records`, grouped by model.

A model is the TaskSummary's `model` under its `framework`: the same model evaluated by lmms-eval
and by VLMEvalKit is two rows, computed the same way. Nothing here reads anything but the records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from clinhallu_tasks.records import SCHEMA_VERSION, SUMMARY_SUFFIX, RecordError, TaskFiles, TaskRecords, find_tasks

GroupBy = Literal["model", "folder"]


@dataclass
class ModelRecords:
    """Every task one model was evaluated on, read from one or more run folders."""

    model: str
    framework: str
    folder: Path | None  # set when grouping by folder
    tasks: dict[str, TaskRecords] = field(default_factory=dict)
    name: str = ""  # shown in tables; set by `load`

    def add(self, records: TaskRecords) -> None:
        earlier = self.tasks.get(records.summary.task)
        if earlier is not None:
            raise RecordError(
                records.files.summary, None, "task",
                f"{records.summary.task!r} of {self.model!r} ({self.framework}) is also in {earlier.files.summary}; "
                "report one of them (give the folders separately with --group-by folder)",
            )
        self.tasks[records.summary.task] = records


def _task_files(path: Path) -> list[TaskFiles]:
    if path.is_file() and path.name.endswith(SUMMARY_SUFFIX):
        return [TaskFiles(path.parent, path.name[: -len(SUMMARY_SUFFIX)])]
    if not path.is_dir():
        raise RecordError(path, None, None, "no such run folder")
    found = find_tasks(path)
    if not found and any(path.rglob("*_results.json")):
        raise RecordError(path, None, None, "lmms-eval results without task records: clinhallu-tasks 0.1 output "
                          f"(record schema 1), which this version does not read (schema {SCHEMA_VERSION}). "
                          "Regenerate the run with this version (cached judge verdicts are reused), or report it "
                          "with the 0.1 release")
    if not found:
        raise RecordError(path, None, None, f"no task records (*{SUMMARY_SUFFIX}) under this folder")
    return found


def load(paths: Sequence[Path], group_by: GroupBy = "model") -> list[ModelRecords]:
    """Read every task under `paths`; RecordError (file, line, field) on anything unreadable."""
    models: dict[tuple[str, str, Path | None], ModelRecords] = {}
    seen: set[Path] = set()  # a folder given twice, or inside another one given, is read once
    for path in paths:
        for files in _task_files(Path(path)):
            if files.summary.resolve() in seen:
                continue
            seen.add(files.summary.resolve())
            records = TaskRecords.read(files)
            folder = Path(path) if group_by == "folder" else None
            key = (records.summary.model, records.summary.framework, folder)
            models.setdefault(key, ModelRecords(*key)).add(records)
    ordered = list(models.values())
    several_frameworks = len({m.framework for m in ordered}) > 1
    for m in ordered:
        m.name = m.model + (f" ({m.framework})" if several_frameworks else "")
        if m.folder is not None:
            m.name += f" [{m.folder.name}]"
    return ordered
