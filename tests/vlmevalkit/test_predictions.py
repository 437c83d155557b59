"""The prediction file is read back exactly as the model wrote it, whatever pandas would guess."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest

from clinhallu_tasks.errors import DataError
from clinhallu_tasks.vlmevalkit.predictions import FAILED_ANSWER, XLSX_CELL_LIMIT, read_predictions

AWKWARD = {
    "a": "[Visual Recognition]\n\tA \"quoted\" line, a tab\n\n[Answer] yes",
    "b": "1",  # a number to pandas
    "c": "NA",  # missing to pandas
    "d": "",
}


def frame(predictions: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({"index": range(len(predictions)), "item_id": list(predictions),
                         "question": "q", "prediction": list(predictions.values())})


def test_tsv_as_vlmevalkit_writes_it_reads_back_exactly(tmp_path):
    path = tmp_path / "m_ClinHallu_Sample_baseline.tsv"
    frame(AWKWARD).to_csv(path, sep="\t", index=False, encoding="utf-8", quoting=csv.QUOTE_ALL)  # vlmeval's dump
    assert read_predictions(path).responses == AWKWARD


def test_json_predictions_read_back_exactly(tmp_path):
    path = tmp_path / "m_MedHallTune_P.json"
    path.write_text(json.dumps(frame(AWKWARD).to_dict("records")))
    assert read_predictions(path).responses == AWKWARD


def test_vlmevalkit_failure_marker_is_an_empty_response_and_listed(tmp_path):
    path = tmp_path / "m_MedHallTune_P.tsv"
    frame({"a": FAILED_ANSWER, "b": "fine"}).to_csv(path, sep="\t", index=False)
    predictions = read_predictions(path)
    assert predictions.responses == {"a": "", "b": "fine"} and predictions.failed == ["a"]


def test_xlsx_predictions_at_the_cell_limit_are_flagged(tmp_path):
    path = tmp_path / "m_MedHallTune_P.xlsx"
    frame({"long": "x" * XLSX_CELL_LIMIT, "short": "y"}).to_excel(path, index=False)
    predictions = read_predictions(path)
    assert predictions.truncated == ["long"] and predictions.responses["short"] == "y"


def test_a_file_without_item_ids_names_the_row_and_column(tmp_path):
    path = tmp_path / "m_MedHallTune_P.tsv"
    frame({"a": "x"}).drop(columns="item_id").to_csv(path, sep="\t", index=False)
    with pytest.raises(DataError, match=r"line 1, field 'item_id'"):
        read_predictions(path)
