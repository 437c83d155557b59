"""Reading two judged runs and pairing their verdicts: what is compared, what is set apart, what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from clinhallu_tasks.agreement.comparison import compare
from clinhallu_tasks.agreement.pairing import AgreementError, pair_runs
from clinhallu_tasks.records import Judgment
from tests.agreement.runs import scores, verdict, write_run

TASK = "clinhallu_sample_baseline"
RESPONSES = {str(i): f"Visual Recognition: finding {i}. Knowledge Recall: ... Answer: yes" for i in range(6)}


def _acc_runs(tmp_path: Path, b_responses: dict[str, str] | None = None) -> tuple[Path, Path]:
    a, b = tmp_path / "official", tmp_path / "cheap"
    write_run(a, TASK, RESPONSES, [verdict(TASK, i, "clinhallu_acc", 1, "big") for i in RESPONSES], "big")
    write_run(b, TASK, b_responses or RESPONSES, [verdict(TASK, i, "clinhallu_acc", 1, "small") for i in RESPONSES],
              "small")
    return a, b


def test_runs_over_different_responses_are_refused_naming_the_first_differing_item(tmp_path: Path) -> None:
    changed = dict(RESPONSES)
    changed["3"] = RESPONSES["3"].replace("finding 3", "finding three")
    changed["5"] = "something else entirely"
    a, b = _acc_runs(tmp_path, changed)
    with pytest.raises(AgreementError) as caught:
        pair_runs(a, b)
    message = str(caught.value)
    assert "not over the same model outputs" in message
    assert f"task {TASK}, item '3'" in message
    assert str(b / f"{TASK}.samples.jsonl") in message


def test_runs_without_a_common_task_are_refused(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write_run(a, TASK, RESPONSES, [], "big")
    write_run(b, "clinhallu_sample_replace_vr", RESPONSES, [], "small")
    with pytest.raises(AgreementError, match="share no task: .* holds clinhallu_sample_baseline; .* holds "
                       "clinhallu_sample_replace_vr"):
        pair_runs(a, b)


def test_runs_without_a_common_item_are_refused(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write_run(a, TASK, {"1": "x", "2": "y"}, [], "big")
    write_run(b, TASK, {"3": "x", "4": "y"}, [], "small")
    with pytest.raises(AgreementError, match="no item"):
        pair_runs(a, b)


def test_a_folder_that_is_no_run_is_refused(tmp_path: Path) -> None:
    a, _ = _acc_runs(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(AgreementError, match="no run records"):
        pair_runs(a, tmp_path / "empty")


def test_a_task_twice_in_one_run_folder_is_refused(tmp_path: Path) -> None:
    a, b = _acc_runs(tmp_path)
    write_run(a / "again", TASK, RESPONSES, [], "big")
    with pytest.raises(AgreementError, match="appears twice"):
        pair_runs(a, b)


def test_items_of_one_run_only_are_left_out_and_counted(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write_run(a, TASK, RESPONSES, [verdict(TASK, i, "clinhallu_acc", 1, "big") for i in RESPONSES], "big")
    fewer = {i: RESPONSES[i] for i in ("0", "1", "2")}
    write_run(b, TASK, fewer, [verdict(TASK, i, "clinhallu_acc", 1, "small") for i in fewer], "small")
    (pair,) = pair_runs(a, b).tasks
    assert (pair.common, pair.only_a, pair.only_b) == (("0", "1", "2"), 3, 0)
    (acc,) = pair.metrics()
    assert acc.items == 3 and len(acc.judged) == 3


def test_settled_and_failed_verdicts_are_kept_out_of_agreement(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    metric = "clinhallu_h_v"
    common = [verdict(TASK, i, metric, 0, "big") for i in ("0", "1", "2")]
    write_run(a, TASK, RESPONSES, [
        *common,
        Judgment(TASK, "3", metric, "settled", value=1, reason="empty Visual Recognition step"),
        verdict(TASK, "4", metric, 1, "big"),
        verdict(TASK, "5", metric, 1, "big"),
    ], "big")
    write_run(b, TASK, RESPONSES, [
        *[verdict(TASK, i, metric, 1 if i == "2" else 0, "small") for i in ("0", "1", "2")],
        Judgment(TASK, "3", metric, "settled", value=1, reason="empty Visual Recognition step"),
        Judgment(TASK, "4", metric, "failed", reason="no verdict after 3 attempts"),
        # item 5: B wrote no line at all
    ], "small")
    (pairs,) = pair_runs(a, b).tasks[0].metrics()
    assert [p.item_id for p in pairs.judged] == ["0", "1", "2"]
    assert [p.item_id for p in pairs.settled] == ["3"]
    assert (pairs.failed_a, pairs.failed_b, pairs.missing_a, pairs.missing_b) == (0, 1, 0, 1)

    (row,) = compare(pair_runs(a, b), bootstrap=50).rows
    # Agreement over the three items both judged: 2 of 3; the settled item is not a third agreement.
    assert (row.judged, row.settled, row.disagreements) == (3, 1, 1)
    assert row.agreement is not None and row.agreement.value == pytest.approx(200 / 3)


def test_a_judged_line_without_a_verdict_is_refused_naming_file_item_and_field(tmp_path: Path) -> None:
    a, b = _acc_runs(tmp_path)
    broken = [verdict(TASK, i, "clinhallu_acc", 1, "small") for i in RESPONSES if i != "2"]
    broken.append(Judgment(TASK, "2", "clinhallu_acc", "judged", value=None))
    write_run(b, TASK, RESPONSES, broken, "small")
    with pytest.raises(AgreementError) as caught:
        pair_runs(a, b).tasks[0].metrics()
    assert str(caught.value).startswith(f"{b / (TASK + '.judgments.jsonl')}, item '2', metric 'clinhallu_acc', "
                                        "field 'value'")


def test_a_score_verdict_missing_a_dimension_is_refused(tmp_path: Path) -> None:
    task = "medhalltune_sample_pos"
    answers = {"P-1": "a normal film", "P-2": "an effusion"}
    a, b = tmp_path / "a", tmp_path / "b"
    write_run(a, task, answers, [scores(task, i, [8, 8, 8, 8], "big") for i in answers], "big")
    partial = Judgment(task, "P-2", "medhalltune_judge", "judged", scores={"clinical_accuracy": 7})
    write_run(b, task, answers, [scores(task, "P-1", [8, 8, 8, 8], "small"), partial], "small")
    with pytest.raises(AgreementError, match=r"item 'P-2'.*field 'scores.clinical_relevance'"):
        pair_runs(a, b).tasks[0].metrics()


def test_an_unreadable_record_is_reported_with_its_file(tmp_path: Path) -> None:
    a, b = _acc_runs(tmp_path)
    samples = b / f"{TASK}.samples.jsonl"
    samples.write_text(samples.read_text().replace('"response"', '"reply"', 1))
    with pytest.raises(AgreementError, match=rf"{samples}, line 1, field 'response'"):
        pair_runs(a, b)


def test_an_item_settled_in_one_run_and_judged_in_the_other_is_set_apart_and_flagged(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    metric = "clinhallu_h_v"
    write_run(a, TASK, RESPONSES, [
        *[verdict(TASK, i, metric, 0, "big") for i in ("0", "1", "2", "4", "5")],
        Judgment(TASK, "3", metric, "settled", value=1, reason="empty Visual Recognition step"),
    ], "big")
    write_run(b, TASK, RESPONSES, [verdict(TASK, i, metric, 0, "small") for i in RESPONSES], "small")
    comparison = compare(pair_runs(a, b), bootstrap=20)
    (row,) = comparison.rows
    assert (row.judged, row.settled, row.settled_differ, row.disagreements) == (5, 1, 1, 0)
    (settled,) = comparison.settled
    assert (settled.item_id, settled.status_a, settled.status_b, settled.differs) == ("3", "settled", "judged", True)
