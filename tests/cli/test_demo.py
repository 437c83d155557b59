"""`clinhallu-tasks demo`: the install check, the SIMULATION, and failures that lmms-eval hides.

The simulation's expected numbers were worked out by hand from the scripted model's plan
(the comment table in clinhallu_tasks/demo/scripted_model.py, copied below) and the
scripted judge's two rules (an answer is right iff the rule matcher accepts it; a step is
hallucinated iff it has a sentence its reference lacks), not computed with the package's
scoring code.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from clinhallu_tasks.clinhallu.judges import answer_request, parse_answer_verdict, parse_step_verdict, step_request
from clinhallu_tasks.clinhallu.loading import load_source
from clinhallu_tasks.demo import run_demo, simulation
from clinhallu_tasks.demo.chat_server import ChatServer
from clinhallu_tasks.demo.lmms_process import EVALUATION_ERROR, interpret_run
from clinhallu_tasks.demo.scripted_judge import ScriptedJudge
from clinhallu_tasks.demo.scripted_model import ScriptedModel, make_plans, write_trace

REPO = Path(__file__).resolve().parents[2]
SAMPLE = load_source("sample")

# The plan, by run: which items get an invented sentence in the run's judged step, which a
# wrong answer, and the one broken trace (no [Answer] line).
INVENTS = {
    "baseline": {"yn-01", "yn-02", "open-01", "open-03", "mc-02", "frames-02"},  # H^V 6/12
    "replace_vr": {"yn-02", "frames-01"},  # H^K 2/12
    "replace_vr_kr": {"yn-03", "open-01", "open-02", "mc-01", "frames-01"},  # H^R 5/12
}
WRONG = {
    "baseline": {"open-01", "open-02", "mc-01", "mc-03", "frames-01"},  # 5 wrong of 11 valid
    "replace_vr": {"yn-03", "open-02", "frames-02"},  # 3 wrong of 12
    "replace_vr_kr": {"mc-01", "frames-02"},  # 2 wrong of 12
}
BROKEN = ("mc-02", "baseline")  # invalid: 11/12 valid in baseline, left out of its Acc

ACC = {"baseline": 100 * 6 / 11, "replace_vr": 100 * 9 / 12, "replace_vr_kr": 100 * 10 / 12}
EXPECTED = {
    "clinhallu_sample_baseline": {
        "clinhallu_valid_rate": 100 * 11 / 12,
        "clinhallu_acc": ACC["baseline"],  # 54.5
        "clinhallu_h_v": 100 * 6 / 12,  # 50.0
    },
    "clinhallu_sample_replace_vr": {
        "clinhallu_valid_rate": 100.0,
        "clinhallu_acc": ACC["replace_vr"],  # 75.0
        "clinhallu_h_k": 100 * 2 / 12,  # 16.7
    },
    "clinhallu_sample_replace_vr_kr": {
        "clinhallu_valid_rate": 100.0,
        "clinhallu_acc": ACC["replace_vr_kr"],  # 83.3
        "clinhallu_h_r": 100 * 5 / 12,  # 41.7
    },
}
DELTA_V = ACC["replace_vr"] - ACC["baseline"]  # +20.5 points
DELTA_VK = ACC["replace_vr_kr"] - ACC["baseline"]  # +28.8 points


def _short(item_id: str) -> str:
    return item_id.removeprefix("sample-")


# -- fast: the scripted parts and the reading of lmms-eval's output ---------------------------------


def test_the_plan_is_the_one_the_expected_numbers_were_worked_out_from():
    plans = make_plans(SAMPLE).values()
    for run in INVENTS:
        assert {_short(p.item_id) for p in plans if p.run == run and p.invents} == INVENTS[run], run
        assert {_short(p.item_id) for p in plans if p.run == run and p.wrong} == WRONG[run], run
    assert [(_short(p.item_id), p.run) for p in plans if p.broken] == [BROKEN]


def test_the_scripted_model_tells_item_and_run_apart_by_the_prompt():
    model = ScriptedModel(SAMPLE)
    item = SAMPLE[0]
    given = f"{item.gold.visual_recognition}\n{item.gold.knowledge_recall}"
    for prompt, run in (
        (f"Question: {item.question}", "baseline"),
        (f"Question: {item.question}\n{item.gold.visual_recognition}", "replace_vr"),
        (f"Question: {item.question}\n{given}", "replace_vr_kr"),
    ):
        reply = model.respond({"messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}]})
        assert reply == write_trace(item, model.plans[(item.item_id, run)])
        assert "<think>" not in reply


def _user_text(request) -> str:
    content = request.messages[-1]["content"]
    return content if isinstance(content, str) else "\n".join(p["text"] for p in content if p["type"] == "text")


def _judge(judge: ScriptedJudge, request) -> str:
    return judge.respond({"messages": [{"role": "user", "content": _user_text(request)}]})


def test_the_scripted_judge_answers_our_real_judge_prompts_in_the_strict_format():
    judge = ScriptedJudge(SAMPLE)
    mc = next(i for i in SAMPLE if i.item_id == "sample-mc-01")  # gold B. Focal mass lesion
    assert parse_answer_verdict(_judge(judge, answer_request(mc.question, mc.answer, "B"))).correct
    assert not parse_answer_verdict(_judge(judge, answer_request(mc.question, mc.answer, "C. Diffuse atrophy"))).correct

    gold = mc.gold.knowledge_recall
    same = step_request("knowledge_recall", mc.question, mc.answer, gold, "  " + gold.upper())
    added = step_request("knowledge_recall", mc.question, mc.answer, gold, gold + " It is always benign.")
    assert not parse_step_verdict(_judge(judge, same)).hallucinated  # case and spacing do not count
    verdict = parse_step_verdict(_judge(judge, added))
    assert verdict.hallucinated and "It is always benign." in verdict.reason


def _post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_chat_server_answers_chat_completions_and_survives_bad_requests():
    def respond(body: dict) -> str:
        if body.get("model") == "boom":
            raise RuntimeError("scripted failure")
        return "hello there"

    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    with ChatServer(respond) as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", server.base_url)
        status, reply = _post(server.base_url + "/chat/completions", json.dumps(body).encode())
        assert status == 200
        assert reply["choices"][0]["message"] == {"role": "assistant", "content": "hello there"}
        assert reply["usage"]["total_tokens"] == reply["usage"]["prompt_tokens"] + reply["usage"]["completion_tokens"]
        assert _post(server.base_url + "/other", b"{}")[0] == 404
        assert _post(server.base_url + "/chat/completions", b"not json")[0] == 400
        assert _post(server.base_url + "/chat/completions", json.dumps({"model": "boom"}).encode())[0] == 500
        assert server.errors == ["RuntimeError: scripted failure"]
        assert server.requests == [body, {"model": "boom"}]


def _results_file(folder: Path, name: str = "20260101_000000_results.json") -> Path:
    path = folder / "model" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")
    return path


def test_interpret_run_reads_status_error_line_and_new_results(tmp_path):
    error = "2026-01-01 | ERROR | lmms_eval.__main__:cli_evaluate:612 - Error during evaluation: no data. Please..."
    output = f"Traceback (most recent call last):\n  ...\nDataRootError: no data\n\x1b[31m{error}\x1b[0m\n"

    failed = interpret_run(0, output, tmp_path, set())  # lmms-eval 0.7.3: status 0, no results file
    assert not failed.ok
    assert failed.error_line == error
    assert "exited 0 all the same" in failed.message and EVALUATION_ERROR in failed.message

    old = _results_file(tmp_path, "old_results.json")
    stale = interpret_run(0, "all fine\n", tmp_path, {old})  # only an earlier run's results file
    assert not stale.ok and "wrote no results file" in stale.message and "all fine" in stale.message

    crashed = interpret_run(1, "Traceback (most recent call last):\nValueError: bad --model_args\n", tmp_path, {old})
    assert not crashed.ok
    assert crashed.message.startswith("lmms-eval exited with status 1")
    assert crashed.error_line == "ValueError: bad --model_args"

    new = _results_file(tmp_path)
    good = interpret_run(0, "done\n", tmp_path, {old})
    assert good.ok and good.results_file == new and good.message == ""
    # An error line fails a run even when a results file was written.
    assert not interpret_run(0, error, tmp_path, {old}).ok


# -- slow: the real lmms-eval CLI -----------------------------------------------------------------


@pytest.mark.e2e
def test_the_demo_fails_when_lmms_eval_raises_although_it_exits_0(tmp_path, monkeypatch, capsys):
    # A real source task needs CLINHALLU_DATA_DIR, which the demo never passes on: lmms-eval raises
    # at task loading, prints "Error during evaluation" and exits 0.
    monkeypatch.setattr(simulation, "TASK", "clinhallu_vqa_rad_baseline")
    real_runner, runs = simulation.run_lmms_eval, []

    def recording(*args, **kwargs):
        runs.append(real_runner(*args, **kwargs))
        return runs[-1]

    monkeypatch.setattr(simulation, "run_lmms_eval", recording)
    assert run_demo(tmp_path / "work", skip_tiny_model=True) == 1

    (run,) = runs
    assert run.returncode == 0  # what lmms-eval 0.7.3 does
    assert not run.ok and run.results_file is None
    assert EVALUATION_ERROR in (run.error_line or "")
    err = capsys.readouterr().err
    assert "clinhallu-tasks demo: FAILED:" in err and EVALUATION_ERROR in err


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The whole demo as a user runs it, with HOME and the XDG cache pointed at empty folders."""
    tmp = tmp_path_factory.mktemp("demo")
    home, xdg, workdir = tmp / "home", tmp / "xdg_cache", tmp / "work"
    home.mkdir()
    xdg.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLINHALLU_", "MEDHALLTUNE_", "HF_", "OPENAI_"))}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(xdg), HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    done = subprocess.run(
        [sys.executable, "-m", "clinhallu_tasks.cli", "demo", "--workdir", str(workdir)],
        env=env,
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done, home, xdg, workdir


