"""Our VLMEvalKit dataset classes, in the imported VLMEvalKit, without its run loop."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from clinhallu_tasks.errors import BaselineError
from clinhallu_tasks.evaluation import EvaluationContext, TaskEvaluation, prepare
from clinhallu_tasks.records import TaskFiles, TaskRecords
from tests.support import scripted_model
from tests.vlmevalkit.support import minilm

pytestmark = pytest.mark.usefixtures("vlmeval_installed", "wordnet")  # MedHallTune checks WordNet on load


@pytest.fixture(autouse=True)
def quiet_environment(tmp_path, monkeypatch):
    """No judge, no data roots of the developer's, BERTScore offline, VLMEvalKit's image folder in tmp_path."""
    import os

    for variable in [v for v in os.environ if v.startswith(("CLINHALLU_", "MEDHALLTUNE_", "OPENAI_"))]:
        monkeypatch.delenv(variable)
    (tmp_path / "LMUData").mkdir()
    monkeypatch.setenv("LMUData", str(tmp_path / "LMUData"))
    monkeypatch.setenv("CLINHALLU_JUDGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MEDHALLTUNE_BERTSCORE_MODEL", str(minilm().model))  # checked when a task loads
    monkeypatch.setenv("MEDHALLTUNE_BERTSCORE_NUM_LAYERS", "6")


@pytest.fixture(scope="module")
def vlmeval_dataset():
    from clinhallu_tasks.vlmevalkit import register

    register()
    import vlmeval.dataset

    return vlmeval.dataset


def test_registration_makes_every_name_buildable_with_our_type(vlmeval_dataset):
    from clinhallu_tasks.vlmevalkit import register

    before = len(vlmeval_dataset.DATASET_CLASSES)
    register()  # a second time changes nothing
    assert len(vlmeval_dataset.DATASET_CLASSES) == before
    assert vlmeval_dataset.DATASET_TYPE("ClinHallu_VQA_RAD_baseline") == "CLINHALLU_TRACE"
    assert vlmeval_dataset.DATASET_TYPE("MedHallTune_P") == "MEDHALLTUNE_ANSWER"
    assert hasattr(vlmeval_dataset, "ClinHalluDataset") and hasattr(vlmeval_dataset, "MedHallTuneDataset")
    assert type(vlmeval_dataset.build_dataset("MedHallTune_Sample_N")).__name__ == "MedHallTuneDataset"


@pytest.mark.parametrize("name,task", [("ClinHallu_Sample_replace_vr", "clinhallu_sample_replace_vr"),
                                       ("MedHallTune_Sample_P", "medhalltune_sample_pos")])
def test_the_question_is_the_whole_prompt_of_the_evaluation_layer(vlmeval_dataset, name, task):
    dataset = vlmeval_dataset.build_dataset(name)
    evaluation = TaskEvaluation(EvaluationContext.from_env(), prepare(task))
    expected = {item.item_id: evaluation.prompt(item).text for item in evaluation.prepared.items}
    assert dict(zip(dataset.data["item_id"], dataset.data["question"], strict=True)) == expected


def test_the_message_is_the_text_then_every_image_in_order(vlmeval_dataset):
    dataset = vlmeval_dataset.build_dataset("ClinHallu_Sample_baseline")
    items = {item.item_id: item for item in dataset.prepared.items}
    several = [row for _, row in dataset.data.iterrows() if len(items[row["item_id"]].image_paths) > 1]
    assert several, "the sample has multi-image (MedFrameQA-like) items"
    for row in several:
        message = dataset.build_prompt(row)
        assert message[0] == {"type": "text", "value": row["question"]}
        assert [part["value"] for part in message[1:]] == list(items[row["item_id"]].image_paths)


def test_replace_kr_under_several_models_asks_for_one(vlmeval_dataset, tmp_path):
    from clinhallu_tasks.vlmevalkit.datasets import ClinHalluDataset

    with pytest.raises(BaselineError, match="2 models"):
        ClinHalluDataset("ClinHallu_Sample_replace_kr", work_dir=str(tmp_path), model=["a", "b"])


def test_replace_kr_without_baseline_records_names_the_folder(vlmeval_dataset, tmp_path):
    from clinhallu_tasks.vlmevalkit.datasets import ClinHalluDataset

    with pytest.raises(BaselineError, match=str(tmp_path / "m")):
        ClinHalluDataset("ClinHallu_Sample_replace_kr", work_dir=str(tmp_path), model=["m"])


def write_predictions(dataset, path: Path, respond) -> None:
    frame = dataset.data.copy()
    frame["prediction"] = [respond(q, 1) for q in frame["question"]]
    frame.to_csv(path, sep="\t", index=False, encoding="utf-8", quoting=csv.QUOTE_ALL)


def test_evaluate_without_a_judge_writes_records_and_leaves_judge_metrics_none(vlmeval_dataset, tmp_path):
    dataset = vlmeval_dataset.build_dataset("ClinHallu_Sample_baseline")
    path = tmp_path / "my-model_ClinHallu_Sample_baseline.tsv"
    write_predictions(dataset, path, scripted_model.respond)
    metrics = dataset.evaluate(str(path), nproc=4, retry=6, verbose=False)  # what the run loop always passes
    records = TaskRecords.read(TaskFiles(tmp_path, "clinhallu_sample_baseline"))
    assert records.summary.model == "my-model" and metrics == records.summary.metrics
    for metric, value in scripted_model.EXPECTED["clinhallu_sample_baseline"].items():
        assert metrics[metric] == pytest.approx(value)
    assert metrics["clinhallu_acc"] is None and "no judge configured" in records.summary.metric_notes["clinhallu_acc"]
    score = pd.read_csv(tmp_path / "my-model_ClinHallu_Sample_baseline_score.csv")
    assert score.set_index("metric")["value"]["clinhallu_acc_rule"] == pytest.approx(metrics["clinhallu_acc_rule"])


def test_the_python_api_route_of_the_docs_runs_and_rescores_from_the_cache(vlmeval_dataset, tmp_path):
    """docs/vlmevalkit.md, "From Python": VLMEvalKit's inference, then our evaluate; evaluate again for free."""
    from vlmeval.api import GPT4V
    from vlmeval.inference import infer_data_job

    from tests.support.judge_server import FakeJudgeServer
    from tests.support.model_server import FakeModelServer
    from tests.vlmevalkit import scripted

    name, work = "MedHallTune_Sample_P", tmp_path / "runs" / "my-vlm"
    work.mkdir(parents=True)  # VLMEvalKit does not create it
    with FakeModelServer(scripted.respond) as served, FakeJudgeServer(scripted.judge) as judge:
        model = GPT4V(model="my-vlm", api_base=f"{served.base_url}/chat/completions", key="sk-local",
                      temperature=0, max_tokens=256, retry=1, wait=0)
        dataset = vlmeval_dataset.build_dataset(name)
        infer_data_job(model, work_dir=str(work), model_name="my-vlm", dataset=dataset, verbose=False, api_nproc=2)
        predictions = next(work.glob(f"my-vlm_{name}.*"))
        judge_kwargs = {"model": "fake-judge", "api_base": judge.base_url, "key": "sk-judge"}
        metrics = dataset.evaluate(str(predictions), **judge_kwargs)
        calls = judge.received
        assert dataset.evaluate(str(predictions), **judge_kwargs) == metrics
        assert (len(served.requests), calls, judge.received) == (3, 3, 3)
    assert {m: metrics[m] for m in scripted.EXPECTED[name]} == pytest.approx(scripted.EXPECTED[name])
