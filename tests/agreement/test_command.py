"""`clinhallu-tasks judge-agreement` end to end on record folders written to disk."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from clinhallu_tasks.cli import main
from tests.agreement.runs import scores, verdict, write_run

ACC_TASK = "clinhallu_sample_baseline"
SCORE_TASK = "medhalltune_sample_pos"
RESPONSES = {str(i): f"Visual Recognition: a shadow in image {i}. Answer: yes" for i in range(20)}
# Judge A: items 0-11 correct, 12-19 incorrect. Judge B flips items 0 and 1 to incorrect and 12 to correct.
OFFICIAL = [1] * 12 + [0] * 8
CHEAP = [0, 0] + [1] * 10 + [1] + [0] * 7
LONG_REASON = "The answer names the right organ but " + "misreads the laterality " * 10 + "so it is wrong."
ANSWERS = {f"P-{i}": f"The film shows finding {i}." for i in range(1, 6)}
# Clinical Accuracy differs on four of five answers; the other three dimensions agree everywhere.
ACCURACY_A = [1, 2, 3, 4, 5]
ACCURACY_B = [2, 1, 4, 3, 5]


@pytest.fixture()
def runs(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "official", tmp_path / "cheap"
    write_run(a, ACC_TASK, RESPONSES,
              [verdict(ACC_TASK, str(i), "clinhallu_acc", v, "gpt-big") for i, v in enumerate(OFFICIAL)], "gpt-big")
    write_run(b, ACC_TASK, RESPONSES,
              [verdict(ACC_TASK, str(i), "clinhallu_acc", v, "tiny", reason=LONG_REASON) for i, v in enumerate(CHEAP)],
              "tiny")
    write_run(a, SCORE_TASK, ANSWERS,
              [scores(SCORE_TASK, item, [s, s, s, s], "gpt-big") for item, s in zip(ANSWERS, ACCURACY_A, strict=True)],
              "gpt-big")
    write_run(b, SCORE_TASK, ANSWERS,
              [scores(SCORE_TASK, item, [sb, sa, sa, sa], "tiny")
               for item, sa, sb in zip(ANSWERS, ACCURACY_A, ACCURACY_B, strict=True)],
              "tiny")
    return a, b


def _rows(document: dict) -> dict[tuple[str, str], dict]:
    return {(row["task"], row["metric"]): row for row in document["rows"]}


def test_json_out_holds_the_hand_computed_statistics(runs: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "agreement.json"
    assert main(["judge-agreement", str(runs[0]), str(runs[1]), "--bootstrap", "300", "--out", str(out)]) == 0
    rows = _rows(json.loads(out.read_text()))

    acc = rows[(ACC_TASK, "clinhallu_acc")]
    # p_o = 17/20 = 0.85; p_e = 0.60*0.55 + 0.40*0.45 = 0.51; kappa = 0.34 / 0.49
    assert (acc["items"], acc["judged"], acc["disagreements"]) == (20, 20, 3)
    assert acc["agreement"]["value"] == pytest.approx(85.0)
    assert acc["kappa"]["value"] == pytest.approx(0.34 / 0.49)
    # Accuracy as each judge alone has it: A 12/20 = 60 %, B 11/20 = 55 %.
    assert (acc["level_a"], acc["level_b"]) == (pytest.approx(60.0), pytest.approx(55.0))
    low, high = acc["kappa"]["interval"]
    assert low < 0.34 / 0.49 < high

    accuracy = rows[(SCORE_TASK, "medhalltune_clinical_accuracy")]
    # |A-B| = 1, 1, 1, 1, 0 -> 4/5 = 0.8; rank differences -1, 1, -1, 1, 0 -> rho = 1 - 6*4/(5*24) = 0.8
    assert accuracy["mad"]["value"] == pytest.approx(0.8)
    assert accuracy["spearman"]["value"] == pytest.approx(0.8)
    # Means: A (1+2+3+4+5)/5 = 3.0, B (2+1+4+3+5)/5 = 3.0: no bias, only disorder.
    assert (accuracy["level_a"], accuracy["level_b"]) == (pytest.approx(3.0), pytest.approx(3.0))
    relevance = rows[(SCORE_TASK, "medhalltune_clinical_relevance")]
    assert (relevance["mad"]["value"], relevance["spearman"]["value"]) == (0.0, pytest.approx(1.0))


def test_json_out_lists_every_disagreement_with_whole_reasons(runs: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "agreement.json"
    assert main(["judge-agreement", str(runs[0]), str(runs[1]), "--bootstrap", "50", "--max-listed", "1",
                 "--out", str(out)]) == 0
    listed = [d for d in json.loads(out.read_text())["disagreements"] if d["metric"] == "clinhallu_acc"]
    assert [(d["item_id"], d["verdict_a"], d["verdict_b"]) for d in listed] == [
        ("0", "correct", "incorrect"), ("1", "correct", "incorrect"), ("12", "incorrect", "correct"),
    ]
    assert listed[0]["reason_b"] == LONG_REASON


def test_csv_out_has_one_line_per_disagreement(runs: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "agreement.csv"
    # --score-gap 1: the four one-point differences in Clinical Accuracy count as disagreements.
    assert main(["judge-agreement", str(runs[0]), str(runs[1]), "--bootstrap", "50", "--score-gap", "1",
                 "--out", str(out)]) == 0
    with out.open(newline="", encoding="utf-8") as handle:
        lines = list(csv.DictReader(handle))
    assert [line["metric"] for line in lines] == ["clinhallu_acc"] * 3 + ["medhalltune_clinical_accuracy"] * 4
    assert (lines[3]["item_id"], lines[3]["verdict_a"], lines[3]["verdict_b"]) == ("P-1", "1", "2")
    assert lines[0]["reason_b"] == LONG_REASON


def test_console_shows_the_rows_and_the_first_disagreements_truncated(
    runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["judge-agreement", str(runs[0]), str(runs[1]), "--bootstrap", "50", "--max-listed", "2"]) == 0
    shown = capsys.readouterr().out
    assert "(judge gpt-big)" in shown and "(judge tiny)" in shown
    assert "85.0 [" in shown and "0.69 [" in shown
    assert "disagreements: 3 (first 2; --out FILE writes all)" in shown
    assert f"{ACC_TASK}  0  clinhallu_acc: A correct vs B incorrect" in shown
    assert f"{ACC_TASK}  12" not in shown
    assert LONG_REASON not in shown and LONG_REASON[:40] in shown


def test_same_seed_gives_the_same_intervals(runs: tuple[Path, Path], tmp_path: Path) -> None:
    documents = []
    for name, seed in (("first", "7"), ("again", "7"), ("other", "8")):
        out = tmp_path / f"{name}.json"
        assert main(["judge-agreement", str(runs[0]), str(runs[1]), "--bootstrap", "200", "--seed", seed,
                     "--out", str(out)]) == 0
        documents.append(_rows(json.loads(out.read_text()))[(ACC_TASK, "clinhallu_acc")]["kappa"]["interval"])
    assert documents[0] == documents[1]
    assert documents[0] != documents[2]


def test_runs_over_different_outputs_exit_2_naming_the_item(
    runs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = dict(RESPONSES, **{"4": "Visual Recognition: nothing. Answer: no"})
    write_run(runs[1], ACC_TASK, other, [], "tiny")
    out = tmp_path / "agreement.json"
    assert main(["judge-agreement", str(runs[0]), str(runs[1]), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "not over the same model outputs" in error and "item '4'" in error
    assert not out.exists()


def test_an_out_file_of_another_kind_exits_2_before_reading(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["judge-agreement", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "x.txt")]) == 2
    assert "must end in .json or .csv" in capsys.readouterr().err


def test_runs_without_any_verdict_from_both_judges_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write_run(a, ACC_TASK, RESPONSES, [verdict(ACC_TASK, str(i), "clinhallu_acc", 1, "gpt-big") for i in range(20)],
              "gpt-big")
    write_run(b, ACC_TASK, RESPONSES, [], "tiny")  # the cheap run had no judge reachable
    assert main(["judge-agreement", str(a), str(b), "--bootstrap", "20"]) == 2
    captured = capsys.readouterr()
    assert "no item has a verdict from both judges" in captured.err
    assert "no verdict A/B" in captured.out
