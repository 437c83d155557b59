"""ClinHallu and MedHallTune through VLMEvalKit's real run loop (`clinhallu-vlmeval`), offline, on CPU.

The model under test is VLMEvalKit's own OpenAI-compatible wrapper (GPT4V, from `--config`)
talking to a scripted server on 127.0.0.1; the judge is a scripted server too
(tests/vlmevalkit/scripted.py). One run evaluates the four ClinHallu sample runs (replace_kr
after its baseline) and both MedHallTune sample splits; a second, `--mode eval`, re-scores
them from the prediction files and the judge cache. lmms-eval runs the same scripted model
once, so that the report can put both frameworks side by side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from clinhallu_tasks import cli
from clinhallu_tasks.metrics.text_similarity import bertscore_f1, meteor_scores, rouge_l_scores
from clinhallu_tasks.records import TaskRecords, find_tasks
from clinhallu_tasks.vlmevalkit.names import DATASETS_BY_NAME
from tests.support.judge_server import FakeJudgeServer
from tests.support.lmms_cli import run_lmms_eval
from tests.support.model_server import FakeModelServer
from tests.vlmevalkit import scripted
from tests.vlmevalkit.support import cli_env, clinhallu_vlmeval, minilm, ms_vlmeval

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("vlmeval_installed")]

MODEL = "fake-vlm"
JUDGE_KEY = "sk-judge-secret-4711"
DATASETS = [
    "ClinHallu_Sample_baseline",
    "ClinHallu_Sample_replace_vr",
    "ClinHallu_Sample_replace_vr_kr",
    "ClinHallu_Sample_replace_kr",  # after its baseline: it continues the baseline's own traces
    "MedHallTune_Sample_P",
    "MedHallTune_Sample_N",
]


@dataclass
class Run:
    returncode: int
    output: str
    model_requests: int
    model_images: list[int]
    judge_requests: int
    judge_authorizations: set[str | None]

    def check(self) -> None:
        assert self.returncode == 0, self.output[-6000:]


def config(tmp_path: Path, model_url: str, work_dir: Path) -> Path:
    data = {}
    for name in DATASETS:
        cls = "MedHallTuneDataset" if name.startswith("MedHallTune") else "ClinHalluDataset"
        data[name] = {"class": cls, "dataset": name}
    data["ClinHallu_Sample_replace_kr"]["baseline"] = str(work_dir / MODEL)
    model = {
        "class": "GPT4V", "model": MODEL, "api_base": f"{model_url}/chat/completions", "key": "sk-local",
        # One try and no pause: the script answers one item with nothing, which GPT4V retries.
        "retry": 1, "wait": 0, "temperature": 0, "max_tokens": 1024, "img_detail": "low",
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model": {MODEL: model}, "data": data}))
    return path


def run(tmp_path: Path, work_dir: Path, *extra: str) -> Run:
    images: list[int] = []

    def respond(prompt: str, count: int) -> str:
        images.append(count)
        return scripted.respond(prompt, count)

    with FakeModelServer(respond) as model, FakeJudgeServer(scripted.judge) as judge:
        judge_args = json.dumps({"api_base": f"{judge.base_url}/chat/completions", "key": JUDGE_KEY})
        done = clinhallu_vlmeval(
            tmp_path, "--config", str(config(tmp_path, model.base_url, work_dir)), "--work-dir", str(work_dir),
            "--judge", "fake-judge", "--judge-args", judge_args, *extra,
        )
        authorizations = {record.authorization for record in judge.records}
        return Run(done.returncode, done.output, len(model.requests), images, judge.received, authorizations)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, vlmeval_installed: None, wordnet: str) -> dict[str, object]:
    tmp_path = tmp_path_factory.mktemp("vlmevalkit")
    work_dir = tmp_path / "work"
    first = run(tmp_path, work_dir)
    first.check()
    records = {r.summary.task: r for r in map(TaskRecords.read, find_tasks(work_dir))}
    result: dict[str, object] = {"tmp_path": tmp_path, "work_dir": work_dir, "first": first, "records": records}
    if ms_vlmeval():
        rescore = run(tmp_path, work_dir, "--mode", "eval", "--keep-failed")
        rescore.check()
        result["rescore"] = rescore
        result["rescored"] = {r.summary.task: r for r in map(TaskRecords.read, find_tasks(work_dir))}
    return result


@pytest.mark.parametrize("dataset", DATASETS)
def test_metrics_equal_the_hand_computed_values(runs, dataset):
    summary = runs["records"][DATASETS_BY_NAME[dataset].task].summary
    assert summary.model == MODEL and summary.framework.startswith("VLMEvalKit")
    for metric, value in scripted.EXPECTED[dataset].items():
        assert summary.metrics[metric] == pytest.approx(value, abs=1e-9), metric


@pytest.mark.parametrize("dataset", ["MedHallTune_Sample_P", "MedHallTune_Sample_N"])
def test_medhalltune_text_metrics_match_the_metric_code(runs, dataset):
    summary = runs["records"][DATASETS_BY_NAME[dataset].task].summary
    truths = [item.ground_truth for item in scripted.ITEMS[dataset]]
    answers = scripted.ANSWERS[dataset]
    assert summary.metrics["medhalltune_meteor"] == pytest.approx(sum(meteor_scores(truths, answers)) / 3)
    assert summary.metrics["medhalltune_rouge_l"] == pytest.approx(sum(rouge_l_scores(truths, answers)) / 3)
    f1 = bertscore_f1(truths, answers, minilm()).f1
    assert summary.metrics["medhalltune_bertscore"] == pytest.approx(sum(f1) / 3, abs=1e-6)


def test_every_item_reached_the_model_with_all_its_images(runs):
    first = runs["first"]
    sample_items = sum(len(runs["records"][DATASETS_BY_NAME[name].task].samples) for name in DATASETS)
    assert first.model_requests == sample_items == 4 * 12 + 2 * 3
    # The sample's MedFrameQA items carry several frames; every other item one image.
    frames = [len(s.image_paths) for s in runs["records"]["clinhallu_sample_baseline"].samples]
    assert sorted(first.model_images) == sorted(frames * 4 + [1] * 6)


def test_vlmevalkit_files_sit_beside_the_records(runs):
    folder = runs["records"]["clinhallu_sample_baseline"].files.folder
    for name in DATASETS:
        assert len(list(folder.glob(f"{MODEL}_{name}.tsv" if ms_vlmeval() else f"{MODEL}_{name}.xlsx"))) == 1
        assert (folder / f"{MODEL}_{name}_score.csv").is_file()


def test_status_json_holds_our_metrics(runs):
    if not ms_vlmeval():
        pytest.skip("nvidia-vlmeval writes no status.json")
    status = json.loads((runs["work_dir"] / MODEL / "status.json").read_text())["datasets"]
    for name in DATASETS:
        entry = status[name]
        assert entry["status"] == "done" and not entry.get("error_message"), entry
        summary = runs["records"][DATASETS_BY_NAME[name].task].summary
        for metric, value in summary.metrics.items():
            if value is not None:
                assert entry["metrics"][metric] == pytest.approx(value), (name, metric)


def test_the_judge_key_reaches_the_judge_and_nothing_else(runs):
    first = runs["first"]
    assert first.judge_requests > 0 and first.judge_authorizations == {f"Bearer {JUDGE_KEY}"}
    assert JUDGE_KEY not in first.output
    written = [path for path in runs["tmp_path"].rglob("*") if path.is_file()]  # logs, status, records, cache
    assert any(path.name == "status.json" for path in written) or not ms_vlmeval()
    for path in written:
        assert JUDGE_KEY.encode() not in path.read_bytes(), path


def test_rescoring_with_mode_eval_asks_neither_model_nor_judge(runs):
    if "rescore" not in runs:
        pytest.skip("--mode eval is ms-vlmeval's")
    rescore = runs["rescore"]
    assert (rescore.model_requests, rescore.judge_requests) == (0, 0), rescore.output[-4000:]
    for task, records in runs["rescored"].items():
        assert records.summary.metrics == runs["records"][task].summary.metrics, task
        assert records.summary.cost.judge_calls == 0, task


@pytest.fixture(scope="module")
def lmms_folder(tmp_path_factory: pytest.TempPathFactory, vlmeval_installed: None, wordnet: str) -> Path:
    """The same scripted model and judge through lmms-eval's openai_compatible backend."""
    tmp_path = tmp_path_factory.mktemp("lmms")
    lmms_tasks = [DATASETS_BY_NAME[name].task for name in DATASETS if not DATASETS_BY_NAME[name].chained]
    with FakeModelServer(scripted.respond) as model, FakeJudgeServer(scripted.judge) as judge:
        env = {**cli_env(tmp_path), "CLINHALLU_JUDGE_BASE_URL": judge.base_url, "CLINHALLU_JUDGE_MODEL": "fake-judge"}
        done = run_lmms_eval(tmp_path, model="openai_compatible", model_args=f"model_version={MODEL},base_url="
                             f"{model.base_url}", tasks=",".join(lmms_tasks), env=env, output_name="lmms")
    assert done.returncode == 0, done.output[-6000:]
    return done.output_path


