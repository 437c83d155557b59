"""The lmms-eval hooks called the way lmms-eval calls them, without lmms-eval: ranks and logging.

Under `accelerate launch --num_processes 2`, `process_results` runs on every rank and the
aggregation on rank 0 only, over every rank's results (lmms_eval/evaluator.py). A verdict must
be asked once: rank 0 sends its own items' requests as they arrive, the others' at aggregation.
"""

from __future__ import annotations

import importlib
import logging

import pytest

from tests.support.judge_server import FakeJudgeServer
from tests.support.scripted_model import EXPECTED_JUDGED, respond

TASK = "clinhallu_sample_baseline"


@pytest.fixture
def hooks(monkeypatch, tmp_path):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in list(__import__("os").environ):
        if name.startswith(("CLINHALLU_", "MEDHALLTUNE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CLINHALLU_JUDGE_CACHE", str(tmp_path / "cache"))
    return importlib.import_module("clinhallu_tasks.lmms.hooks")


def _answer(hooks, docs, rank: str, monkeypatch) -> list[dict]:
    monkeypatch.setenv("RANK", rank)
    results = []
    for doc in docs:
        prompt = hooks.doc_to_text(doc)
        results.append(hooks.process_results(doc, [respond(prompt, len(hooks.doc_to_visual(doc)))]))
    return results


def test_each_verdict_is_asked_once_across_ranks(hooks, monkeypatch):
    with FakeJudgeServer() as judge:
        monkeypatch.setenv("CLINHALLU_JUDGE_BASE_URL", judge.base_url)
        monkeypatch.setenv("CLINHALLU_JUDGE_MODEL", "fake-judge")
        docs = list(getattr(hooks, f"docs_{TASK}")())
        # Rank 1's half: passed on, nothing asked. Rank 0's half: asked at once.
        other = _answer(hooks, docs[6:], "1", monkeypatch)
        assert judge.received == 0
        own = _answer(hooks, docs[:6], "0", monkeypatch)
        gathered = own + other
        acc = hooks.aggregate_clinhallu_acc([r["clinhallu_acc"] for r in gathered])
        h_v = hooks.aggregate_clinhallu_h_v([r["clinhallu_h_v"] for r in gathered])
        asked = judge.received
    assert acc == pytest.approx(EXPECTED_JUDGED[TASK]["clinhallu_acc"])
    assert h_v == pytest.approx(EXPECTED_JUDGED[TASK]["clinhallu_h_v"])
    assert asked == 10 + 12  # every valid answer and every Visual Recognition step, once


def test_the_sample_log_keeps_the_trace_as_read(hooks, monkeypatch):
    docs = list(getattr(hooks, f"docs_{TASK}")())
    [result] = _answer(hooks, docs[:1], "0", monkeypatch)
    assert result["clinhallu_trace"]["item_id"] == docs[0]["item_id"]
    assert result["clinhallu_trace"]["valid"] is True


def test_a_bad_setting_fails_when_the_task_loads(hooks, monkeypatch):
    from clinhallu_tasks.errors import SettingsError

    monkeypatch.setenv("CLINHALLU_JUDGE_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("CLINHALLU_JUDGE_MODEL", "fake-judge")
    monkeypatch.setenv("CLINHALLU_JUDGE_EXTRA_BODY", "{bad json")
    with pytest.raises(SettingsError, match="CLINHALLU_JUDGE_EXTRA_BODY must be a JSON object"):
        getattr(hooks, f"docs_{TASK}")()


def test_importing_the_adapter_configures_no_logging(hooks):
    importlib.reload(importlib.import_module("clinhallu_tasks.lmms"))
    assert logging.getLogger("clinhallu_tasks").handlers == []
    assert logging.getLogger("clinhallu_tasks").level == logging.NOTSET


def test_only_the_spec_s_tasks_and_metrics_have_hooks(hooks):
    assert callable(hooks.docs_clinhallu_vqa_rad_replace_kr)
    assert callable(hooks.aggregate_medhalltune_risk_level)
    with pytest.raises(AttributeError):
        hooks.docs_clinhallu_nosuch_baseline  # noqa: B018


def test_an_error_in_the_aggregation_is_said_once_and_loses_nothing_else(hooks, monkeypatch, caplog):
    from clinhallu_tasks.evaluation import TaskEvaluation

    def disk_full(self, **kwargs):
        raise OSError(28, "No space left on device")

    docs = list(getattr(hooks, f"docs_{TASK}")())
    results = _answer(hooks, docs[:3], "0", monkeypatch)
    monkeypatch.setattr(TaskEvaluation, "finish", disk_full)
    with caplog.at_level(logging.ERROR, logger="clinhallu_tasks"):
        values = [getattr(hooks, f"aggregate_{metric}")([r[metric] for r in results])
                  for metric in ("clinhallu_valid_rate", "clinhallu_acc_rule", "clinhallu_acc")]
    assert values == [None, None, None]  # lmms-eval still writes its results and sample log
    [record] = caplog.records
    assert "clinhallu_sample_baseline: every metric is None" in record.getMessage()
    assert "No space left on device" in record.getMessage()
