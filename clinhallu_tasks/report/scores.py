"""Headline numbers, intervals and model-to-model differences, from what `inputs` read.

Point values come from lmms-eval's results files (the numbers the run reported); intervals come
from the per-item data (sample logs, judgments) resampled by `bootstrap`. Where the two disagree
the report says so. Nothing is averaged over fewer than the four ClinHallu sources unless asked.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from clinhallu_tasks.clinhallu.items import SOURCES
from clinhallu_tasks.report.bootstrap import Bootstrap, Interval, combine_mean, difference, masked_mean
from clinhallu_tasks.report.inputs import (
    JUDGED_METRICS,
    ClinHalluTask,
    MedHallTuneTask,
    ModelData,
    TaskData,
    parse_task_name,
)

FOUR_SOURCES: tuple[str, ...] = tuple(s.name for s in SOURCES)
SOURCE_LABELS: dict[str, str] = {s.name: s.label for s in SOURCES} | {"sample": "Sample"}
SOURCE_KEYS: dict[str, str] = {s.name: s.submission_key for s in SOURCES}
REQUIRED_RUNS: tuple[str, ...] = ("baseline", "replace_vr", "replace_vr_kr")
ALL_RUNS: tuple[str, ...] = ("baseline", "replace_vr", "replace_kr", "replace_vr_kr")

# Headline symbol -> (run it is read from, lmms-eval metric) (PROTOCOL §1.6).
HEADLINE: dict[str, tuple[str, str]] = {
    "acc": ("baseline", "clinhallu_acc"),
    "h_v": ("baseline", "clinhallu_h_v"),
    "h_k": ("replace_vr", "clinhallu_h_k"),
    "h_r": ("replace_vr_kr", "clinhallu_h_r"),
}
# Intervention deltas: acc(run) - acc(baseline).
DELTAS: dict[str, str] = {"delta_v": "replace_vr", "delta_vk": "replace_vr_kr", "delta_k": "replace_kr"}
STEP_METRIC: dict[str, str] = {
    "baseline": "clinhallu_h_v",
    "replace_vr": "clinhallu_h_k",
    "replace_vr_kr": "clinhallu_h_r",
}
CLINHALLU_KEYS: tuple[str, ...] = ("acc", "h_v", "h_k", "h_r", "delta_v", "delta_vk", "delta_k", "valid_rate")
MEDHALLTUNE_KEYS: tuple[str, ...] = (
    "clinical_accuracy",
    "clinical_relevance",
    "detail_level",
    "risk_level",
    "bertscore",
    "meteor",
    "rouge_l",
)
# Relative agreement required between a results-file value and the mean of its per-item data.
AGREEMENT_TOLERANCE = 1e-6


@dataclass
class Estimate:
    """One number, its bootstrap interval (None when no per-item data) and the items behind it."""

    value: float | None
    ci: Interval | None = None
    n: int | None = None

    @property
    def missing(self) -> bool:
        """True when the number could not be computed."""
        return self.value is None


@dataclass
class RunSummary:
    """One ClinHallu task (a source and a run) for one model."""

    task: str
    run: str
    n: int | None
    n_original: int | None
    valid_rate: Estimate
    acc_rule: Estimate
    acc: Estimate
    step: Estimate | None
    judge_counts: dict[str, dict[str, int]]
    has_samples: bool
    has_judgments: bool

    @property
    def partial(self) -> bool:
        """True when the run covered a subset of the items (lmms-eval --limit)."""
        return self.n is not None and self.n_original is not None and self.n < self.n_original


@dataclass
class SourceResult:
    """A ClinHallu source for one model: headline numbers, deltas and the runs behind them."""

    source: str
    runs: dict[str, RunSummary]
    metrics: dict[str, Estimate]

    @property
    def label(self) -> str:
        """The leaderboard name of the source."""
        return SOURCE_LABELS.get(self.source, self.source)

    @property
    def n(self) -> int | None:
        """Items of the baseline run (the source's item count), None without one."""
        base = self.runs.get("baseline")
        return base.n if base is not None else None

    @property
    def missing_runs(self) -> list[str]:
        """Required runs (baseline, replace_vr, replace_vr_kr) that were not found."""
        return [r for r in REQUIRED_RUNS if r not in self.runs]

    @property
    def partial(self) -> bool:
        """True when any run of the source covered a subset of the items."""
        return any(r.partial for r in self.runs.values())


@dataclass
class AverageResult:
    """The four-source macro average; per metric, which sources went into it."""

    metrics: dict[str, Estimate]
    sources_used: dict[str, list[str]]

    def partial(self, key: str) -> bool:
        """True when `key` was averaged over fewer than four sources."""
        used = self.sources_used.get(key, [])
        return bool(used) and len(used) < len(FOUR_SOURCES)


@dataclass
class MedSplitResult:
    """One MedHallTune split (P or N) of one subset for one model."""

    task: str
    subset: str
    split: str
    n: int | None
    n_original: int | None
    metrics: dict[str, Estimate]
    judge_counts: dict[str, dict[str, int]]
    has_samples: bool

    @property
    def partial(self) -> bool:
        """True when the split covered a subset of the items (lmms-eval --limit)."""
        return self.n is not None and self.n_original is not None and self.n < self.n_original


@dataclass
class ModelReport:
    """Everything the report says about one model."""

    name: str
    data: ModelData
    sources: dict[str, SourceResult]
    average: AverageResult | None
    medhalltune: dict[str, dict[str, MedSplitResult]]  # subset -> split -> result
    notes: list[str] = field(default_factory=list)

    @property
    def main_sources(self) -> list[SourceResult]:
        """Results for the four ClinHallu sources that were run, in leaderboard order."""
        return [self.sources[s] for s in FOUR_SOURCES if s in self.sources]

    @property
    def other_sources(self) -> list[SourceResult]:
        """Results for other sources (the sample subset), never averaged."""
        return [r for s, r in self.sources.items() if s not in FOUR_SOURCES]


@dataclass
class Difference:
    """Model a minus model b on one number, with the interval of the difference."""

    a: str
    b: str
    benchmark: str  # "clinhallu" or "medhalltune"
    scope: str  # source label, "Average", or "P"/"N" (with a subset prefix for sample subsets)
    metric: str
    value: float
    ci: Interval | None
    pairing: str  # "same items", "overlapping items", "disjoint items", "no per-item data"


@dataclass
class Report:
    """The whole report: per-model results and pairwise differences."""

    models: list[ModelReport]
    differences: list[Difference]
    bootstrap: Bootstrap
    allow_partial_average: bool
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- averaging


def macro_average(
    per_source: Mapping[str, float | None],
    sources: Sequence[str] = FOUR_SOURCES,
    allow_partial: bool = False,
) -> tuple[float | None, list[str]]:
    """Unweighted mean over `sources`, and the sources used.

    None (with no sources) unless every source has a value, or `allow_partial` and at least one does.
    """
    used = [s for s in sources if per_source.get(s) is not None]
    if not used or (len(used) < len(sources) and not allow_partial):
        return None, []
    return sum(float(per_source[s]) for s in used) / len(used), used  # type: ignore[arg-type]


def clinhallu_average(
    per_source: Mapping[str, Mapping[str, float | None]],
    keys: Sequence[str] = CLINHALLU_KEYS,
    allow_partial: bool = False,
) -> dict[str, tuple[float | None, list[str]]]:
    """The leaderboard "Avg" row: for each key, the macro average over the four sources."""
    return {
        key: macro_average({s: vals.get(key) for s, vals in per_source.items()}, allow_partial=allow_partial)
        for key in keys
    }


# --------------------------------------------------------------------------- building


def _stratum(task: ClinHalluTask | MedHallTuneTask) -> str:
    if isinstance(task, ClinHalluTask):
        return f"clinhallu:{task.source}"
    return f"medhalltune:{task.subset or 'full'}:{task.split}"


class _Builder:
    def __init__(self, models: Sequence[ModelData], boot: Bootstrap, allow_partial: bool) -> None:
        self.models = models
        self.boot = boot
        self.allow_partial = allow_partial
        # (model index, scope, key) -> replicates; scope is a stratum or "clinhallu:average"
        self.reps: dict[tuple[int, str, str], np.ndarray | None] = {}
        # (model index, scope, key) -> item ids behind the value (for pairing)
        self.items: dict[tuple[int, str, str], frozenset[str]] = {}
        # model index -> task -> metrics that have a value but no per-item data (so no interval)
        self.no_items: dict[int, dict[str, list[str]]] = {}

    # -- registration: every item id of every model, before any draw
    def register(self) -> None:
        """Register every item id of every model before any draw (pairing needs one universe)."""
        for model in self.models:
            for name, task in model.tasks.items():
                kind = parse_task_name(name)
                if kind is None:
                    continue
                ids = set(task.sample_item_ids() or [])
                for metric in _metrics_for(kind):
                    values = task.item_values(metric)
                    if values:
                        ids.update(values)
                self.boot.add_items(_stratum(kind), ids)

    def estimate(self, mi: int, task: TaskData, stratum: str, metric: str, key: str, notes: list[str]) -> Estimate:
        """One number from a task: the results-file value, with an interval from its per-item data."""
        per_item = task.item_values(metric)
        from_items = masked_mean(per_item) if per_item is not None else None
        if metric in task.metrics:
            value = task.metrics[metric]
        else:
            value = from_items
            if value is not None:
                notes.append(f"{task.task}: {metric} not in the results file; computed from per-item data")
        n = sum(v is not None for v in per_item.values()) if per_item is not None else None
        reps = self.boot.replicates(stratum, per_item) if value is not None else None
        if value is not None and from_items is not None:
            if abs(value - from_items) > AGREEMENT_TOLERANCE * max(1.0, abs(value)):
                notes.append(
                    f"{task.task}: {metric} is {value:.4f} in the results file but {from_items:.4f} "
                    "from the per-item data; the interval comes from the per-item data"
                )
        elif value is None and from_items is not None:
            notes.append(f"{task.task}: {metric} is null in the results file although per-item data exist")
        if value is not None and per_item is None:
            self.no_items.setdefault(mi, {}).setdefault(task.task, []).append(metric)
        self.reps[(mi, stratum, key)] = reps
        if per_item is not None:  # every item evaluated, counted or not: what pairing is about
            self.items[(mi, stratum, key)] = frozenset(per_item)
        return Estimate(value, self.boot.interval(reps), n)

    def run_summary(self, mi: int, task: TaskData, kind: ClinHalluTask, notes: list[str]) -> RunSummary:
        """Validity, rule accuracy, judged accuracy and step rate of one ClinHallu task."""
        stratum = _stratum(kind)
        run = kind.run
        step_metric = STEP_METRIC.get(run)
        step = self.estimate(mi, task, stratum, step_metric, f"{run}:{step_metric}", notes) if step_metric else None
        n = task.n_effective
        if n is None and task.samples is not None:
            n = len(task.samples)
        return RunSummary(
            task=task.task,
            run=run,
            n=n,
            n_original=task.n_original,
            valid_rate=self.estimate(mi, task, stratum, "clinhallu_valid_rate", f"{run}:valid_rate", notes),
            acc_rule=self.estimate(mi, task, stratum, "clinhallu_acc_rule", f"{run}:acc_rule", notes),
            acc=self.estimate(mi, task, stratum, "clinhallu_acc", f"{run}:acc", notes),
            step=step,
            judge_counts=task.judgment_counts(),
            has_samples=task.has_samples,
            has_judgments=bool(task.judgments),
        )

    def source_result(self, mi: int, source: str, runs: dict[str, RunSummary]) -> SourceResult:
        """Headline numbers and intervention deltas of one source from its runs."""
        stratum = f"clinhallu:{source}"
        metrics: dict[str, Estimate] = {}
        for key, (run, metric) in HEADLINE.items():
            summary = runs.get(run)
            est = None
            if summary is not None:
                est = summary.acc if key == "acc" else summary.step
            metrics[key] = est if est is not None else Estimate(None)
            run_key = f"{run}:acc" if key == "acc" else f"{run}:{metric}"
            self.reps[(mi, stratum, key)] = self.reps.get((mi, stratum, run_key))
            if (mi, stratum, run_key) in self.items:
                self.items[(mi, stratum, key)] = self.items[(mi, stratum, run_key)]
        base = runs.get("baseline")
        for key, run in DELTAS.items():
            other = runs.get(run)
            if base is None or other is None or base.acc.value is None or other.acc.value is None:
                metrics[key] = Estimate(None)
                self.reps[(mi, stratum, key)] = None
                continue
            reps = difference(self.reps.get((mi, stratum, f"{run}:acc")), self.reps.get((mi, stratum, "baseline:acc")))
            self.reps[(mi, stratum, key)] = reps
            a = self.items.get((mi, stratum, f"{run}:acc"))
            b = self.items.get((mi, stratum, "baseline:acc"))
            if a is not None and b is not None:
                self.items[(mi, stratum, key)] = a | b
            metrics[key] = Estimate(other.acc.value - base.acc.value, self.boot.interval(reps), None)
        metrics["valid_rate"] = base.valid_rate if base is not None else Estimate(None)
        self.reps[(mi, stratum, "valid_rate")] = self.reps.get((mi, stratum, "baseline:valid_rate"))
        return SourceResult(source, dict(sorted(runs.items(), key=lambda kv: ALL_RUNS.index(kv[0]))), metrics)

    def average(self, mi: int, sources: dict[str, SourceResult], notes: list[str]) -> AverageResult | None:
        """The four-source macro average (partial only when allowed), with stratified intervals."""
        present = [s for s in FOUR_SOURCES if s in sources]
        if not present:
            return None
        values = {s: {k: sources[s].metrics[k].value for k in CLINHALLU_KEYS} for s in present}
        averaged = clinhallu_average(values, allow_partial=self.allow_partial)
        metrics: dict[str, Estimate] = {}
        used_by_key: dict[str, list[str]] = {}
        for key, (value, used) in averaged.items():
            used_by_key[key] = used
            if value is None:
                metrics[key] = Estimate(None)
                self.reps[(mi, "clinhallu:average", key)] = None
                continue
            reps = combine_mean([self.reps.get((mi, f"clinhallu:{s}", key)) for s in used])
            self.reps[(mi, "clinhallu:average", key)] = reps
            n_parts = [sources[s].metrics[key].n for s in used]
            n = sum(n_parts) if all(x is not None for x in n_parts) else None  # type: ignore[misc]
            metrics[key] = Estimate(value, self.boot.interval(reps), n)
        if any(metrics[k].value is None for k in ("acc", "h_v", "h_k", "h_r")):
            missing = [
                SOURCE_LABELS[s]
                for s in FOUR_SOURCES
                if s not in sources or any(sources[s].metrics[k].value is None for k in ("acc", "h_v", "h_k", "h_r"))
            ]
            if missing and not self.allow_partial:
                notes.append(
                    "ClinHallu average not computed for numbers missing in "
                    + ", ".join(missing)
                    + " (pass --allow-partial-average to average the sources present)"
                )
        return AverageResult(metrics, used_by_key)

    def medhalltune(self, mi: int, task: TaskData, kind: MedHallTuneTask, notes: list[str]) -> MedSplitResult:
        """The MedHallTune numbers of one split."""
        stratum = _stratum(kind)
        metrics = {key: self.estimate(mi, task, stratum, f"medhalltune_{key}", key, notes) for key in MEDHALLTUNE_KEYS}
        n = task.n_effective if task.n_effective is not None else (len(task.samples) if task.samples else None)
        return MedSplitResult(
            task=task.task,
            subset=kind.subset,
            split=kind.split,
            n=n,
            n_original=task.n_original,
            metrics=metrics,
            judge_counts=task.judgment_counts(),
            has_samples=task.has_samples,
        )

    def model(self, mi: int, data: ModelData) -> ModelReport:
        """Everything for one model, with notes on what is missing or partial."""
        notes = list(data.warnings)
        runs: dict[str, dict[str, RunSummary]] = {}
        med: dict[str, dict[str, MedSplitResult]] = {}
        for name in sorted(data.tasks):
            task = data.tasks[name]
            kind = parse_task_name(name)
            if isinstance(kind, ClinHalluTask):
                runs.setdefault(kind.source, {})[kind.run] = self.run_summary(mi, task, kind, notes)
            elif isinstance(kind, MedHallTuneTask):
                med.setdefault(kind.subset, {})[kind.split] = self.medhalltune(mi, task, kind, notes)
        order = [s for s in FOUR_SOURCES if s in runs] + sorted(s for s in runs if s not in FOUR_SOURCES)
        sources = {s: self.source_result(mi, s, runs[s]) for s in order}
        for result in sources.values():
            if result.missing_runs:
                notes.append(f"ClinHallu {result.label}: no {', '.join(result.missing_runs)} run; shown as missing")
            if result.partial:
                notes.append(f"ClinHallu {result.label}: evaluated on a subset of the items (--limit); partial")
        if runs and not all(s in runs for s in FOUR_SOURCES):
            absent = [SOURCE_LABELS[s] for s in FOUR_SOURCES if s not in runs]
            if len(absent) < len(FOUR_SOURCES):
                notes.append(f"ClinHallu: no runs for {', '.join(absent)}; shown as missing")
        average = self.average(mi, sources, notes) if any(s in FOUR_SOURCES for s in runs) else None
        for subset, splits in med.items():
            for split in ("P", "N"):
                if split not in splits:
                    notes.append(f"MedHallTune{' ' + subset if subset else ''}: no {split} split; shown as missing")
            for r in splits.values():
                if r.partial:
                    notes.append(f"{r.task}: evaluated on a subset of the items (--limit); partial")
        notes.extend(_no_item_notes(self.no_items.get(mi, {}), data))
        return ModelReport(data.name, data, sources, average, med, notes)

    def differences(self, reports: Sequence[ModelReport]) -> list[Difference]:
        """Every pair of models on every number both have, with paired intervals."""
        out: list[Difference] = []
        for (ia, a), (ib, b) in itertools.combinations(enumerate(reports), 2):
            for label, stratum, ea, eb, keys in _comparable(a, b):
                for key in keys:
                    va, vb = ea.get(key), eb.get(key)
                    if va is None or vb is None or va.value is None or vb.value is None:
                        continue
                    reps = difference(self.reps.get((ia, stratum, key)), self.reps.get((ib, stratum, key)))
                    out.append(
                        Difference(
                            a=a.name,
                            b=b.name,
                            benchmark="clinhallu" if stratum.startswith("clinhallu") else "medhalltune",
                            scope=label,
                            metric=key,
                            value=va.value - vb.value,
                            ci=self.boot.interval(reps),
                            pairing=self._pairing(ia, ib, stratum, key, a),
                        )
                    )
        return out

    def _pairing(self, ia: int, ib: int, stratum: str, key: str, a: ModelReport) -> str:
        if stratum == "clinhallu:average":
            kinds = {
                self._pairing(ia, ib, f"clinhallu:{s}", key, a)
                for s in (a.average.sources_used.get(key, []) if a.average else [])
            }
            return kinds.pop() if len(kinds) == 1 else ("overlapping items" if kinds else "no per-item data")
        sa, sb = self.items.get((ia, stratum, key)), self.items.get((ib, stratum, key))
        if sa is None or sb is None:
            return "no per-item data"
        if sa == sb:
            return "same items"
        return "overlapping items" if sa & sb else "disjoint items"


def _no_item_notes(missing: Mapping[str, list[str]], data: ModelData) -> list[str]:
    """One note per set of metrics that lack per-item data, naming the tasks and the likely cause."""
    by_metrics: dict[tuple[str, ...], list[str]] = {}
    for task, metrics in sorted(missing.items()):
        by_metrics.setdefault(tuple(dict.fromkeys(metrics)), []).append(task)
    notes = []
    for metrics, tasks in by_metrics.items():
        causes = []
        if any(not data.tasks[t].has_samples for t in tasks):
            causes.append("no sample log (run lmms-eval with --log_samples)")
        if any(not data.tasks[t].judgments for t in tasks) and any(
            m in JUDGED_METRICS or m.startswith("medhalltune_") for m in metrics
        ):
            causes.append("no judgments file")
        where = ", ".join(tasks) if len(tasks) <= 4 else f"{len(tasks)} tasks ({tasks[0]}, ..., {tasks[-1]})"
        notes.append(
            f"no per-item data for {', '.join(metrics)} in {where}"
            + (f" ({'; '.join(causes)})" if causes else "")
            + ": these numbers have no interval"
        )
    return notes


def _metrics_for(kind: ClinHalluTask | MedHallTuneTask) -> tuple[str, ...]:
    if isinstance(kind, ClinHalluTask):
        step = STEP_METRIC.get(kind.run)
        return ("clinhallu_valid_rate", "clinhallu_acc_rule", "clinhallu_acc") + ((step,) if step else ())
    return tuple(f"medhalltune_{k}" for k in MEDHALLTUNE_KEYS)


def _comparable(
    a: ModelReport, b: ModelReport
) -> list[tuple[str, str, Mapping[str, Estimate], Mapping[str, Estimate], tuple[str, ...]]]:
    rows: list[tuple[str, str, Mapping[str, Estimate], Mapping[str, Estimate], tuple[str, ...]]] = []
    keys = ("acc", "h_v", "h_k", "h_r", "delta_v", "delta_vk", "delta_k")
    for s in [*FOUR_SOURCES, *sorted({*a.sources, *b.sources} - set(FOUR_SOURCES))]:
        if s in a.sources and s in b.sources:
            rows.append((SOURCE_LABELS.get(s, s), f"clinhallu:{s}", a.sources[s].metrics, b.sources[s].metrics, keys))
    if a.average is not None and b.average is not None:
        rows.append(("Average", "clinhallu:average", a.average.metrics, b.average.metrics, keys))
    for subset in sorted(set(a.medhalltune) & set(b.medhalltune)):
        for split in ("P", "N"):
            ra, rb = a.medhalltune[subset].get(split), b.medhalltune[subset].get(split)
            if ra is not None and rb is not None:
                label = f"{subset} {split}" if subset else split
                stratum = f"medhalltune:{subset or 'full'}:{split}"
                rows.append((label, stratum, ra.metrics, rb.metrics, MEDHALLTUNE_KEYS))
    return rows


def build_report(
    models: Sequence[ModelData],
    iters: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    allow_partial_average: bool = False,
) -> Report:
    """Compute every table's numbers, intervals and pairwise differences for `models`."""
    boot = Bootstrap(iters=iters, seed=seed, level=level)
    builder = _Builder(models, boot, allow_partial_average)
    builder.register()
    reports = [builder.model(i, m) for i, m in enumerate(models)]
    return Report(reports, builder.differences(reports), boot, allow_partial_average)
