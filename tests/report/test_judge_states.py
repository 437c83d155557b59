"""A judge that was configured but failed is visibly different from no judge at all."""

from __future__ import annotations

from pathlib import Path

from tests.report.records_builder import (
    NO_JUDGE,
    Answer,
    answers,
    failed_judge,
    medhalltune_task,
    run_report,
    write_model,
)

REASON = "judge endpoint unreachable: connection refused"


def _two_models(tmp_path: Path):
    write_model(tmp_path / "failed", model="failed-judge", judge=failed_judge(REASON))
    write_model(tmp_path / "none", model="no-judge", judge=NO_JUDGE)
    return run_report([tmp_path / "failed", tmp_path / "none"], tmp_path / "out")


def test_the_tables_tell_a_failed_judge_from_none(tmp_path: Path) -> None:
    # The 0.1 report showed both as '—' and wrote "judge": {"models": []} for both.
    out = _two_models(tmp_path)
    rows = {(r["split"], r["model"]): r for r in out.csv["leaderboard.csv"]}
    assert rows[("VQA-RAD", "failed-judge")]["judge"] == "failed"
    assert rows[("VQA-RAD", "no-judge")]["judge"] == "not configured"
    assert rows[("VQA-RAD", "failed-judge")]["acc"] == rows[("VQA-RAD", "no-judge")]["acc"] == ""
    md_rows = [line for line in out.md.splitlines() if line.startswith("| VQA-RAD |")]
    assert any("judge failed" in line and "failed-judge" in line for line in md_rows)
    assert any("no judge" in line and "| no-judge |" in line for line in md_rows)
    assert f"Judge FAILED ({REASON}) in: clinhallu_medframeqa_baseline, " in out.md


def test_the_submission_tells_a_failed_judge_from_none(tmp_path: Path) -> None:
    out = _two_models(tmp_path)
    failed = out.submissions["failed-judge | lmms-eval 0.7.3"]
    none = out.submissions["no-judge | lmms-eval 0.7.3"]
    assert failed["clinhallu"]["sources"]["pathvqa"]["judge"] == "failed"
    assert failed["clinhallu"]["sources"]["pathvqa"]["missing"]["acc"] == "judge failed"
    assert none["clinhallu"]["sources"]["pathvqa"]["judge"] == "not configured"
    assert none["clinhallu"]["sources"]["pathvqa"]["missing"]["acc"] == "no judge"
    assert failed["provenance"]["judge"]["configured"] is True
    assert failed["provenance"]["judge"]["failed"]["medhalltune_pos"] == REASON
    assert none["provenance"]["judge"] == {"configured": False, "judges": [], "failed": {},
                                           "not_configured": sorted(none["provenance"]["tasks"])}
    assert failed["medhalltune"]["P"]["judge"] == "failed" and failed["medhalltune"]["P"]["clinical_accuracy"] is None
    assert failed["medhalltune"]["P"]["bertscore"] is not None  # text metrics need no judge


def test_rule_numbers_survive_a_judge_failure(tmp_path: Path) -> None:
    out = _two_models(tmp_path)
    source = out.submissions["failed-judge | lmms-eval 0.7.3"]["clinhallu"]["sources"]["vqa-rad"]
    assert source["valid_rate"] == 100.0 and source["tasks"]["baseline"]["metrics"]["clinhallu_acc_rule"] is not None


def test_one_failed_verdict_among_judged_ones_leaves_the_task_judged(tmp_path: Path) -> None:
    items = answers(5)
    items[0] = Answer(scores=None)  # the judge gave no usable verdict on this answer
    medhalltune_task(tmp_path / "runs", "medhalltune_pos", items)
    out = run_report([tmp_path / "runs"], tmp_path / "out")
    split = out.submission()["medhalltune"]["P"]
    assert split["judge"] == "judged" and split["clinical_accuracy"] is not None
    (validity,) = out.csv["validity.csv"]
    assert (validity["judged"], validity["failed"]) == ("4", "1")
