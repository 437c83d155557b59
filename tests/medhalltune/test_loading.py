"""Reading a MedHallTune data root: layout, keys, the <image> placeholder, and clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from clinhallu_tasks.errors import DataError, DataRootError
from clinhallu_tasks.medhalltune import (
    QUESTION_FILES,
    REFERENCE_FILES,
    SAMPLE_ROOT,
    load_root,
    load_split,
    strip_image_placeholder,
)
from clinhallu_tasks.settings import Settings


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A copy of the embedded sample (released rows, stand-in images) to damage."""
    return Path(shutil.copytree(SAMPLE_ROOT, tmp_path / "root"))


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_lines(path: Path, lines: list) -> None:
    text = [line if isinstance(line, str) else json.dumps(line) for line in lines]
    path.write_text("\n".join(text) + "\n", encoding="utf-8")


def test_sample_loads_without_any_variable(monkeypatch):
    monkeypatch.delenv("MEDHALLTUNE_DATA_DIR", raising=False)
    loaded = load_root(SAMPLE_ROOT)
    assert [item.key for item in loaded["P"].items] == [("P", 0), ("P", 2), ("P", 7)]
    assert [item.key for item in loaded["N"].items] == [("N", 1), ("N", 2), ("N", 6)]
    for part in loaded.values():
        for item in part.items:
            assert "<image>" not in item.question
            assert item.image_path is not None and item.image_path.is_file()
            assert item.reference is not None and item.reference.verdict[0].isdigit()


def test_item_fields_come_from_the_right_columns(root):
    item = load_split(root, "P").items[0]
    row = read_rows(root / QUESTION_FILES["P"])[0]
    ref = read_rows(root / REFERENCE_FILES["P"])[0]
    assert item.question == "What does the chest x-ray reveal about the left midlung?"
    assert item.ground_truth == row["gpt4_answer"]
    assert item.caption == row["fig_caption"]
    assert item.image == row["image"] and item.image_path == root / "images" / row["image"]
    assert item.reference.answer == ref["answer"] and item.reference.verdict == ref["result"]
    assert item.item_id == "P-0"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What is shown?\n<image>", "What is shown?"),
        ("<image>\nWhat is shown?", "What is shown?"),
        ("Look at <image> and say what is shown.", "Look at and say what is shown."),
        ("Line one\nline two\n<image>", "Line one\nline two"),
        ("No placeholder here", "No placeholder here"),
    ],
)
def test_image_placeholder_is_removed(text, expected):
    assert strip_image_placeholder(text) == expected


def test_missing_variable_says_what_to_set():
    with pytest.raises(DataRootError) as err:
        Settings.from_env({}).medhalltune_root()
    message = str(err.value)
    assert "MEDHALLTUNE_DATA_DIR" in message and "val_positive_qa-filtered.jsonl" in message
    assert "medhalltune_sample" in message


def test_variable_naming_no_folder(tmp_path):
    with pytest.raises(DataRootError, match="no such directory"):
        Settings.from_env({"MEDHALLTUNE_DATA_DIR": str(tmp_path / "nope")})
    assert Settings.from_env({"MEDHALLTUNE_DATA_DIR": str(tmp_path)}).medhalltune_root() == tmp_path


def test_every_missing_file_is_named_in_one_message(root):
    (root / REFERENCE_FILES["N"]).unlink()
    (root / QUESTION_FILES["P"]).unlink()
    shutil.rmtree(root / "images")
    with pytest.raises(DataRootError) as err:
        load_root(root)
    message = str(err.value)
    assert str(root) in message
    for name in (REFERENCE_FILES["N"], QUESTION_FILES["P"], "images/"):
        assert name in message


def test_one_split_needs_only_its_own_files(root):
    (root / REFERENCE_FILES["N"]).unlink()
    assert len(load_split(root, "P").items) == 3
    with pytest.raises(DataRootError, match="llava-med-prediction-negative"):
        load_split(root, "N")


def test_missing_images_are_listed(root):
    (root / "images" / "34760421_FIG1.jpg").unlink()
    (root / "images" / "35453606_biomedicines-10-00856-f006.jpg").write_bytes(b"")
    with pytest.raises(DataRootError) as err:
        load_split(root, "P")
    message = str(err.value)
    assert "2 image file(s)" in message and "34760421_FIG1.jpg" in message
    assert str(root / "images") in message and "russellyq/MedHallTune" in message
    # Text-only use (conformance, text metrics) does not need the figures.
    assert len(load_split(root, "P", images=False).items) == 3


