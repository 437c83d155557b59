"""VLMEvalKit's prediction file, read back exactly as the model wrote it (no VLMEvalKit import).

VLMEvalKit writes `<model>_<dataset>.<xlsx|tsv|json>` with every column of the dataset's table
(less `image`) and the model's `prediction`. Its own loader lets pandas guess types, which turns
a prediction such as "1" into a number and an empty one into NaN; here every cell is read as
text. xlsx cells hold at most 32,767 characters: a prediction of that length was cut, which is
why `clinhallu-vlmeval` asks ms-vlmeval for TSV predictions.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clinhallu_tasks.errors import DataError

logger = logging.getLogger("clinhallu_tasks")

# What VLMEvalKit's API wrappers write when the model gave no answer (or an empty one) after
# every retry (vlmeval/inference.py FAIL_MSG in both distributions).
FAILED_ANSWER = "Failed to obtain answer via API."
XLSX_CELL_LIMIT = 32_767

ITEM_COLUMN = "item_id"
PREDICTION_COLUMN = "prediction"


@dataclass(frozen=True)
class Predictions:
    """The model's response per item id, and what had to be read around."""

    responses: dict[str, str]
    failed: list[str] = field(default_factory=list)  # items VLMEvalKit marked as failed: scored as empty
    truncated: list[str] = field(default_factory=list)  # xlsx items at the cell limit: likely cut


def _rows(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
            raise DataError(path, None, None, "expected a JSON list of rows")
        return data
    import pandas as pd

    if suffix == ".tsv":
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    elif suffix == ".xlsx":
        frame = pd.read_excel(path, dtype=str, keep_default_na=False)
    else:
        raise DataError(path, None, None, f"unknown prediction format {suffix!r} (expected .tsv, .json or .xlsx)")
    return frame.to_dict("records")


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):  # NaN: an empty cell
        return ""
    return str(value)


def read_predictions(path: Path) -> Predictions:
    """Every row's prediction by item id; DataError naming the file, row and column otherwise."""
    rows = _rows(path)
    responses: dict[str, str] = {}
    failed: list[str] = []
    truncated: list[str] = []
    for number, row in enumerate(rows, start=1):
        for column in (ITEM_COLUMN, PREDICTION_COLUMN):
            if column not in row:
                raise DataError(path, number, column, "missing: not the prediction file of one of our datasets")
        item_id = _text(row[ITEM_COLUMN])
        if item_id in responses:
            raise DataError(path, number, ITEM_COLUMN, f"{item_id!r} appears twice")
        response = _text(row[PREDICTION_COLUMN])
        if response.strip() == FAILED_ANSWER:
            failed.append(item_id)
            response = ""
        elif path.suffix.lower() == ".xlsx" and len(response) >= XLSX_CELL_LIMIT:
            truncated.append(item_id)
        responses[item_id] = response
    if failed:
        logger.warning("%s: %d prediction(s) are VLMEvalKit's %r (no answer after its retries); scored as empty "
                       "responses: %s", path.name, len(failed), FAILED_ANSWER, ", ".join(failed[:20]))
    if truncated:
        logger.warning("%s: %d prediction(s) reach the xlsx cell limit of %d characters and were probably cut "
                       "(use PRED_FORMAT=tsv with ms-vlmeval): %s", path.name, len(truncated), XLSX_CELL_LIMIT,
                       ", ".join(truncated[:20]))
    return Predictions(responses, failed, truncated)


__all__ = ["FAILED_ANSWER", "XLSX_CELL_LIMIT", "Predictions", "read_predictions"]
