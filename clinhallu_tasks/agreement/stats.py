"""Agreement between two judges on the same items: the statistics and their bootstrap intervals.

Pure numpy. Every statistic is written over rows (one row = one bootstrap replicate of the paired
items), so the point estimate is the one-row case and the bootstrap is the same code on many rows.
A statistic that is undefined (kappa when both judges used one category only, Spearman when one
judge gave one score to every item, anything on no items) is None, never NaN.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np

DEFAULT_BOOTSTRAP = 2000
DEFAULT_SEED = 0
DEFAULT_LEVEL = 0.95

Interval = tuple[float, float]
# (replicates, items) x (replicates, items) -> (replicates,): NaN where undefined.
RowStatistic = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _agreement_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a == b).mean(axis=1) if a.shape[1] else np.full(a.shape[0], np.nan)


def _kappa_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # Binary verdicts (0/1): chance agreement from each judge's own rate of 1s.
    if not a.shape[1]:
        return np.full(a.shape[0], np.nan)
    observed = (a == b).mean(axis=1)
    rate_a, rate_b = a.mean(axis=1), b.mean(axis=1)
    chance = rate_a * rate_b + (1.0 - rate_a) * (1.0 - rate_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = (observed - chance) / (1.0 - chance)
    # chance == 1: both judges gave one and the same verdict to every item; kappa is 0/0.
    return np.where(np.isclose(chance, 1.0), np.nan, kappa)


def _mad_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b).mean(axis=1) if a.shape[1] else np.full(a.shape[0], np.nan)


def _average_ranks_rows(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n within each row, tied values sharing their average rank."""
    rows, n = x.shape
    values, codes = np.unique(x, return_inverse=True)
    codes = codes.reshape(rows, n)
    levels = values.size
    offsets = (np.arange(rows) * levels)[:, None]
    counts = np.bincount((codes + offsets).ravel(), minlength=rows * levels).reshape(rows, levels)
    below = np.cumsum(counts, axis=1) - counts
    table = below + (counts + 1) / 2.0  # ranks below + the middle of the tie block
    return np.take_along_axis(table, codes, axis=1)


def _spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.shape[1] < 2:
        return np.full(a.shape[0], np.nan)
    ra = _average_ranks_rows(a)
    rb = _average_ranks_rows(b)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    denominator = np.sqrt((ra * ra).sum(axis=1) * (rb * rb).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (ra * rb).sum(axis=1) / denominator
    return np.where(denominator > 0, rho, np.nan)


def _arrays(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"paired values must be two sequences of one length, got {x.shape} and {y.shape}")
    return x, y


def _point(statistic: RowStatistic, a: Sequence[float], b: Sequence[float]) -> float | None:
    x, y = _arrays(a, b)
    value = float(statistic(x[None, :], y[None, :])[0])
    return value if np.isfinite(value) else None


def percent_agreement(a: Sequence[int], b: Sequence[int]) -> float | None:
    """Percent (0-100) of items given the same verdict; None on no items."""
    value = _point(_agreement_rows, a, b)
    return None if value is None else 100.0 * value


def cohen_kappa(a: Sequence[int], b: Sequence[int]) -> float | None:
    """Cohen's kappa of two binary (0/1) verdict lists; None when chance agreement is total."""
    return _point(_kappa_rows, a, b)


def mean_absolute_difference(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Mean of |a - b| over the paired items; None on no items."""
    return _point(_mad_rows, a, b)


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman rank correlation (average ranks for ties); None when either side is constant."""
    return _point(_spearman_rows, a, b)


def seeded_rng(seed: int, *labels: str) -> np.random.Generator:
    """A generator that depends on the seed and the labels only (not on what was computed before)."""
    digest = hashlib.sha256("\x1f".join(labels).encode("utf-8")).digest()
    return np.random.default_rng(np.random.SeedSequence([int(seed), int.from_bytes(digest[:8], "big")]))


def bootstrap_interval(
    statistic: RowStatistic,
    a: Sequence[float],
    b: Sequence[float],
    iterations: int,
    rng: np.random.Generator,
    level: float = DEFAULT_LEVEL,
    chunk: int = 256,
) -> Interval | None:
    """Percentile interval of `statistic` over items resampled in pairs with replacement.

    Replicates where the statistic is undefined are dropped; None when more than half are
    (the interval would describe a different population than the estimate), or on no items.
    """
    if iterations < 1:
        raise ValueError("bootstrap iterations must be at least 1")
    if not 0.0 < level < 1.0:
        raise ValueError("the interval level must lie strictly between 0 and 1")
    x, y = _arrays(a, b)
    n = x.size
    if n == 0:
        return None
    replicates = np.empty(iterations, dtype=np.float64)
    for start in range(0, iterations, chunk):
        rows = min(chunk, iterations - start)
        drawn = rng.integers(0, n, size=(rows, n))
        replicates[start : start + rows] = statistic(x[drawn], y[drawn])
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0 or finite.size < 0.5 * iterations:
        return None
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(low), float(high)


def agreement_interval(a: Sequence[int], b: Sequence[int], iterations: int, rng: np.random.Generator,
                       level: float = DEFAULT_LEVEL) -> Interval | None:
    """Bootstrap interval of the percent agreement (0-100)."""
    interval = bootstrap_interval(_agreement_rows, a, b, iterations, rng, level)
    return None if interval is None else (100.0 * interval[0], 100.0 * interval[1])


def kappa_interval(a: Sequence[int], b: Sequence[int], iterations: int, rng: np.random.Generator,
                   level: float = DEFAULT_LEVEL) -> Interval | None:
    return bootstrap_interval(_kappa_rows, a, b, iterations, rng, level)


def mad_interval(a: Sequence[float], b: Sequence[float], iterations: int, rng: np.random.Generator,
                 level: float = DEFAULT_LEVEL) -> Interval | None:
    return bootstrap_interval(_mad_rows, a, b, iterations, rng, level)


def spearman_interval(a: Sequence[float], b: Sequence[float], iterations: int, rng: np.random.Generator,
                      level: float = DEFAULT_LEVEL) -> Interval | None:
    return bootstrap_interval(_spearman_rows, a, b, iterations, rng, level)


__all__ = [
    "DEFAULT_BOOTSTRAP",
    "DEFAULT_LEVEL",
    "DEFAULT_SEED",
    "Interval",
    "agreement_interval",
    "bootstrap_interval",
    "cohen_kappa",
    "kappa_interval",
    "mad_interval",
    "mean_absolute_difference",
    "percent_agreement",
    "seeded_rng",
    "spearman",
    "spearman_interval",
]
