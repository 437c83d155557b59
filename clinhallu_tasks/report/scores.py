"""Every number of the report, from the records: one definition of each row, average, n and status.

Point values are the ones the run wrote in its TaskSummary; intervals come from the per-item
records (samples, judgments) resampled by `bootstrap`. Tables, charts and submission.json all
read the `Row`s built here and compute nothing themselves.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from clinhallu_tasks.clinhallu.items import Source
from clinhallu_tasks.records import Cost, RecordError, TaskRecords, TaskSummary
from clinhallu_tasks.report.bootstrap import Bootstrap, Interval, combine_mean, difference
from clinhallu_tasks.report.inputs import ModelRecords
from clinhallu_tasks.spec import clinhallu as ch
from clinhallu_tasks.spec import medhalltune as mh
from clinhallu_tasks.spec.common import Metric

# complete: every released item of every required run; partial: fewer items, runs or sources;
# sample: the embedded sample (never averaged, not comparable); missing: not run.
Status = Literal["complete", "partial", "sample", "missing"]
# judged: a judge was configured and answered; failed: configured, but judge metrics are None
# (JudgeInfo.failure); not configured: no judge, so no judge metric.
JudgeState = Literal["judged", "failed", "not configured"]

# The ClinHallu numbers of a source row: headline metric key -> the metric, read from spec.HEADLINE's run.
HEADLINE_METRICS: Mapping[str, Metric] = {m.key: m for m in (ch.ACC, ch.H_V, ch.H_K, ch.H_R)}
CLINHALLU_KEYS: tuple[str, ...] = (*HEADLINE_METRICS, *(d.key for d in ch.DELTAS), ch.VALID_RATE.key)
MEDHALLTUNE_KEYS: tuple[str, ...] = tuple(m.key for m in mh.METRICS)
# The sample field holding each rule or text metric's per-item value.
SAMPLE_FIELDS: Mapping[str, str] = {
    ch.VALID_RATE.name: "valid", ch.ACC_RULE.name: "rule_correct", ch.TOKEN_F1.name: "token_f1",
    mh.BERTSCORE.name: "bertscore", mh.METEOR.name: "meteor", mh.ROUGE_L.name: "rouge_l",
}
AGREEMENT = 1e-6  # relative gap between a summary value and the mean of its items worth a note


@dataclass(frozen=True)
class Estimate:
    """One number, its interval, and why it is None when it is."""

    value: float | None
    ci: Interval | None = None
    missing: str | None = None  # "not run", "no judge", "judge failed", or the run's metric note
    reps: np.ndarray | None = field(default=None, repr=False, compare=False)
    items: frozenset[tuple[str, str]] = frozenset()  # (stratum, item id) behind the number: for pairing


NOT_RUN = Estimate(None, missing="not run")


@dataclass(frozen=True)
class Row:
    """One line of a leaderboard: a ClinHallu source, the average, or a MedHallTune split."""

    key: str  # submission key: "vqa-rad", "average", "sample", "P", "N"
    label: str
    values: Mapping[str, Estimate]
    n: int | None  # items behind the row (ClinHallu: the baseline run's)
    status: Status
    judge: JudgeState | None  # None: not run
    tasks: Mapping[str, TaskRecords]  # run or split -> records (none for the average: see its sources)
    sources_used: tuple[str, ...] = ()  # the average: submission keys of the contributing sources

    def get(self, key: str) -> Estimate:
        return self.values.get(key, NOT_RUN)


@dataclass(frozen=True)
class Validity:
    """One task: validity after the first attempt and after resampling (issue 10), and its verdicts."""

    task: str
    items: int
    items_released: int | None
    valid_first_attempt: float | None  # percent of items; None for MedHallTune (nothing to validate)
    valid: float | None
    resampled: int  # items generated more than once
    max_attempts: int
    judged: int  # verdicts by a judge call
    settled: int  # decided without one (an invalid trace, an empty step)
    failed: int
    cached: int


def validity(records: TaskRecords) -> Validity:
    s = records.summary

    def percent(key: str) -> float | None:
        if s.benchmark != "clinhallu":
            return None
        if key not in s.counts:
            raise RecordError(records.files.summary, None, f"counts.{key}", "missing")
        return 100.0 * s.counts[key] / s.items if s.items else None

    attempts = [sample.generation.attempts for sample in records.samples]
    statuses = [j.status for j in records.judgments]
    return Validity(s.task, s.items, s.items_released, percent("valid_first_attempt"), percent("valid"),
                    sum(a > 1 for a in attempts), max(attempts, default=0), statuses.count("judged"),
                    statuses.count("settled"), statuses.count("failed"), sum(j.from_cache for j in records.judgments))


@dataclass
class ModelReport:
    """Everything the report says about one model."""

    name: str
    records: ModelRecords
    sources: list[Row]  # the four sources, in leaderboard order (missing ones too)
    average: Row | None  # None: not every source ran and a partial average was not asked for
    others: list[Row]  # the sample source
    medhalltune: dict[bool, list[Row]]  # sample? -> P and N rows (missing ones too)
    validity: list[Validity]  # every task, by name
    notes: list[str]

    @property
    def clinhallu_rows(self) -> list[Row]:
        """The average, the four sources (those not run too, once any ran), the sample."""
        sources = self.sources if any(r.status != "missing" for r in self.sources) else []
        return ([self.average] if self.average else []) + sources + self.others

    @property
    def summaries(self) -> list[TaskSummary]:
        return [r.summary for _, r in sorted(self.records.tasks.items())]


@dataclass(frozen=True)
class Difference:
    """Model a minus model b on one number, paired by item where they share items."""

    a: str
    b: str
    scope: str
    metric: str
    value: float
    ci: Interval | None
    pairing: str  # "same items", "overlapping items", "disjoint items", "no per-item data"


@dataclass
class Report:
    models: list[ModelReport]
    differences: list[Difference]
    bootstrap: Bootstrap
    allow_partial_average: bool


# --------------------------------------------------------------------------- one definition each


def row_status(summaries: Sequence[TaskSummary], *, sample: bool, all_parts: bool) -> Status:
    """The status of any row: its tasks' summaries, whether it is the sample, whether no part is absent."""
    if not summaries:
        return "missing"
    if sample:
        return "sample"
    return "complete" if all_parts and all(s.complete for s in summaries) else "partial"


