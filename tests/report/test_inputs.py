"""Reading lmms-eval folders: task names, item ids, per-item values, judgments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clinhallu_tasks.report.inputs import (
    ClinHalluTask,
    MedHallTuneTask,
    item_id_of,
    load_models,
    model_name_from,
    parse_task_name,
)
from clinhallu_tasks.report.scores import build_report
from tests.report.report_fixtures import TaskSpec, med_items, write_run


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("clinhallu_vqa_rad_baseline", ClinHalluTask("vqa_rad", "baseline")),
        ("clinhallu_vqa_rad_replace_vr", ClinHalluTask("vqa_rad", "replace_vr")),
        ("clinhallu_medxpertqa_replace_vr_kr", ClinHalluTask("medxpertqa", "replace_vr_kr")),
        ("clinhallu_sample_replace_kr", ClinHalluTask("sample", "replace_kr")),
        ("medhalltune_pos", MedHallTuneTask("", "P")),
        ("medhalltune_sample_neg", MedHallTuneTask("sample", "N")),
        ("clinhallu", None),
        ("clinhallu_baseline", None),
        ("clinhallu_sample", None),
        ("medhalltune", None),
        ("mmmu_val", None),
    ],
)
def test_parse_task_name(name: str, expected: object) -> None:
    assert parse_task_name(name) == expected


def test_item_id_fallbacks() -> None:
    assert item_id_of({"doc_id": 3, "clinhallu_trace": {"item_id": "x1"}}) == "x1"
    assert item_id_of({"doc_id": 3, "medhalltune_judge": {"item_id": "P-7"}}) == "P-7"
    assert item_id_of({"doc_id": 3, "doc": {"question_id": 12}}) == "12"
    assert item_id_of({"doc_id": 3}) == "doc3"


def test_model_name_fallbacks(tmp_path: Path) -> None:
    path = tmp_path / "dir" / "x_results.json"
    assert model_name_from({"model_name": "a/b"}, path) == "a/b"
    assert model_name_from({"model_name": "", "config": {"model_args": "pretrained=q/w,dtype=bf16"}}, path) == "q/w"
    assert model_name_from({"config": {"model": "dummy", "model_args": "response=yes"}}, path) == "dummy"
    assert model_name_from({}, path) == "dir"


def test_medhalltune_per_item_scores_as_the_hooks_write_them(tmp_path: Path) -> None:
    """METEOR/ROUGE-L per sample in the log; BERTScore (batched in the aggregation) and the judge's
    four scores as judgment lines; a failed verdict has ``scores: null``."""
    items = med_items("P", 12, 6.0, 0)
    items[3].scores["risk_level"] = None  # -> a failed verdict
    write_run(tmp_path / "runs", "m", {"medhalltune_pos": TaskSpec(items)})
    models, problems = load_models([tmp_path / "runs"])
    assert problems == []
    task = models[0].tasks["medhalltune_pos"]
    assert task.item_values("medhalltune_clinical_accuracy")[items[3].item_id] is None
    assert task.judgment_counts() == {
        "medhalltune_judge": {"lines": 12, "failures": 1, "no_call": 0, "cached": 0, "excluded": 1}
    }
    assert task.text_metric_settings == {"bertscore_model": "roberta-large", "bertscore_num_layers": 17}
    assert task.recorded_fingerprints["judgment.templates_sha256"] == ["cd" * 32]
    report = build_report(models, iters=200)
    split = report.models[0].medhalltune[""]["P"]
    for key in ("clinical_accuracy", "risk_level", "bertscore", "meteor", "rouge_l"):
        assert split.metrics[key].ci is not None, key
    assert split.metrics["clinical_accuracy"].n == 11
    assert report.models[0].notes == ["MedHallTune: no N split; shown as missing"]


def test_missing_per_item_data_is_said_plainly(tmp_path: Path) -> None:
    items = med_items("P", 12, 6.0, 0)
    write_run(tmp_path / "runs", "m", {"medhalltune_pos": TaskSpec(items)})
    path = tmp_path / "runs" / "m" / "judgments_medhalltune_pos.jsonl"
    lines = [x for x in path.read_text().splitlines() if '"medhalltune_bertscore"' not in x]
    path.write_text("\n".join(lines) + "\n")
    models, _ = load_models([tmp_path / "runs"])
    report = build_report(models, iters=200)
    split = report.models[0].medhalltune[""]["P"]
    assert split.metrics["bertscore"].value is not None and split.metrics["bertscore"].ci is None
    assert split.metrics["meteor"].ci is not None
    assert any(
        n.startswith("no per-item data for medhalltune_bertscore in medhalltune_pos") for n in report.models[0].notes
    )


def test_stale_judgments_outside_the_sample_log_are_ignored(tmp_path: Path) -> None:
    from tests.report.report_fixtures import clin_items

    items = clin_items("vqa_rad", "baseline", 10, 0.5, 0.5, 0)
    write_run(tmp_path / "runs", "m", {"clinhallu_vqa_rad_baseline": TaskSpec(items)})
    path = tmp_path / "runs" / "m" / "judgments_clinhallu_vqa_rad_baseline.jsonl"
    with path.open("a") as fh:
        fh.write(json.dumps({"task": "clinhallu_vqa_rad_baseline", "metric": "clinhallu_acc",
                             "item_id": "vqa_rad-9999", "score": 1}) + "\n")  # fmt: skip
        fh.write("not json\n")
    models, _ = load_models([tmp_path / "runs"])
    task = models[0].tasks["clinhallu_vqa_rad_baseline"]
    values = task.item_values("clinhallu_acc")
    assert values is not None and "vqa_rad-9999" not in values and len(values) == 10
    assert any("not JSON" in w for w in models[0].warnings)
    report = build_report(models, iters=50)
    # per-item data agree with the results file: no disagreement note
    assert not any("from the per-item data" in n for n in report.models[0].notes)


def test_disagreement_between_results_and_items_is_noted(tmp_path: Path) -> None:
    from tests.report.report_fixtures import clin_items

    items = clin_items("vqa_rad", "baseline", 10, 0.5, 0.5, 0)
    path = write_run(tmp_path / "runs", "m", {"clinhallu_vqa_rad_baseline": TaskSpec(items)})
    raw = json.loads(path.read_text())
    raw["results"]["clinhallu_vqa_rad_baseline"]["clinhallu_h_v,none"] = 99.0
    path.write_text(json.dumps(raw))
    models, _ = load_models([tmp_path / "runs"])
    report = build_report(models, iters=50)
    src = report.models[0].sources["vqa_rad"]
    assert src.metrics["h_v"].value == 99.0  # the results file's number is reported...
    assert any("clinhallu_h_v is 99.0000 in the results file" in n for n in report.models[0].notes)  # ...flagged


def test_per_item_bertscore_comes_from_judgments_when_the_sample_log_holds_its_inputs(tmp_path):
    from clinhallu_tasks.report.inputs import ResultsFile, SampleRow, TaskData

    results = ResultsFile(tmp_path / "r.json", "d", "m", {}, None, None, {}, {})
    inputs = {"ground_truth": "g", "answer": "a"}  # what the BERTScore aggregation reads
    rows = [SampleRow(i, {"medhalltune_bertscore": {"item_id": i, **inputs}}, "x", None) for i in ("P-1", "P-2")]
    judgments = [
        {"metric": "medhalltune_bertscore", "item_id": "P-1", "score": 0.9},
        {"metric": "medhalltune_bertscore", "item_id": "P-2", "score": 0.8},
    ]
    task = TaskData("medhalltune_pos", results, {}, {}, None, 2, 2, rows, None, judgments, None)
    assert task.item_values("medhalltune_bertscore") == {"P-1": 0.9, "P-2": 0.8}
