"""ClinHallu through the real lmms-eval CLI with a real local-weights backend (`llava_hf`).

The model is a tiny random-weight LLaVA built here (clinhallu_tasks.demo.tiny_model, with a
locally trained tokenizer): it runs on CPU in seconds and writes gibberish, so almost
every trace is invalid. What is checked is the pipeline: the run completes with zero
extra task flags, every item of every sample task is scored, invalid traces are counted,
and the sample logs carry the ClinHallu records.
"""

from __future__ import annotations

import re

import pytest

from clinhallu_tasks.clinhallu.loading import load_source

pytestmark = pytest.mark.e2e

GROUP = "clinhallu_sample"
TASKS = ("clinhallu_sample_baseline", "clinhallu_sample_replace_vr", "clinhallu_sample_replace_vr_kr")
SAMPLE_IDS = {item.item_id for item in load_source("sample")}
MAX_NEW_TOKENS = 32  # tests/e2e/conftest.py: TINY_LLAVA_GEN_KWARGS


@pytest.fixture(scope="module")
def llava_run(tmp_path_factory, run_tiny_llava):
    run = run_tiny_llava(tmp_path_factory.mktemp("llava_hf_sample"), GROUP)
    assert run.returncode == 0, run.output[-4000:]
    return run


def _response(sample: dict) -> str:
    resp = sample["filtered_resps"]
    while isinstance(resp, list):
        resp = resp[0] if resp else ""
    return resp


def test_sample_items_as_expected():
    assert len(SAMPLE_IDS) == 12


def test_run_completes_without_errors(llava_run):
    # lmms-eval 0.7.3 exits 0 even when the evaluation raises, and llava_hf turns a
    # failed generate() into an empty answer: both only show in the output.
    assert "Error during evaluation" not in llava_run.output, llava_run.output[-4000:]
    assert not re.search(r"Error .* in generating", llava_run.output), llava_run.output[-4000:]
    assert "Traceback" not in llava_run.output, llava_run.output[-4000:]
    results = llava_run.results()
    assert GROUP in results["results"]
    assert set(TASKS) <= set(results["results"])
    assert results["config"]["model"] == "llava_hf"


@pytest.mark.parametrize("task", TASKS)
def test_every_item_is_scored(llava_run, task):
    results = llava_run.results()
    assert results["n-samples"][task] == {"original": 12, "effective": 12}

    samples = llava_run.samples(task)
    assert sorted(s["doc_id"] for s in samples) == list(range(12))
    traces = [s["clinhallu_trace"] for s in samples]
    assert {t["item_id"] for t in traces} == SAMPLE_IDS
    for trace in traces:
        assert trace["task"] == task
        assert isinstance(trace["valid"], bool), trace
        if trace["valid"]:
            assert trace["invalid_reason"] is None, trace
        else:
            assert isinstance(trace["invalid_reason"], str) and trace["invalid_reason"], trace

    valid = sum(t["valid"] for t in traces)
    assert llava_run.metric(task, "clinhallu_valid_rate") == pytest.approx(100.0 * valid / 12)
    acc_rule = llava_run.metric(task, "clinhallu_acc_rule")
    if valid == 0:
        assert acc_rule is None
    else:
        assert 0.0 <= acc_rule <= 100.0


@pytest.mark.parametrize("task", TASKS)
def test_the_model_really_generated(llava_run, task):
    samples = llava_run.samples(task)
    for sample in samples:
        counts = sample.get("token_counts")
        if counts:  # the chat backend (llava_hf's default) records them
            assert all(c["output_tokens"] <= MAX_NEW_TOKENS for c in counts), counts
    responses = [_response(s) for s in samples]
    assert any(responses), "the model produced no text at all"
    # The images and prompts reached the model: its (random) output depends on them.
    assert len(set(responses)) > 1, responses