def judge_state(summaries: Iterable[TaskSummary]) -> JudgeState | None:
    """Failed over not configured over judged: a row is as good as its worst task."""
    infos = [s.judge for s in summaries]
    if not infos:
        return None
    if any(j.failure for j in infos):
        return "failed"
    return "judged" if all(j.configured for j in infos) else "not configured"


def mean_of(parts: Sequence[Estimate], boot: Bootstrap) -> Estimate:
    """The unweighted mean of estimates (the average's rule); None, with the first reason, if any part is."""
    for part in parts:
        if part.value is None:
            return Estimate(None, missing=part.missing)
    reps = combine_mean([p.reps for p in parts])
    value = sum(p.value for p in parts) / len(parts)  # type: ignore[misc]
    return Estimate(value, boot.interval(reps), None, reps, frozenset().union(*(p.items for p in parts)))


def minus(a: Estimate, b: Estimate, boot: Bootstrap) -> Estimate:
    """a − b, paired by item (the same draws)."""
    if a.value is None or b.value is None:
        return Estimate(None, missing=a.missing or b.missing)
    reps = difference(a.reps, b.reps)
    return Estimate(a.value - b.value, boot.interval(reps), None, reps, a.items | b.items)


def average(sources: Sequence[Row], boot: Bootstrap, allow_partial: bool) -> Row | None:
    """The leaderboard's Avg over spec.AVERAGE_SOURCES: its values, n, status, from the sources with a baseline."""
    used = [row for row in sources if "baseline" in row.tasks]
    if not used or (len(used) < len(ch.AVERAGE_SOURCES) and not allow_partial):
        return None
    summaries = [t.summary for row in used for t in row.tasks.values()]
    all_parts = len(used) == len(ch.AVERAGE_SOURCES) and all(r.status == "complete" for r in used)
    return Row(
        "average",
        f"Average (macro over {len(ch.AVERAGE_SOURCES)} sources)" if len(used) == len(ch.AVERAGE_SOURCES)
        else f"Average ({len(used)} of {len(ch.AVERAGE_SOURCES)} sources)",
        {key: mean_of([row.get(key) for row in used], boot) for key in CLINHALLU_KEYS},
        sum(row.tasks["baseline"].summary.items for row in used),
        row_status(summaries, sample=False, all_parts=all_parts),
        judge_state(summaries),
        {},  # its tasks are the sources'
        tuple(row.key for row in used),
    )


