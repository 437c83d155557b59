"""Aggregation: plain means per dimension; judge failures counted, never filled in."""

from __future__ import annotations

import pytest

from clinhallu_tasks.medhalltune import (
    Verdict,
    dimension_means,
    summarize_verdicts,
    text_scores,
)
from clinhallu_tasks.medhalltune.scoring import TextScores


def v(a: float, b: float, c: float, d: float) -> Verdict:
    return Verdict(a, b, c, d, "because")


def test_plain_means_per_dimension():
    summary = summarize_verdicts([v(1, 2, 3, 4), v(10, 9, 8, 7), v(4, 4, 4, 4)])
    assert summary.means == {"clinical_accuracy": 5, "clinical_relevance": 5, "detail_level": 5, "risk_level": 5}
    assert (summary.n_answers, summary.n_judged, summary.n_failed) == (3, 3, 0)


def test_failures_are_counted_and_left_out():
    summary = summarize_verdicts([v(8, 8, 8, 8), None, v(2, 4, 6, 10), None])
    assert summary.means == {"clinical_accuracy": 5, "clinical_relevance": 6, "detail_level": 7, "risk_level": 9}
    assert (summary.n_answers, summary.n_judged, summary.n_failed) == (4, 2, 2)


def test_nothing_judged_gives_none_not_nan_or_zero():
    summary = summarize_verdicts([None, None])
    assert summary.means == dict.fromkeys(summary.means, None)
    assert summary.n_failed == 2
    assert summarize_verdicts([]).means["risk_level"] is None


def test_summary_to_dict_carries_counts():
    summary = summarize_verdicts([v(6, 7, 5, 8), None], n_without_reference=1)
    assert summary.to_dict() == {
        "clinical_accuracy": 6, "clinical_relevance": 7, "detail_level": 5, "risk_level": 8,
        "n_answers": 2, "n_judged": 1, "n_failed": 1, "n_without_reference": 1,
    }


def test_dimension_means_are_plain_means_per_dimension():
    means = dimension_means([v(6, 6, 6, 6).scores(), v(8, 7, 6, 5).scores()])
    assert means == {"clinical_accuracy": 7, "clinical_relevance": 6.5, "detail_level": 6, "risk_level": 5.5}
    assert dimension_means([]) == dict.fromkeys(means)


def test_text_scores_selects_metrics(wordnet):
    scores = text_scores(["the left lung"], ["the left lung"], metrics=("meteor", "rouge_l"))
    assert scores.bertscore is None
    means = scores.means()
    assert means["bertscore"] is None and means["rouge_l"] == 1.0 and means["meteor"] == pytest.approx(1 - 0.5 / 27)
    with pytest.raises(ValueError, match="unknown text metric"):
        text_scores(["a"], ["a"], metrics=("bleu",))


def test_empty_text_scores_mean_none():
    assert TextScores().means() == {"bertscore": None, "meteor": None, "rouge_l": None}
