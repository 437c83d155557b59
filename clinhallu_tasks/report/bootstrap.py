"""Seeded percentile bootstrap over benchmark items.

Items are resampled with replacement inside a *stratum* (one ClinHallu source, one MedHallTune
split). Every metric read from a stratum is computed on the same resampled items, so:

- run-to-run differences (ΔV = acc(replace_vr) − acc(baseline)) are paired by item;
- differences between models are paired by item where they evaluated the same items
  (the universe of a stratum is the union of item ids over all models and runs);
- the four-source average resamples each source independently (a stratified bootstrap),
  matching the macro average it estimates.

The draws depend only on (seed, stratum name, sorted item ids), never on the order in which
models or metrics are processed: the same input gives the same intervals.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

DEFAULT_ITERS = 2000
DEFAULT_SEED = 0
DEFAULT_LEVEL = 0.95

Interval = tuple[float, float]


def _stratum_seed(seed: int, stratum: str, ids: Sequence[str]) -> np.random.SeedSequence:
    digest = hashlib.sha256(stratum.encode("utf-8")).digest()
    return np.random.SeedSequence([int(seed), int.from_bytes(digest[:8], "big"), len(ids)])


def resample_counts(n: int, iters: int, rng: np.random.Generator, chunk: int = 256) -> np.ndarray:
    """(iters, n) matrix: how often each of n items is drawn in each bootstrap replicate."""
    out = np.empty((iters, n), dtype=np.float64)
    for start in range(0, iters, chunk):
        rows = min(chunk, iters - start)
        idx = rng.integers(0, n, size=(rows, n))
        flat = (idx + (np.arange(rows)[:, None] * n)).ravel()
        out[start : start + rows] = np.bincount(flat, minlength=rows * n).reshape(rows, n)
    return out


def percentile_interval(replicates: np.ndarray | None, level: float = DEFAULT_LEVEL) -> Interval | None:
    """Percentile interval of bootstrap replicates (NaN replicates ignored); None if too few remain."""
    if replicates is None:
        return None
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0 or finite.size < 0.5 * replicates.size:
        return None
    alpha = (1.0 - level) / 2.0
    low, high = np.percentile(finite, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return float(low), float(high)


class Bootstrap:
    """Shared resampling plan for a whole report.

    Register every item id first (`add_items`), then ask for `replicates`. Each stratum's draws
    are made once, on first use, from the sorted union of its ids.
    """

    def __init__(self, iters: int = DEFAULT_ITERS, seed: int = DEFAULT_SEED, level: float = DEFAULT_LEVEL) -> None:
        if iters < 1:
            raise ValueError("bootstrap iterations must be at least 1")
        if not 0.0 < level < 1.0:
            raise ValueError("confidence level must lie strictly between 0 and 1")
        self.iters = int(iters)
        self.seed = int(seed)
        self.level = float(level)
        self._ids: dict[str, set[str]] = {}
        self._frozen: dict[str, tuple[dict[str, int], np.ndarray]] = {}

    def add_items(self, stratum: str, ids: Iterable[str]) -> None:
        """Add item ids to a stratum's universe (before its first draw)."""
        if stratum in self._frozen:
            raise RuntimeError(f"stratum {stratum!r} already resampled; register items first")
        self._ids.setdefault(stratum, set()).update(map(str, ids))

    def universe(self, stratum: str) -> list[str]:
        """The sorted item ids registered for `stratum`."""
        return sorted(self._ids.get(stratum, ()))

    def _plan(self, stratum: str) -> tuple[dict[str, int], np.ndarray]:
        if stratum not in self._frozen:
            ids = self.universe(stratum)
            rng = np.random.default_rng(_stratum_seed(self.seed, stratum, ids))
            counts = resample_counts(len(ids), self.iters, rng) if ids else np.zeros((self.iters, 0))
            self._frozen[stratum] = ({item: i for i, item in enumerate(ids)}, counts)
        return self._frozen[stratum]

    def replicates(self, stratum: str, values: Mapping[str, float | None] | None) -> np.ndarray | None:
        """Bootstrap replicates of the mean of `values` (None entries excluded) within `stratum`.

        Returns None when fewer than two items carry a value: no interval is meaningful then.
        """
        if values is None:
            return None
        keys = [k for k, v in values.items() if v is not None]
        if len(keys) < 2:
            return None
        index, counts = self._plan(stratum)
        unknown = [k for k in keys if k not in index]
        if unknown:
            raise KeyError(f"items not registered in stratum {stratum!r}: {unknown[:3]}")
        pos = np.fromiter((index[k] for k in keys), dtype=np.intp, count=len(keys))
        vals = np.zeros(len(index))
        mask = np.zeros(len(index))
        vals[pos] = np.fromiter((float(values[k]) for k in keys), dtype=np.float64, count=len(keys))  # type: ignore[arg-type]
        mask[pos] = 1.0
        # einsum, not `@`: a threaded BLAS matvec this small is slower on few cores, never faster here.
        num = np.einsum("ij,j->i", counts, vals)
        den = np.einsum("ij,j->i", counts, mask)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)

    def interval(self, replicates: np.ndarray | None) -> Interval | None:
        """Percentile interval at this plan's level."""
        return percentile_interval(replicates, self.level)


def combine_mean(replicates: Sequence[np.ndarray | None]) -> np.ndarray | None:
    """Replicates of an unweighted mean of several estimates (None if any part lacks replicates)."""
    if not replicates or any(r is None for r in replicates):
        return None
    return np.mean(np.vstack(replicates), axis=0)


def difference(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    """Replicates of a − b (same draws, hence paired); None if either side lacks replicates."""
    if a is None or b is None:
        return None
    return a - b
