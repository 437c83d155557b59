"""The report on real lmms-eval output: two models run through the lmms-eval CLI on clinhallu_sample.

Both models and the judge are HTTP servers on 127.0.0.1 (tests/support); nothing leaves the machine.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from clinhallu_tasks.report.command import main
from tests.support.judge_server import FakeJudgeServer
from tests.support.lmms_cli import offline_env, run_lmms_eval
from tests.support.scripted_model import SAMPLE, respond

pytestmark = pytest.mark.e2e

MODEL_KEY = "sk-model-key-that-must-not-leak-1234"


def gold_respond(prompt: str, image_count: int) -> str:
    """A model that writes the gold steps (and continues from the given ones in the replace runs)."""
    matches = [item for item in SAMPLE if item.question in prompt]
    if not matches:
        return "I cannot tell which question this is."
    item = max(matches, key=lambda it: len(it.question))
    g = item.gold
    reasoning = f"[Reasoning]\n{g.reasoning}\n[Answer] {item.answer}"
    if g.knowledge_recall in prompt:
        return reasoning
    if g.visual_recognition in prompt:
        return f"[Knowledge Recall]\n{g.knowledge_recall}\n{reasoning}"
    return f"[Visual Recognition]\n{g.visual_recognition}\n[Knowledge Recall]\n{g.knowledge_recall}\n{reasoning}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support.model_server import FakeModelServer

    tmp = tmp_path_factory.mktemp("real")
    with FakeJudgeServer() as judge:
        for name, responder in (("scripted-vlm", respond), ("gold-vlm", gold_respond)):
            with FakeModelServer(responder) as model:
                run = run_lmms_eval(
                    tmp,
                    model="openai_compatible",
                    model_args=f"model_version={name},base_url={model.base_url},api_key={MODEL_KEY}",
                    tasks="clinhallu_sample",
                    output_name="out",
                    env=offline_env(
                        tmp,
                        OPENAI_API_KEY="not-a-secret",
                        CLINHALLU_JUDGE_BASE_URL=judge.base_url,
                        CLINHALLU_JUDGE_MODEL="fake-judge",
                        CLINHALLU_JUDGE_CACHE=str(tmp / "judge_cache"),
                    ),
                )
                assert run.returncode == 0, run.output[-4000:]
    return tmp


def test_report_on_real_runs(runs: Path) -> None:
    out = runs / "report"
    assert main([str(runs / "out"), "--out", str(out), "--bootstrap-iters", "500"]) == 0  # schema-valid
    docs = {}
    for name in ("scripted-vlm", "gold-vlm"):
        doc = json.loads((out / f"submission_{name}.json").read_text())
        docs[name] = doc
        results = json.loads(next((runs / "out" / name).glob("*_results.json")).read_text())["results"]
        sample = doc["clinhallu"]["other_sources"]["sample"]
        assert sample["acc"] == results["clinhallu_sample_baseline"]["clinhallu_acc,none"]
        assert sample["h_v"] == results["clinhallu_sample_baseline"]["clinhallu_h_v,none"]
        assert sample["h_k"] == results["clinhallu_sample_replace_vr"]["clinhallu_h_k,none"]
        assert sample["h_r"] == results["clinhallu_sample_replace_vr_kr"]["clinhallu_h_r,none"]
        assert sample["n"] == 12
        assert doc["provenance"]["judge"]["models"] == ["fake-judge"]
        assert doc["provenance"]["data"]["by_stratum"]["clinhallu:sample"]["items"] == 12
        assert MODEL_KEY not in json.dumps(doc)
        assert not [n for n in doc["notes"] if "per-item" in n]  # every number has per-item data
    scripted = docs["scripted-vlm"]["clinhallu"]["other_sources"]["sample"]
    assert scripted["acc"] == pytest.approx(60.0)  # tests/support/scripted_model.py, worked out by hand
    assert scripted["ci"]["acc"][0] < 60.0 < scripted["ci"]["acc"][1]
    fp = {d["provenance"]["data"]["fingerprint"] for d in docs.values()}
    assert len(fp) == 1  # same items evaluated
    diffs = [d for d in csv.DictReader((out / "differences.csv").open()) if d["split"] == "Sample"]
    assert {d["items"] for d in diffs} == {"same items"}
    for chart in ("comparison.png", "stages_scripted-vlm.png", "stages_gold-vlm.png"):
        assert (out / "charts" / chart).stat().st_size > 10_000
    for text in (out / "leaderboard.md").read_text(), (out / "leaderboard.csv").read_text():
        assert MODEL_KEY not in text
