"""Reading ClinHallu data roots: both layouts, clear errors, no image decoding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clinhallu_tasks.clinhallu.items import SOURCES_BY_NAME
from clinhallu_tasks.clinhallu.loading import (
    load_source,
    locate_source,
    missing_images,
    read_items,
    sample_files,
)
from clinhallu_tasks.errors import DataError, DataRootError
from clinhallu_tasks.settings import Settings


def record(**overrides) -> dict:
    base = {
        "source_id": "r1",
        "question": "Is there an effusion?",
        "answer": "yes",
        "images": ["a.png"],
        "question_type": "yes_no",
        "split": "test",
        "gold_cot": {
            "raw": "...",
            "visual_recognition": {"text": "A dense opacity at the left base."},
            "knowledge_recall": {"text": "Effusions collect at dependent bases."},
            "reasoning": {"text": "The opacity matches fluid.", "answer": "yes"},
        },
        "cot_valid": True,
    }
    base.update(overrides)
    return base


def write_flat(root: Path, key: str, records: list, images: dict[str, bytes] | None = None) -> Path:
    folder = root / key
    (folder / "images").mkdir(parents=True)
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    (folder / "gold_cot.jsonl").write_text("\n".join(lines) + "\n")
    for name, data in (images or {"a.png": b"not really a png"}).items():
        (folder / "images" / name).write_bytes(data)
    return folder / "gold_cot.jsonl"


def test_flat_layout_is_found_and_read(tmp_path):
    write_flat(tmp_path, "vqa-rad-test", [record(), record(source_id="r2")])
    items = load_source("vqa_rad", tmp_path)
    assert [i.item_id for i in items] == ["r1", "r2"]
    assert items[0].image_paths == (str(tmp_path / "vqa-rad-test" / "images" / "a.png"),)
    assert items[0].gold.knowledge_recall == "Effusions collect at dependent bases."
    assert items[0].gold.answer == "yes"


def test_official_layout_is_found_and_read(tmp_path):
    gold = tmp_path / "results" / "pathvqa-test" / "gold" / "some-gold-model" / "gold_cot.jsonl"
    gold.parent.mkdir(parents=True)
    gold.write_text(json.dumps(record(source_id=None, original_index=7)) + "\n")
    files = locate_source(tmp_path, SOURCES_BY_NAME["pathvqa"])
    assert files.layout == "official"
    assert files.image_dir == tmp_path / "data" / "pathvqa" / "input" / "test" / "images"
    assert read_items(files)[0].item_id == "7"  # original_index when source_id is absent


def test_missing_source_names_both_paths_tried(tmp_path):
    with pytest.raises(DataRootError) as error:
        locate_source(tmp_path, SOURCES_BY_NAME["medframeqa"])
    message = str(error.value)
    assert str(tmp_path / "medframeqa-test" / "gold_cot.jsonl") in message
    assert "results/medframeqa-test/gold" in message


def test_unset_variable_is_named():
    with pytest.raises(DataRootError, match="CLINHALLU_DATA_DIR is not set"):
        Settings.from_env({}).clinhallu_root()


@pytest.mark.parametrize(
    ("bad", "line", "field"),
    [
        ('{"question": ', 2, None),
        (record(question_type="free_text"), 2, "question_type"),
        (record(question_type="multiple_choice", answer_letter="A"), 2, "options"),
        (record(gold_cot={"visual_recognition": {"text": "x"}, "reasoning": {"text": "y"}}), 2,
         "gold_cot.knowledge_recall.text"),
        (record(images=[]), 2, "images"),
    ],
)
def test_bad_record_error_names_file_line_and_field(tmp_path, bad, line, field):
    path = write_flat(tmp_path, "vqa-rad-test", [record(), bad])
    with pytest.raises(DataError) as error:
        load_source("vqa_rad", tmp_path)
    assert error.value.path == path
    assert error.value.line == line
    assert error.value.field == field
    assert f"{path}, line {line}" in str(error.value)


def test_multiple_choice_record_keeps_options_and_letter(tmp_path):
    mc = record(
        question_type="multiple_choice",
        answer="C. Lung cancer",
        answer_letter="c",
        options=["A. Asthma", "B. COPD", "C. Lung cancer"],
    )
    write_flat(tmp_path, "medxpert-test", [mc])
    item = load_source("medxpertqa", tmp_path)[0]
    assert item.options == ("A. Asthma", "B. COPD", "C. Lung cancer")
    assert item.answer_letter == "C"


def test_all_missing_images_are_listed_not_only_the_first(tmp_path):
    records = [record(source_id=f"r{i}", images=[f"img{i}.png", "a.png"]) for i in range(5)]
    write_flat(tmp_path, "vqa-rad-test", records, images={"a.png": b"x", "img0.png": b""})
    missing = [(item.item_id, Path(path).name) for item, path in missing_images(load_source("vqa_rad", tmp_path))]
    assert missing == [("r0", "img0.png"), ("r1", "img1.png"), ("r2", "img2.png"), ("r3", "img3.png"),
                       ("r4", "img4.png")]


def test_loading_never_decodes_images(tmp_path):
    # The "images" are not images at all: loading and the missing-image check must not care.
    write_flat(tmp_path, "vqa-rad-test", [record()], images={"a.png": b"garbage bytes"})
    items = load_source("vqa_rad", tmp_path)
    assert list(missing_images(items)) == []


def test_embedded_sample_covers_every_question_shape():
    items = load_source("sample")
    assert sample_files().layout == "embedded"
    assert len(items) == 12
    assert {i.question_type for i in items} == {"yes_no", "open_ended", "multiple_choice"}
    assert max(len(i.image_paths) for i in items) >= 2  # a multi-image item
    assert list(missing_images(items)) == []
