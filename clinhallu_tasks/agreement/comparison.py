"""From paired verdicts to agreement rows and the list of items the two judges disagree on.

One row per task and metric: ClinHallu answer accuracy and the run's stage (H^V, H^K, H^R) as
binary verdicts (percent agreement, Cohen's kappa); MedHallTune per judge dimension (mean absolute
difference, Spearman). Intervals are seeded per (task, metric), so a row's numbers do not depend on
which other tasks were compared alongside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from clinhallu_tasks.agreement import stats
from clinhallu_tasks.agreement.pairing import MetricPairs, RunPair, VerdictPair, binary_values, score_values
from clinhallu_tasks.spec import clinhallu as clinhallu_spec
from clinhallu_tasks.spec import medhalltune as medhalltune_spec


@dataclass(frozen=True)
class Estimate:
    """A statistic and its bootstrap interval (None: undefined on these items)."""

    value: float | None
    interval: stats.Interval | None


@dataclass(frozen=True)
class AgreementRow:
    """How far two judges agree on one metric (or one MedHallTune dimension) of one task."""

    benchmark: str
    task: str
    metric: str  # "clinhallu_acc", "clinhallu_h_v", ..., "medhalltune_clinical_accuracy", ...
    label: str  # "Acc", "H^V", ..., "Clinical Accuracy"
    items: int  # items both runs evaluated
    judged: int  # items both judges gave a verdict on: what the statistics are over
    settled: int  # items decided without a call in A or B (not counted)
    settled_differ: int  # of those, items where A's and B's recorded values differ
    failed_a: int
    failed_b: int
    missing_a: int
    missing_b: int
    disagreements: int
    # The metric as each judge alone gives it over the items both judged: ClinHallu the percent of
    # verdicts 1 (correct, or hallucinated), MedHallTune the mean score. Their gap is the judge's bias.
    level_a: float | None
    level_b: float | None
    agreement: Estimate | None = None  # percent, ClinHallu
    kappa: Estimate | None = None  # ClinHallu
    mad: Estimate | None = None  # score points, MedHallTune
    spearman: Estimate | None = None  # MedHallTune


@dataclass(frozen=True)
class Disagreement:
    """One item the two judges decided differently, with both explanations in full."""

    task: str
    item_id: str
    metric: str
    verdict_a: str
    verdict_b: str
    reason_a: str | None
    reason_b: str | None


@dataclass(frozen=True)
class SettledItem:
    """An item decided without a judge call in at least one run."""

    task: str
    item_id: str
    metric: str
    status_a: str
    status_b: str
    value_a: int | None
    value_b: int | None
    reason_a: str | None
    reason_b: str | None
    differs: bool  # A and B recorded another status or value (e.g. one run asked the judge, the other did not)


@dataclass(frozen=True)
class Comparison:
    """Everything the command prints and writes."""

    rows: tuple[AgreementRow, ...]
    disagreements: tuple[Disagreement, ...]
    settled: tuple[SettledItem, ...]
    bootstrap: int
    seed: int
    level: float


def verdict_word(metric: str, value: int) -> str:
    """A ClinHallu verdict in the benchmark's words."""
    if metric == clinhallu_spec.ACC.name:
        return "correct" if value == 1 else "incorrect"
    return "hallucinated" if value == 1 else "not hallucinated"


def _estimate(point: float | None, interval: stats.Interval | None) -> Estimate:
    return Estimate(point, interval if point is not None else None)


def _counts(pairs: MetricPairs) -> dict[str, int]:
    return {
        "items": pairs.items,
        "judged": len(pairs.judged),
        "settled": len(pairs.settled),
        "settled_differ": sum(_settled_differs(p) for p in pairs.settled),
        "failed_a": pairs.failed_a,
        "failed_b": pairs.failed_b,
        "missing_a": pairs.missing_a,
        "missing_b": pairs.missing_b,
    }


def _settled_differs(pair: VerdictPair) -> bool:
    a, b = pair.a, pair.b
    return (a.status, a.value, a.scores) != (b.status, b.value, b.scores)


