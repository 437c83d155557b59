"""MedHallTune through the evaluation layer: one judge call per answer, text metrics, records.

The fake judge (tests/medhalltune/fake_judge.py) scores by fixed rules: an answer equal to the
ground truth `9 9 8 9`, one with HALLU `2 3 4 1`, FAKE_JUDGE_MALFORMED gets no score line, others `4 5 3 6`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from clinhallu_tasks.evaluation import PreparedTask, TaskEvaluation, data_fingerprint
from clinhallu_tasks.evaluation.medhalltune import bertscore_model_name
from clinhallu_tasks.medhalltune import SAMPLE_ROOT, load_root
from clinhallu_tasks.metrics.text_similarity import BertScoreSettings
from clinhallu_tasks.records import TaskFiles, TaskRecords
from tests.medhalltune.fake_judge import medhalltune_responder
from tests.support.judge_server import FakeJudgeServer

TASK = "medhalltune_sample_pos"


@pytest.fixture
def server():
    with FakeJudgeServer(medhalltune_responder) as fake:
        yield fake


@pytest.fixture
def six_items():
    """Six sample questions (P and N), the second without its calibration row."""
    items = [item for split in load_root(SAMPLE_ROOT).values() for item in split.items][:6]
    return [items[0], dataclasses.replace(items[1], reference=None), *items[2:]]


def _evaluate(context, items, answers) -> TaskEvaluation:
    prepared = PreparedTask(name=TASK, benchmark="medhalltune", source="P", run=None, items=tuple(items),
                            items_released=None, data_root=None)
    evaluation = TaskEvaluation(context, prepared)
    for item, answer in zip(items, answers, strict=True):
        evaluation.add_response(item.item_id, answer)
    evaluation.finish()
    return evaluation


def test_one_call_per_answer_gives_the_four_dimensions(make_context, server, six_items, tmp_path, wordnet):
    items = six_items
    answers = [items[0].ground_truth, "HALLU: a mass is present.", "Something else.",
               "FAKE_JUDGE_MALFORMED", items[4].ground_truth.upper(), "No."]
    summary = _evaluate(make_context(server.base_url, judge={"format_retries": 1}), items, answers).summary
    assert summary is not None
    assert server.received == 7  # six answers, the malformed one asked twice
    # Means over the five verdicts only; the failure is counted, never filled in.
    assert summary.metrics["medhalltune_clinical_accuracy"] == pytest.approx((9 + 2 + 4 + 9 + 4) / 5)
    assert summary.metrics["medhalltune_risk_level"] == pytest.approx((9 + 1 + 6 + 9 + 6) / 5)
    assert (summary.counts["medhalltune_judge.judged"], summary.counts["medhalltune_judge.failed"]) == (5, 1)
    assert summary.counts["without_reference"] == 1
    judgments = TaskRecords.read(TaskFiles(tmp_path / "out", TASK)).judgments
    assert [j.status for j in judgments] == ["judged", "judged", "judged", "failed", "judged", "judged"]
    assert judgments[0].scores == {"clinical_accuracy": 9, "clinical_relevance": 9, "detail_level": 8,
                                   "risk_level": 9}
    assert judgments[1].reason == "fake judge, without a calibration sample."
    assert judgments[3].attempts == 2 and judgments[3].raw_reply

    # The cache answers a second evaluation: only the failed verdict is asked again.
    server.reset_counters()
    again = _evaluate(make_context(server.base_url, judge={"format_retries": 0}, output_folder=tmp_path / "again"),
                      items, answers).summary
    assert again is not None and server.received == 1
    assert again.metrics["medhalltune_clinical_accuracy"] == summary.metrics["medhalltune_clinical_accuracy"]
    assert again.cost.cache_hits == 5


def test_text_metrics_per_answer_and_bertscore_over_the_task(make_context, six_items, tmp_path, wordnet):
    items = six_items[:3]
    summary = _evaluate(make_context(None), items, [item.ground_truth for item in items]).summary
    assert summary is not None
    assert summary.metrics["medhalltune_bertscore"] == pytest.approx(1.0, abs=1e-5)
    assert summary.metrics["medhalltune_rouge_l"] == 1.0
    samples = TaskRecords.read(TaskFiles(tmp_path / "out", TASK)).samples
    assert all(s.bertscore == pytest.approx(1.0, abs=1e-5) and s.rouge_l == 1.0 for s in samples)  # type: ignore[union-attr]
    assert summary.metrics["medhalltune_clinical_accuracy"] is None
    assert "no judge configured" in summary.metric_notes["medhalltune_clinical_accuracy"]


def test_the_bertscore_model_is_recorded_by_name_not_by_path(make_context, six_items, tmp_path, minilm, wordnet):
    assert Path(str(minilm.model)).is_absolute()
    summary = _evaluate(make_context(None), six_items[:1], ["An answer."]).summary
    assert summary is not None
    assert summary.settings["bertscore_model"] == Path(str(minilm.model)).name
    assert summary.settings["bertscore_num_layers"] == 6
    written = (tmp_path / "out" / f"{TASK}.summary.json").read_text()
    assert str(minilm.model) not in written
    assert bertscore_model_name(BertScoreSettings()) == "roberta-large"  # a hub name stays as given


def test_a_failing_bertscore_keeps_every_other_metric(make_context, six_items, tmp_path, wordnet, monkeypatch):
    from clinhallu_tasks.evaluation import medhalltune as layer
    from clinhallu_tasks.metrics.text_similarity import MetricAssetError

    def broken(*args, **kwargs):
        raise MetricAssetError("the BERTScore model cannot be loaded")

    monkeypatch.setattr(layer, "bertscore_f1", broken)
    items = six_items[:2]
    summary = _evaluate(make_context(None), items, ["a", "b"]).summary
    assert summary is not None and summary.metrics["medhalltune_bertscore"] is None
    assert "cannot be loaded" in summary.metric_notes["medhalltune_bertscore"]
    assert summary.metrics["medhalltune_meteor"] is not None
    assert len(TaskRecords.read(TaskFiles(tmp_path / "out", TASK)).samples) == 2


def test_the_data_fingerprint_includes_the_image(tmp_path, six_items):
    item = six_items[0]
    assert item.image_path is not None
    copy = tmp_path / item.image
    copy.write_bytes(item.image_path.read_bytes())
    moved = dataclasses.replace(item, image_path=copy)
    assert data_fingerprint([moved]) == data_fingerprint([item])
    copy.write_bytes(b"another figure")
    assert data_fingerprint([moved]) != data_fingerprint([item])


def test_the_records_name_the_judge_templates_used(make_context, server, six_items, tmp_path, wordnet):
    summary = _evaluate(make_context(server.base_url), six_items[:1], ["x"]).summary
    assert summary is not None
    assert sorted(summary.wording.templates) == [
        "medhalltune_judge_calibration.txt", "medhalltune_judge_system.txt", "medhalltune_judge_user.txt"]
    assert summary.wording.judge == "package"
    assert json.loads((tmp_path / "out" / f"{TASK}.summary.json").read_text())["judge"]["model"] == "fake-judge"
