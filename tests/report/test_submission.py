"""submission.json: the interface keys, checked by jsonschema against the shipped schema file."""

from __future__ import annotations

import copy
import dataclasses

import jsonschema
import pytest

from clinhallu_tasks.records import Cost
from clinhallu_tasks.report import command
from clinhallu_tasks.report.submission import load_schema, validate_submission
from clinhallu_tasks.spec import clinhallu as ch
from clinhallu_tasks.spec import medhalltune as mh
from tests.report.records_builder import run_report, write_model

INTERFACE_SOURCE_KEYS = ("acc", "h_v", "h_k", "h_r", "delta_v", "delta_vk", "delta_k", "valid_rate", "n")
INTERFACE_SPLIT_KEYS = ("clinical_accuracy", "clinical_relevance", "detail_level", "risk_level", "bertscore", "meteor")


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("submission")
    write_model(tmp / "runs", runs=tuple(r.name for r in ch.RUNS))
    return run_report([tmp / "runs"], tmp / "out").submission()


def test_the_schema_file_is_a_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema())


def test_a_report_validates_and_keeps_the_interface_keys(doc: dict) -> None:
    assert validate_submission(doc) == []
    assert doc["schema"] == "clinhallu-tasks/submission/v2"
    for source in ("vqa-rad", "pathvqa", "medframeqa", "medxpertqa"):
        assert all(doc["clinhallu"]["sources"][source][k] is not None for k in INTERFACE_SOURCE_KEYS), source
    assert all(doc["clinhallu"]["average"][k] is not None for k in INTERFACE_SOURCE_KEYS)
    for split in ("P", "N"):
        assert all(doc["medhalltune"][split][k] is not None for k in INTERFACE_SPLIT_KEYS), split


def test_the_schema_names_every_key_of_the_spec_and_the_records() -> None:
    defs = load_schema()["$defs"]
    assert set(defs["clinhallu_row"]["required"]) >= {*INTERFACE_SOURCE_KEYS, *(d.key for d in ch.DELTAS)}
    assert set(defs["medhalltune_row"]["required"]) >= {m.key for m in mh.METRICS}
    assert set(defs["cost"]["required"]) == {f.name for f in dataclasses.fields(Cost)}
    sources = load_schema()["properties"]["clinhallu"]["properties"]["sources"]["required"]
    assert sources == [s.submission_key for s in ch.AVERAGE_SOURCES]


@pytest.mark.parametrize(("path", "value", "where"), [
    (("clinhallu", "sources", "pathvqa", "acc"), "high", "clinhallu/sources/pathvqa/acc"),
    (("clinhallu", "average", "status"), "done", "clinhallu/average/status"),
    (("medhalltune", "P", "ci", "bertscore"), [0.1], "medhalltune/P/ci/bertscore"),
    (("provenance", "bertscore_model"), ["/home/alice/roberta-large"], "provenance/bertscore_model/0"),
    (("cost", "total", "judge_calls"), -1, "cost/total/judge_calls"),
])
def test_a_broken_document_is_refused_at_the_broken_field(doc: dict, path: tuple, value: object, where: str) -> None:
    broken = copy.deepcopy(doc)
    target = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    errors = validate_submission(broken)
    assert errors and errors[0].startswith(where + ":")


def test_a_submission_that_breaks_the_schema_is_written_aside_and_fails_the_command(tmp_path, monkeypatch) -> None:
    write_model(tmp_path / "runs", sources=("pathvqa",), medhalltune=False)
    build = command.build_submission
    monkeypatch.setattr(command, "build_submission", lambda *a: build(*a) | {"schema": "something else"})
    run_report([tmp_path / "runs"], tmp_path / "out", expect=1)
    assert (tmp_path / "out" / "submission.invalid.json").is_file()
    assert not (tmp_path / "out" / "submission.json").exists()
