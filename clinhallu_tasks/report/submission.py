"""submission.json: one model's numbers at full precision, provenance and cost, checked by jsonschema.

The schema ships beside this module (`submission.schema.json`, id ``clinhallu-tasks/submission/v2``).
Every number is a `scores.Row` value: the tables and this file cannot disagree.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema

from clinhallu_tasks.records import TaskRecords
from clinhallu_tasks.report import scores
from clinhallu_tasks.report.provenance import provenance
from clinhallu_tasks.report.scores import CLINHALLU_KEYS, MEDHALLTUNE_KEYS, ModelReport, Report, Row, total_cost

SCHEMA_ID = "clinhallu-tasks/submission/v2"
SCHEMA_FILE = "submission.schema.json"


def _number(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def entry(row: Row | None, keys: Sequence[str]) -> dict[str, Any]:
    """One row: each number, its interval and why it is missing, n, status, judge state, and its tasks."""
    values = {k: row.get(k) if row else None for k in keys}
    doc: dict[str, Any] = {k: _number(v.value) if v else None for k, v in values.items()}
    doc.update({
        "n": row.n if row else None,
        "status": row.status if row else "missing",
        "judge": row.judge if row else None,
        "ci": {k: list(v.ci) if v and v.ci else None for k, v in values.items()},
        "missing": {k: v.missing if v else "not run" for k, v in values.items() if v is None or v.value is None},
        "tasks": {part: _task(t) for part, t in row.tasks.items()} if row else {},
    })
    if row is not None and row.key == "average":
        doc["sources_used"] = list(row.sources_used)
    return doc


def _task(records: TaskRecords) -> dict[str, Any]:
    s = records.summary
    return {"task": s.task, "items": s.items, "items_released": s.items_released, "complete": s.complete,
            "metrics": {k: _number(v) for k, v in s.metrics.items()}, "metric_notes": s.metric_notes,
            "counts": s.counts, "validity": asdict(scores.validity(records))}


def cost(model: ModelReport) -> dict[str, Any]:
    """Per task, per run folder and for the whole model."""
    tasks = [t for _, t in sorted(model.records.tasks.items())]
    folders: dict[str, list[TaskRecords]] = {}
    for t in tasks:
        folders.setdefault(t.files.folder.name, []).append(t)
    return {
        "tasks": {t.summary.task: asdict(t.summary.cost) for t in tasks},
        "runs": {name: asdict(total_cost(t.summary.cost for t in ts)) for name, ts in folders.items()},
        "total": asdict(total_cost(t.summary.cost for t in tasks)),
    }


def build_submission(model: ModelReport, report: Report, generated: datetime) -> dict[str, Any]:
    medhalltune = {sample: {r.key: r for r in rows} for sample, rows in model.medhalltune.items()}
    full = medhalltune.get(False, {})
    boot = report.bootstrap
    return {
        "schema": SCHEMA_ID,
        "model": {"name": model.records.model, "framework": model.records.framework},
        "clinhallu": {
            "sources": {r.key: entry(r, CLINHALLU_KEYS) for r in model.sources},
            "average": entry(model.average, CLINHALLU_KEYS) | ({} if model.average else {"sources_used": []}),
            "other_sources": {r.key: entry(r, CLINHALLU_KEYS) for r in model.others},
        },
        "medhalltune": {
            "P": entry(full.get("P"), MEDHALLTUNE_KEYS),
            "N": entry(full.get("N"), MEDHALLTUNE_KEYS),
            "other_subsets": {"sample": {split: entry(r, MEDHALLTUNE_KEYS) for split, r in medhalltune[True].items()}}
            if True in medhalltune else {},
        },
        "uncertainty": {
            "method": "percentile bootstrap over items", "level": boot.level, "iterations": boot.iters,
            "seed": boot.seed, "average": "stratified: each source resampled independently",
            "allow_partial_average": report.allow_partial_average,
        },
        "provenance": {"generated_at": f"{generated:%Y-%m-%dT%H:%M:%SZ}", **provenance(model)},
        "cost": cost(model),
        "notes": list(dict.fromkeys(model.notes)),
    }


def load_schema() -> dict[str, Any]:
    return json.loads(files("clinhallu_tasks.report").joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))


def validate_submission(doc: Mapping[str, Any]) -> list[str]:
    """Every way `doc` breaks the shipped schema ([] when it is valid)."""
    validator = jsonschema.Draft202012Validator(load_schema())
    return [f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.message}"
            for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))]


def write_json(path: Path, doc: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