def test_malformed_json_names_file_and_line(root):
    path = root / QUESTION_FILES["N"]
    lines = path.read_text().splitlines()
    lines[1] = lines[1][:40]
    write_lines(path, lines)
    with pytest.raises(DataError) as err:
        load_split(root, "N")
    assert err.value.path == path and err.value.line == 2
    assert QUESTION_FILES["N"] in str(err.value) and "line 2" in str(err.value)


@pytest.mark.parametrize("field", ["question_id", "image", "text", "gpt4_answer", "fig_caption"])
def test_missing_question_field_names_file_line_and_field(root, field):
    path = root / QUESTION_FILES["P"]
    rows = read_rows(path)
    del rows[2][field]
    write_lines(path, rows)
    with pytest.raises(DataError) as err:
        load_split(root, "P")
    assert (err.value.path, err.value.line, err.value.field) == (path, 3, field)
    assert f"line 3, field '{field}': missing" in str(err.value)


@pytest.mark.parametrize("field", ["question_id", "answer", "result"])
def test_missing_reference_field_names_file_line_and_field(root, field):
    path = root / REFERENCE_FILES["N"]
    rows = read_rows(path)
    del rows[0][field]
    write_lines(path, rows)
    with pytest.raises(DataError) as err:
        load_split(root, "N")
    assert (err.value.path, err.value.line, err.value.field) == (path, 1, field)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("question_id", "3", "expected int, got str"),
        ("question_id", True, "expected int, got bool"),
        ("text", None, "expected str, got NoneType"),
        ("gpt4_answer", "   ", "empty"),
        ("text", "<image>", "empty once the <image> placeholder is removed"),
    ],
)
def test_bad_values_are_reported(root, field, value, expected):
    path = root / QUESTION_FILES["P"]
    rows = read_rows(path)
    rows[1][field] = value
    write_lines(path, rows)
    with pytest.raises(DataError) as err:
        load_split(root, "P")
    assert err.value.line == 2 and err.value.field == field
    assert expected in str(err.value)


def test_non_object_line_is_reported(root):
    path = root / QUESTION_FILES["P"]
    write_lines(path, [*path.read_text().splitlines(), "[1, 2]"])
    with pytest.raises(DataError, match="line 4: expected a JSON object, got list"):
        load_split(root, "P")


def test_duplicate_id_is_reported(root):
    path = root / QUESTION_FILES["P"]
    rows = read_rows(path)
    rows[2]["question_id"] = rows[0]["question_id"]
    write_lines(path, rows)
    with pytest.raises(DataError, match="line 3, field 'question_id': 0 repeats line 1"):
        load_split(root, "P")


def test_blank_lines_are_ignored_and_line_numbers_stay_true(root):
    path = root / QUESTION_FILES["P"]
    rows = read_rows(path)
    write_lines(path, [rows[0], "", rows[1], "   ", rows[2], ""])
    assert len(load_split(root, "P").items) == 3
    rows[2].pop("gpt4_answer")
    write_lines(path, [rows[0], "", rows[1], "   ", rows[2]])
    with pytest.raises(DataError, match="line 5, field 'gpt4_answer'"):
        load_split(root, "P")


def test_reference_gap_falls_back_to_no_calibration_and_is_counted(root):
    path = root / REFERENCE_FILES["P"]
    rows = read_rows(path)
    write_lines(path, [rows[0], rows[2]])  # question 2 loses its LLaVA-Med row
    part = load_split(root, "P")
    assert len(part.items) == 3  # the question stays in the test set
    assert part.without_reference == (2,) and part.n_without_reference == 1
    assert [item.reference is None for item in part.items] == [False, True, False]


def test_extra_reference_rows_are_counted_not_fatal(root):
    path = root / REFERENCE_FILES["N"]
    rows = read_rows(path)
    extra = dict(rows[0], question_id=9999)
    write_lines(path, [*rows, extra])
    assert load_split(root, "N").unused_references == 1


def test_reference_for_a_different_question_is_refused(root):
    path = root / REFERENCE_FILES["P"]
    rows = read_rows(path)
    rows[1]["text"] = "Some other question?\n<image>"
    write_lines(path, rows)
    with pytest.raises(DataError) as err:
        load_split(root, "P")
    assert (err.value.path, err.value.line, err.value.field) == (path, 2, "text")
    assert "question_id 2" in str(err.value)


def test_unknown_split_is_rejected(root):
    with pytest.raises(ValueError, match="unknown MedHallTune split"):
        load_split(root, "X")  # type: ignore[arg-type]
