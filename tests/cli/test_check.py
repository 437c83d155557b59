"""`clinhallu-tasks check`: every problem of every file, both benchmarks, counts against the release."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from clinhallu_tasks.check import run_check
from clinhallu_tasks.cli import main
from clinhallu_tasks.medhalltune import QUESTION_FILES, SAMPLE_ROOT


def record(**overrides) -> dict:
    base = {
        "source_id": "r1",
        "question": "Is there an effusion?",
        "answer": "yes",
        "images": ["a.png"],
        "question_type": "yes_no",
        "gold_cot": {
            "visual_recognition": {"text": "A dense opacity at the left base."},
            "knowledge_recall": {"text": "Effusions collect at dependent bases."},
            "reasoning": {"text": "The opacity matches fluid.", "answer": "yes"},
        },
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def write_source(root: Path, key: str, records: list[dict], images: tuple[str, ...] = ("a.png",)) -> None:
    folder = root / key
    (folder / "images").mkdir(parents=True)
    (folder / "gold_cot.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    for name in images:
        (folder / "images" / name).write_bytes(b"an image")


def lines_of(capsys) -> str:
    return capsys.readouterr().out


def test_every_bad_record_of_a_file_is_listed_not_only_the_first(tmp_path, capsys):
    write_source(tmp_path, "pathvqa-test", [
        record(),
        record(source_id="r2", question=None),  # line 2: no question
        record(source_id="r3"),
        record(source_id="r4"),
        record(source_id="r5", answer=None),  # line 5: no answer
    ])
    assert run_check(tmp_path, None, environ={}) == 1
    out = lines_of(capsys)
    assert "line 2, field 'question': missing" in out
    assert "line 5, field 'answer': missing" in out
    assert "PathVQA         3 items" in out


def test_every_bad_field_of_one_record_is_listed(tmp_path, capsys):
    write_source(tmp_path, "vqa-rad-test", [record(question=None, answer=None, images=[])])
    run_check(tmp_path, None, environ={})
    out = lines_of(capsys)
    for field in ("question", "answer", "images"):
        assert f"line 1, field '{field}'" in out


def test_counts_are_set_against_the_released_total(tmp_path, capsys):
    write_source(tmp_path, "vqa-rad-test", [record(), record(source_id="r2")])
    run_check(tmp_path, None, environ={})
    out = lines_of(capsys)
    assert "Total: 2 items read from 1 of 4 sources; the benchmark releases 7,031 across the four." in out
    # A missing source is a problem, named with the paths tried.
    assert "MedXpertQA  PROBLEM" in out and "medxpert-test" in out


def test_every_missing_image_is_listed(tmp_path, capsys):
    write_source(tmp_path, "vqa-rad-test", [record(source_id=f"r{i}", images=[f"i{i}.png"]) for i in range(3)])
    assert run_check(tmp_path, None, environ={}) == 1
    out = lines_of(capsys)
    for i in range(3):
        assert f"missing image for r{i}" in out


def test_medhalltune_root_is_checked_with_every_problem(tmp_path, capsys):
    root = Path(shutil.copytree(SAMPLE_ROOT, tmp_path / "med"))
    questions = root / QUESTION_FILES["P"]
    rows = [json.loads(line) for line in questions.read_text().splitlines()]
    del rows[0]["gpt4_answer"]
    rows[2]["image"] = "not-there.jpg"
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{broken\n")
    assert run_check(None, root, environ={}) == 1
    out = lines_of(capsys)
    assert "line 1, field 'gpt4_answer': missing" in out
    assert "line 4: not valid JSON" in out
    assert "missing image: " in out and "not-there.jpg" in out
    assert "the benchmark releases 1,110" in out and "releases 1,128" in out


def test_clean_sample_roots_pass(capsys):
    assert run_check(None, SAMPLE_ROOT, environ={}) == 0
    assert "OK: no problems found." in lines_of(capsys)


def test_roots_come_from_the_environment(tmp_path, capsys):
    assert run_check(None, None, environ={"MEDHALLTUNE_DATA_DIR": str(SAMPLE_ROOT)}) == 0
    assert f"MedHallTune data root: {SAMPLE_ROOT}" in lines_of(capsys)


def test_nothing_to_check_is_an_error_naming_both_variables(capsys):
    assert run_check(None, None, environ={}) == 2
    out = lines_of(capsys)
    assert "CLINHALLU_DATA_DIR" in out and "MEDHALLTUNE_DATA_DIR" in out


@pytest.mark.parametrize("argv", [["check", "--medhalltune", str(SAMPLE_ROOT)]])
def test_command_line(argv, monkeypatch, capsys):
    monkeypatch.delenv("CLINHALLU_DATA_DIR", raising=False)
    assert main(argv) == 0