def _binary_row(pairs: MetricPairs, bootstrap: int, seed: int, level: float) -> tuple[AgreementRow, list[Disagreement]]:
    a, b = binary_values(pairs.judged)
    rng_agreement = stats.seeded_rng(seed, pairs.task, pairs.metric, "agreement")
    rng_kappa = stats.seeded_rng(seed, pairs.task, pairs.metric, "kappa")
    agreement = _estimate(stats.percent_agreement(a, b),
                          stats.agreement_interval(a, b, bootstrap, rng_agreement, level))
    kappa = _estimate(stats.cohen_kappa(a, b), stats.kappa_interval(a, b, bootstrap, rng_kappa, level))
    listed = [
        Disagreement(pairs.task, p.item_id, pairs.metric, verdict_word(pairs.metric, va),
                     verdict_word(pairs.metric, vb), p.a.reason, p.b.reason)
        for p, va, vb in zip(pairs.judged, a, b, strict=True) if va != vb
    ]
    row = AgreementRow(pairs.benchmark, pairs.task, pairs.metric, pairs.label, **_counts(pairs),
                       disagreements=len(listed), level_a=_mean(a, 100.0), level_b=_mean(b, 100.0),
                       agreement=agreement, kappa=kappa)
    return row, listed


def _score_rows(pairs: MetricPairs, bootstrap: int, seed: int, level: float,
                score_gap: float) -> tuple[list[AgreementRow], list[Disagreement]]:
    rows: list[AgreementRow] = []
    listed: list[Disagreement] = []
    for dimension in medhalltune_spec.DIMENSIONS:
        a, b = score_values(pairs.judged, dimension.key)
        metric = dimension.metric.name
        rng_mad = stats.seeded_rng(seed, pairs.task, metric, "mad")
        rng_rho = stats.seeded_rng(seed, pairs.task, metric, "spearman")
        mad = _estimate(stats.mean_absolute_difference(a, b), stats.mad_interval(a, b, bootstrap, rng_mad, level))
        rho = _estimate(stats.spearman(a, b), stats.spearman_interval(a, b, bootstrap, rng_rho, level))
        apart = [
            Disagreement(pairs.task, p.item_id, metric, f"{sa:g}", f"{sb:g}", p.a.reason, p.b.reason)
            for p, sa, sb in zip(pairs.judged, a, b, strict=True) if abs(sa - sb) >= score_gap
        ]
        listed.extend(apart)
        rows.append(AgreementRow(pairs.benchmark, pairs.task, metric, dimension.label, **_counts(pairs),
                                 disagreements=len(apart), level_a=_mean(a), level_b=_mean(b), mad=mad, spearman=rho))
    return rows, listed


def _mean(values: list[int] | list[float], scale: float = 1.0) -> float | None:
    return scale * sum(values) / len(values) if values else None


def _settled_items(pairs: MetricPairs) -> list[SettledItem]:
    out = []
    for pair in pairs.settled:
        a, b = pair.a, pair.b
        out.append(SettledItem(pairs.task, pair.item_id, pairs.metric, a.status, b.status, a.value, b.value,
                               a.reason, b.reason, differs=_settled_differs(pair)))
    return out


def compare(run_pair: RunPair, bootstrap: int = stats.DEFAULT_BOOTSTRAP, seed: int = stats.DEFAULT_SEED,
            level: float = stats.DEFAULT_LEVEL, score_gap: float = 2.0) -> Comparison:
    """Agreement rows for every task and judge metric both runs hold, and every disagreement.

    A MedHallTune item counts as a disagreement on a dimension when the scores are `score_gap` or
    more points apart (one point apart on a 1-10 scale is common between any two judges).
    """
    if not score_gap > 0:
        raise ValueError("the score gap must be more than 0 points")
    rows: list[AgreementRow] = []
    disagreements: list[Disagreement] = []
    settled: list[SettledItem] = []
    for task_pair in run_pair.tasks:
        for pairs in task_pair.metrics():
            if pairs.benchmark == "clinhallu":
                row, listed = _binary_row(pairs, bootstrap, seed, level)
                rows.append(row)
            else:
                more, listed = _score_rows(pairs, bootstrap, seed, level, score_gap)
                rows.extend(more)
            disagreements.extend(listed)
            settled.extend(_settled_items(pairs))
    return Comparison(tuple(rows), tuple(disagreements), tuple(settled), bootstrap, seed, level)


__all__ = ["AgreementRow", "Comparison", "Disagreement", "Estimate", "SettledItem", "compare", "verdict_word"]