def leaderboard_rows(path: Path) -> dict[str, list[list[str]]]:
    """Rows by model label, without the label."""
    rows: dict[str, list[list[str]]] = {}
    for line in path.read_text().splitlines()[1:]:
        cells = line.split(",")
        label = next(cell for cell in cells if cell.startswith(MODEL))
        rows.setdefault(label, []).append([cell for cell in cells if cell != label])
    return rows


def test_every_metric_equals_the_lmms_eval_paths(runs, lmms_folder):
    lmms = {r.summary.task: r.summary for r in map(TaskRecords.read, find_tasks(lmms_folder))}
    assert lmms and set(lmms) < set(runs["records"])
    for task, summary in lmms.items():
        assert runs["records"][task].summary.metrics == pytest.approx(summary.metrics, abs=1e-9), task


def test_the_report_gives_lmms_eval_and_vlmevalkit_identical_rows(runs, lmms_folder, tmp_path):
    out = tmp_path / "report"
    assert cli.main(["report", str(lmms_folder), str(runs["work_dir"]), "--out", str(out), "--no-charts"]) == 0
    for table in ("leaderboard.csv", "medhalltune_leaderboard.csv"):
        rows = leaderboard_rows(out / table)
        lmms = [label for label in rows if label.startswith(f"{MODEL} (lmms-eval ")]
        vlmevalkit = [label for label in rows if label.startswith(f"{MODEL} (VLMEvalKit ")]
        assert (len(rows), len(lmms), len(vlmevalkit)) == (2, 1, 1), (table, sorted(rows))
        assert rows[lmms[0]] == rows[vlmevalkit[0]], table
