"""Bootstrap: determinism, known small cases, pairing, stratified averages."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clinhallu_tasks.report.bootstrap import (
    Bootstrap,
    combine_mean,
    difference,
    percentile_interval,
    resample_counts,
)


def _plan(ids: list[str], iters: int = 2000, seed: int = 0, stratum: str = "s") -> Bootstrap:
    boot = Bootstrap(iters=iters, seed=seed)
    boot.add_items(stratum, ids)
    return boot


def test_same_input_same_interval_and_seed_matters() -> None:
    ids = [f"i{k}" for k in range(50)]
    values = {i: float(k % 3 == 0) * 100 for k, i in enumerate(ids)}
    a = _plan(ids).replicates("s", values)
    b = _plan(ids).replicates("s", values)
    assert a is not None and b is not None
    np.testing.assert_array_equal(a, b)
    c = _plan(ids, seed=1).replicates("s", values)
    assert c is not None and not np.array_equal(a, c)


def test_draws_do_not_depend_on_registration_order_or_other_strata() -> None:
    ids = [f"i{k}" for k in range(30)]
    values = {i: float(k) for k, i in enumerate(ids)}
    one = _plan(ids)
    other = Bootstrap(iters=2000, seed=0)
    other.add_items("unrelated", ["x", "y", "z"])
    other.add_items("s", reversed(ids))
    other.replicates("unrelated", {"x": 1.0, "y": 2.0})
    np.testing.assert_array_equal(one.replicates("s", values), other.replicates("s", values))


def test_counts_rows_sum_to_n() -> None:
    rng = np.random.default_rng(0)
    counts = resample_counts(7, 300, rng, chunk=64)
    assert counts.shape == (300, 7)
    assert np.all(counts.sum(axis=1) == 7)


def test_constant_values_give_a_degenerate_interval() -> None:
    ids = ["a", "b", "c", "d"]
    boot = _plan(ids)
    assert boot.interval(boot.replicates("s", dict.fromkeys(ids, 42.0))) == (42.0, 42.0)


def test_two_items_zero_and_hundred() -> None:
    # Replicate means are 0, 50, 100 with probabilities 1/4, 1/2, 1/4: the 95% interval is [0, 100].
    boot = _plan(["a", "b"], iters=4000)
    reps = boot.replicates("s", {"a": 0.0, "b": 100.0})
    assert reps is not None
    assert set(np.unique(reps)) <= {0.0, 50.0, 100.0}
    assert np.mean(reps == 50.0) == pytest.approx(0.5, abs=0.03)
    assert boot.interval(reps) == (0.0, 100.0)


def test_binomial_interval_matches_the_normal_approximation() -> None:
    n, p = 400, 0.3
    ids = [f"i{k}" for k in range(n)]
    values = {i: (100.0 if k < p * n else 0.0) for k, i in enumerate(ids)}
    boot = _plan(ids, iters=4000)
    low, high = boot.interval(boot.replicates("s", values))
    half = 1.96 * math.sqrt(p * (1 - p) / n) * 100
    assert low == pytest.approx(30.0 - half, abs=0.6)
    assert high == pytest.approx(30.0 + half, abs=0.6)


def test_excluded_items_are_left_out_of_the_mean() -> None:
    ids = ["a", "b", "c", "d"]
    values = {"a": 100.0, "b": 100.0, "c": None, "d": None}
    boot = _plan(ids)
    reps = boot.replicates("s", values)
    assert reps is not None
    finite = reps[np.isfinite(reps)]
    assert np.all(finite == 100.0)
    # a replicate that drew only excluded items has no value (1/16 of them here)
    assert np.mean(~np.isfinite(reps)) == pytest.approx(1 / 16, abs=0.02)


def test_too_few_items_give_no_interval() -> None:
    boot = _plan(["a", "b"])
    assert boot.replicates("s", {"a": 1.0, "b": None}) is None
    assert boot.replicates("s", None) is None
    assert percentile_interval(None) is None
    assert percentile_interval(np.array([np.nan] * 10)) is None


def test_unregistered_items_are_an_error() -> None:
    boot = _plan(["a", "b"])
    with pytest.raises(KeyError):
        boot.replicates("s", {"a": 1.0, "zz": 2.0})
    with pytest.raises(RuntimeError):
        boot.add_items("s", ["c"])


def test_paired_difference_is_tighter_than_unpaired() -> None:
    # Model B = model A with 10 of 200 items flipped from wrong to right: a real 5-point gain.
    n = 200
    ids = [f"i{k}" for k in range(n)]
    a = {i: (100.0 if k % 2 == 0 else 0.0) for k, i in enumerate(ids)}
    b = dict(a)
    for k in range(1, 21, 2):
        b[ids[k]] = 100.0
    boot = _plan(ids, iters=3000)
    paired = boot.interval(difference(boot.replicates("s", b), boot.replicates("s", a)))
    assert paired is not None
    assert paired[0] > 0  # the paired interval sees the gain
    assert paired[0] <= 5.0 <= paired[1]
    # the same items in a separate, independent stratum: unpaired, far wider
    boot2 = Bootstrap(iters=3000, seed=0)
    boot2.add_items("x", ids)
    boot2.add_items("y", ids)
    unpaired = boot2.interval(difference(boot2.replicates("y", b), boot2.replicates("x", a)))
    assert unpaired is not None
    assert (unpaired[1] - unpaired[0]) > 3 * (paired[1] - paired[0])
    # identical models differ by exactly zero on every replicate
    assert boot.interval(difference(boot.replicates("s", a), boot.replicates("s", a))) == (0.0, 0.0)


def test_stratified_average_of_constant_sources_is_exact() -> None:
    boot = Bootstrap(iters=500, seed=3)
    parts = []
    for s, v in (("s1", 10.0), ("s2", 20.0), ("s3", 30.0), ("s4", 40.0)):
        boot.add_items(s, ["a", "b", "c"])
        parts.append(boot.replicates(s, dict.fromkeys(["a", "b", "c"], v)))
    avg = combine_mean(parts)
    assert avg is not None and boot.interval(avg) == (25.0, 25.0)
    assert combine_mean([parts[0], None]) is None
    assert difference(parts[0], None) is None


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        Bootstrap(iters=0)
    with pytest.raises(ValueError):
        Bootstrap(level=1.0)