@pytest.mark.e2e
def test_demo_runs_end_to_end_and_shows_the_simulated_report(demo_run):
    done, _, _, workdir = demo_run
    out = done.stdout
    assert done.returncode == 0, (out[-4000:], done.stderr[-4000:])
    assert f"everything goes into {workdir}" in out
    assert "random weights" in out  # part 1 keeps its honest note
    assert out.count("SIMULATION") >= 3
    assert "#  SIMULATION: scripted model + scripted judge" in out  # the banner before
    assert "#  END OF SIMULATION" in out  # and after
    assert out.index("#  SIMULATION:") < out.index("#  END OF SIMULATION")

    # The report's console summary and the leaderboard printed at the end carry numbers.
    assert re.search(r"Acc 54\.5, H\^V 50\.0, H\^K 16\.7, H\^R 41\.7", out), out[-3000:]
    assert "+20.5" in out and "+28.8" in out

    submission = Path(re.search(r"^Submission:\s+(\S+)$", out, re.M).group(1))
    assert submission.is_file() and submission.is_relative_to(workdir)
    assert "SIMULATION" in submission.parts  # the folder names say so too
    doc = json.loads(submission.read_text())
    sample = doc["clinhallu"]["other_sources"]["sample"]
    assert sample["delta_v"] == pytest.approx(DELTA_V)
    assert sample["delta_vk"] == pytest.approx(DELTA_VK)

    leaderboard = Path(re.search(r"^Leaderboard:\s+(\S+)$", out, re.M).group(1))
    assert leaderboard.is_file()
    charts = Path(re.search(r"^Charts:\s+(\S+)", out, re.M).group(1))
    assert list(charts.glob("*.png"))


@pytest.mark.e2e
def test_the_simulated_judged_numbers_are_the_hand_worked_ones(demo_run):
    _, _, _, workdir = demo_run
    (results_file,) = workdir.glob("runs/*/SIMULATION/lmms-eval/*/*_results.json")
    results = json.loads(results_file.read_text())["results"]
    for task, metrics in EXPECTED.items():
        for metric, expected in metrics.items():
            assert results[task][f"{metric},none"] == pytest.approx(expected), (task, metric)


@pytest.mark.e2e
def test_the_demo_writes_nothing_outside_its_work_folder(demo_run):
    _, home, xdg, workdir = demo_run
    assert sorted(home.rglob("*")) == []
    assert sorted(xdg.rglob("*")) == []
    assert (workdir / "tiny-llava" / "config.json").is_file()
    assert list(workdir.glob("runs/*/SIMULATION/judge_cache.sqlite3"))
    assert (workdir / "hf_home").is_dir()