# --------------------------------------------------------------------------- per item


def stratum(summary: TaskSummary) -> str:
    """Items are resampled within one ClinHallu source or one MedHallTune task."""
    return f"clinhallu:{summary.source}" if summary.benchmark == "clinhallu" else f"medhalltune:{summary.task}"


def item_values(records: TaskRecords, metric: Metric) -> dict[str, float | None]:
    """The metric's value for each item, on the metric's scale (None: left out of the metric)."""
    scale = 100.0 if metric.scale == "percent" else 1.0
    if metric.kind == "judge" and records.summary.benchmark == "medhalltune":
        return {
            j.item_id: float(j.scores[metric.key]) if j.scores and j.status != "failed" else None
            for j in records.judgments if j.metric == mh.JUDGE_METRIC
        }
    if metric.kind == "judge":
        return {j.item_id: None if j.value is None else scale * j.value
                for j in records.judgments if j.metric == metric.name}
    values = (getattr(s, SAMPLE_FIELDS[metric.name]) for s in records.samples)
    return {s.item_id: None if v is None else scale * float(v) for s, v in zip(records.samples, values, strict=True)}


def why_missing(summary: TaskSummary, metric: Metric) -> str:
    if metric.kind == "judge" and summary.judge.failure:
        return "judge failed"
    if metric.kind == "judge" and not summary.judge.configured:
        return "no judge"
    return summary.metric_notes.get(metric.name, "not computed")


class _Builder:
    def __init__(self, models: Sequence[ModelRecords], boot: Bootstrap, allow_partial: bool) -> None:
        self.boot, self.allow_partial = boot, allow_partial
        for model in models:  # one universe per stratum before any draw: models pair by item
            for records in model.tasks.values():
                boot.add_items(stratum(records.summary), (s.item_id for s in records.samples))

    def estimate(self, records: TaskRecords | None, metric: Metric, notes: list[str]) -> Estimate:
        if records is None:
            return NOT_RUN
        summary = records.summary
        if metric.name not in summary.metrics:
            raise RecordError(records.files.summary, None, f"metrics.{metric.name}", "missing")
        value = summary.metrics[metric.name]
        per_item = item_values(records, metric)
        counted = [v for v in per_item.values() if v is not None]
        if value is not None and counted:
            mean = sum(counted) / len(counted)
            if abs(mean - value) > AGREEMENT * max(1.0, abs(value)):
                notes.append(f"{summary.task}: {metric.name} is {value:.4f} in the summary but {mean:.4f} over "
                             "its items; the interval comes from the items")
        if value is None:
            return Estimate(None, missing=why_missing(summary, metric))
        name = stratum(summary)
        reps = self.boot.replicates(name, per_item)
        return Estimate(value, self.boot.interval(reps), None, reps, frozenset((name, i) for i in per_item))

    def source(self, source: Source, tasks: dict[str, TaskRecords], notes: list[str]) -> Row:
        est = {key: self.estimate(tasks.get(ch.HEADLINE[key]), metric, notes)
               for key, metric in HEADLINE_METRICS.items()}
        for delta in ch.DELTAS:
            est[delta.key] = minus(self.estimate(tasks.get(delta.run), ch.ACC, notes), est["acc"], self.boot)
        est[ch.VALID_RATE.key] = self.estimate(tasks.get("baseline"), ch.VALID_RATE, notes)
        summaries = [t.summary for t in tasks.values()]
        absent = [run.name for run in ch.INDEPENDENT_RUNS if run.name not in tasks]
        if tasks and absent:
            notes.append(f"ClinHallu {source.label}: no {', '.join(absent)} run; its numbers are missing")
        base = tasks.get("baseline")
        return Row(source.submission_key, source.label, est, base.summary.items if base else None,
                   row_status(summaries, sample=source not in ch.AVERAGE_SOURCES, all_parts=not absent),
                   judge_state(summaries), tasks)

    def split(self, task: mh.SplitTask, records: TaskRecords | None, notes: list[str]) -> Row:
        summaries = [records.summary] if records else []
        values = {m.key: self.estimate(records, m, notes) for m in mh.METRICS}
        return Row(task.split, task.split, values, records.summary.items if records else None,
                   row_status(summaries, sample=task.sample, all_parts=True), judge_state(summaries),
                   {task.split: records} if records else {})

    def model(self, data: ModelRecords) -> ModelReport:
        notes: list[str] = []
        by_source: dict[str, dict[str, TaskRecords]] = {}
        splits: dict[str, TaskRecords] = {}
        for name, records in sorted(data.tasks.items()):
            parsed = ch.parse_task_name(name)
            if parsed is not None:
                by_source.setdefault(parsed[0].name, {})[parsed[1].name] = records
            elif mh.parse_task_name(name) is not None:
                splits[name] = records
            else:
                raise RecordError(records.files.summary, None, "task", f"{name!r} is no ClinHallu or MedHallTune task")
        sources = [self.source(s, by_source.get(s.name, {}), notes) for s in ch.AVERAGE_SOURCES]
        others = [self.source(s, by_source[s.name], notes)
                  for s in ch.ALL_SOURCES if s not in ch.AVERAGE_SOURCES and s.name in by_source]
        avg = average(sources, self.boot, self.allow_partial)
        ran = [r.label for r in sources if r.status != "missing"]
        if ran and avg is None:
            notes.append(f"ClinHallu average not computed: only {', '.join(ran)} ran "
                         "(pass --allow-partial-average to average the sources present, marked partial)")
        medhalltune: dict[bool, list[Row]] = {}
        for sample in (False, True):
            tasks = [t for t in mh.TASKS if t.sample == sample]
            if any(t.name in splits for t in tasks):
                medhalltune[sample] = [self.split(t, splits.get(t.name), notes) for t in tasks]
        by_note: dict[str, list[str]] = {}  # the run's reason for each None metric, said once
        for name, records in sorted(data.tasks.items()):
            for metric, note in records.summary.metric_notes.items():
                by_note.setdefault(note, []).append(f"{name} {metric}")
        notes += [f"{note} ({', '.join(where)})" for note, where in by_note.items()]
        checks = [validity(t) for _, t in sorted(data.tasks.items())]
        return ModelReport(data.name, data, sources, avg, others, medhalltune, checks, notes)


