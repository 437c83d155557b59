"""The statistics of judge agreement against hand computation, and their bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest

from clinhallu_tasks.agreement import stats
from clinhallu_tasks.agreement.stats import (
    agreement_interval,
    cohen_kappa,
    kappa_interval,
    mad_interval,
    mean_absolute_difference,
    percent_agreement,
    seeded_rng,
    spearman,
    spearman_interval,
)

# 20 answer verdicts: judge A marks items 0-11 correct (12 ones) and 12-19 incorrect (8 zeros);
# judge B flips three: items 0 and 1 to incorrect, item 12 to correct.
JUDGE_A = [1] * 12 + [0] * 8
JUDGE_B = [0, 0] + [1] * 10 + [1] + [0] * 7


def test_percent_agreement_counts_matching_verdicts() -> None:
    # 3 of 20 flipped: 17 / 20 = 85 %.
    assert percent_agreement(JUDGE_A, JUDGE_B) == pytest.approx(85.0)


def test_cohen_kappa_corrects_for_chance() -> None:
    # observed p_o = 17/20 = 0.85
    # A says 1 on 12/20 = 0.60, B on 11/20 = 0.55
    # chance p_e = 0.60*0.55 + 0.40*0.45 = 0.33 + 0.18 = 0.51
    # kappa = (0.85 - 0.51) / (1 - 0.51) = 0.34 / 0.49 = 0.693877...
    assert cohen_kappa(JUDGE_A, JUDGE_B) == pytest.approx(0.34 / 0.49)


def test_kappa_is_one_for_identical_verdicts_and_undefined_for_a_single_category() -> None:
    assert cohen_kappa([1, 0, 1, 0], [1, 0, 1, 0]) == pytest.approx(1.0)
    # Both judges say 1 everywhere: p_e = 1, kappa = 0/0.
    assert cohen_kappa([1, 1, 1], [1, 1, 1]) is None


def test_kappa_is_negative_when_judges_disagree_more_than_chance() -> None:
    # p_o = 0; p_e = 0.5*0.5 + 0.5*0.5 = 0.5; kappa = (0 - 0.5) / 0.5 = -1.
    assert cohen_kappa([1, 0, 1, 0], [0, 1, 0, 1]) == pytest.approx(-1.0)


def test_mean_absolute_difference() -> None:
    # |1-2| + |2-1| + |3-4| + |4-3| + |5-5| = 4; 4 / 5 = 0.8
    assert mean_absolute_difference([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)


def test_spearman_without_ties() -> None:
    # rank differences d = -1, 1, -1, 1, 0; sum d^2 = 4; rho = 1 - 6*4 / (5*(25-1)) = 1 - 24/120 = 0.8
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)


def test_spearman_gives_tied_scores_their_average_rank() -> None:
    # A = 1,2,2,3 -> ranks 1, 2.5, 2.5, 4; B = 1,3,2,2 -> ranks 1, 4, 2.5, 2.5 (mean rank 2.5)
    # centred: A -1.5, 0, 0, 1.5; B -1.5, 1.5, 0, 0
    # sum of products = 2.25; sums of squares 4.5 and 4.5; rho = 2.25 / sqrt(4.5 * 4.5) = 0.5
    assert spearman([1, 2, 2, 3], [1, 3, 2, 2]) == pytest.approx(0.5)


def test_spearman_is_undefined_when_one_judge_gives_one_score_to_everything() -> None:
    assert spearman([7, 7, 7], [1, 5, 9]) is None


def test_no_items_gives_no_statistic() -> None:
    assert percent_agreement([], []) is None
    assert cohen_kappa([], []) is None
    assert mean_absolute_difference([], []) is None


def test_unpaired_values_are_refused() -> None:
    with pytest.raises(ValueError, match="one length"):
        percent_agreement([1, 0], [1])


def test_bootstrap_ranks_each_replicate_on_its_own() -> None:
    # The bootstrap ranks many replicates at once; a row must not see another row's values.
    rows_a = np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 2.0, 2.0, 3.0, 3.0]])
    rows_b = np.array([[2.0, 1.0, 4.0, 3.0, 5.0], [1.0, 3.0, 2.0, 2.0, 9.0]])
    together = stats._spearman_rows(rows_a, rows_b)
    assert together == pytest.approx([spearman(rows_a[i], rows_b[i]) for i in range(2)])


def test_same_seed_gives_same_interval_and_another_seed_another() -> None:
    first = kappa_interval(JUDGE_A, JUDGE_B, 500, seeded_rng(0, "task", "acc"))
    again = kappa_interval(JUDGE_A, JUDGE_B, 500, seeded_rng(0, "task", "acc"))
    other = kappa_interval(JUDGE_A, JUDGE_B, 500, seeded_rng(1, "task", "acc"))
    assert first == again
    assert first != other


def test_intervals_bracket_the_estimate() -> None:
    rng = seeded_rng(0, "bracket")
    low, high = agreement_interval(JUDGE_A, JUDGE_B, 1000, rng)  # type: ignore[misc]
    assert low < 85.0 < high
    a = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 3, 6]
    b = [2, 2, 4, 3, 5, 7, 6, 9, 9, 10, 4, 5]
    low, high = mad_interval(a, b, 1000, rng)  # type: ignore[misc]
    assert low <= mean_absolute_difference(a, b) <= high  # type: ignore[operator]
    low, high = spearman_interval(a, b, 1000, rng)  # type: ignore[misc]
    assert low <= spearman(a, b) <= high  # type: ignore[operator]


def test_perfect_agreement_has_a_point_interval() -> None:
    assert agreement_interval([1, 0, 1, 1], [1, 0, 1, 1], 200, seeded_rng(0)) == (100.0, 100.0)


def test_interval_is_none_where_the_statistic_is_undefined() -> None:
    # Both judges say 1 everywhere: every resample has p_e = 1, so no kappa and no interval.
    assert kappa_interval([1, 1, 1, 1], [1, 1, 1, 1], 200, seeded_rng(0)) is None
    assert spearman_interval([4, 4, 4], [1, 5, 9], 200, seeded_rng(0)) is None


def test_bootstrap_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        kappa_interval(JUDGE_A, JUDGE_B, 0, seeded_rng(0))
    with pytest.raises(ValueError, match="between 0 and 1"):
        kappa_interval(JUDGE_A, JUDGE_B, 10, seeded_rng(0), level=1.0)