def _scopes(m: ModelReport) -> dict[tuple[str, str], tuple[Row, tuple[str, ...]]]:
    headline = (*HEADLINE_METRICS, *(d.key for d in ch.DELTAS))
    scopes = {("clinhallu", r.label): (r, headline) for r in m.clinhallu_rows if r.status != "missing"}
    for sample, rows in m.medhalltune.items():
        for r in rows:
            scopes[("medhalltune", f"{'sample ' if sample else ''}{r.label}")] = (r, MEDHALLTUNE_KEYS)
    return scopes


def differences(models: Sequence[ModelReport], boot: Bootstrap) -> list[Difference]:
    """Every pair of models on every number both have."""
    out = []
    for a, b in itertools.combinations(models, 2):
        sa, sb = _scopes(a), _scopes(b)
        for scope in [s for s in sa if s in sb]:
            (ra, keys), (rb, _) = sa[scope], sb[scope]
            if ra.sources_used != rb.sources_used:  # averages over different sources do not compare
                continue
            for key in keys:
                d = minus(ra.get(key), rb.get(key), boot)
                if d.value is None:
                    continue
                ia, ib = ra.get(key).items, rb.get(key).items
                pairing = ("no per-item data" if not ia or not ib else "same items" if ia == ib
                           else "overlapping items" if ia & ib else "disjoint items")
                out.append(Difference(a.name, b.name, scope[1], key, d.value, d.ci, pairing))
    return out


def total_cost(costs: Iterable[Cost]) -> Cost:
    """Field by field sum; an optional field is None when any part lacks it (a partial sum would mislead)."""
    costs = list(costs)
    totals: dict[str, float | int | None] = {}
    for name in (f.name for f in dataclasses.fields(Cost)):
        values = [getattr(c, name) for c in costs]
        totals[name] = None if any(v is None for v in values) else sum(values)
    return Cost(**totals)  # type: ignore[arg-type]


def build_report(
    models: Sequence[ModelRecords], iters: int = 2000, seed: int = 0, level: float = 0.95,
    allow_partial_average: bool = False,
) -> Report:
    boot = Bootstrap(iters=iters, seed=seed, level=level)
    builder = _Builder(models, boot, allow_partial_average)
    reports = [builder.model(m) for m in models]
    return Report(reports, differences(reports, boot), boot, allow_partial_average)
