"""Two judged runs over the same model outputs, read from their record files and paired by item.

Run A and run B are folders of record files (records.py). A task is compared when both hold it;
an item when both evaluated it and the model's response is the same text in both, which is what
makes the two judges' verdicts comparable. Anything else is refused with the first item that
differs, because agreement between judges who read different answers measures nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from clinhallu_tasks.errors import ClinHalluTasksError
from clinhallu_tasks.records import Benchmark, Judgment, RecordError, TaskFiles, TaskRecords, find_tasks
from clinhallu_tasks.spec import clinhallu as clinhallu_spec
from clinhallu_tasks.spec import medhalltune as medhalltune_spec
from clinhallu_tasks.spec.common import Metric

# The ClinHallu metrics a judge decides, by record metric name: answer accuracy and the three stages.
BINARY_METRICS: Mapping[str, Metric] = {
    metric.name: metric
    for metric in (clinhallu_spec.ACC, *clinhallu_spec.STAGE_METRICS.values())
}
SCORE_KEYS: tuple[str, ...] = tuple(dimension.key for dimension in medhalltune_spec.DIMENSIONS)


class AgreementError(ClinHalluTasksError):
    """Two runs that cannot be compared, or a record that cannot be read; says which and where."""


@dataclass(frozen=True)
class VerdictPair:
    """One item's verdicts on one metric in run A and run B (both runs wrote a judgment line)."""

    item_id: str
    a: Judgment
    b: Judgment


@dataclass(frozen=True)
class MetricPairs:
    """All verdicts of one metric of one task, sorted into what can be compared and what cannot."""

    task: str
    benchmark: Benchmark
    metric: str  # record metric name: "clinhallu_acc", "clinhallu_h_v", ..., "medhalltune_judge"
    label: str  # "Acc", "H^V", ..., "Judge"
    items: int  # items both runs evaluated
    judged: tuple[VerdictPair, ...]  # both judges gave a verdict: the items agreement is computed on
    settled: tuple[VerdictPair, ...]  # decided without a call in A or B: shown apart, never counted
    failed_a: int  # A asked and got no usable verdict (excluded)
    failed_b: int
    missing_a: int  # A wrote no judgment line for the item (no judge configured, interrupted run)
    missing_b: int


@dataclass(frozen=True)
class TaskPair:
    """One task present in both runs: its record files and the items both evaluated."""

    task: str
    benchmark: Benchmark
    a: TaskRecords
    b: TaskRecords
    common: tuple[str, ...]  # item ids in both, in run A's order
    only_a: int
    only_b: int

    @property
    def judge_a(self) -> str | None:
        return self.a.summary.judge.model

    @property
    def judge_b(self) -> str | None:
        return self.b.summary.judge.model

    def metrics(self) -> list[MetricPairs]:
        """Every judge metric that either run wrote verdicts for, in the benchmark's order."""
        names = {j.metric for j in (*self.a.judgments, *self.b.judgments)}
        if self.benchmark == "clinhallu":
            unknown = sorted(names - set(BINARY_METRICS))
            ordered = [name for name in BINARY_METRICS if name in names]
        else:
            unknown = sorted(names - {medhalltune_spec.JUDGE_METRIC})
            ordered = [medhalltune_spec.JUDGE_METRIC] if names else []
        if unknown:
            in_a = any(j.metric in unknown for j in self.a.judgments)
            path = self.a.files.judgments if in_a else self.b.files.judgments
            raise AgreementError(f"{path}: metric {unknown[0]!r} is not a judge metric of {self.benchmark}")
        return [self._pairs(name) for name in ordered]

    def _pairs(self, metric: str) -> MetricPairs:
        by_a = {j.item_id: j for j in self.a.judgments if j.metric == metric}
        by_b = {j.item_id: j for j in self.b.judgments if j.metric == metric}
        judged: list[VerdictPair] = []
        settled: list[VerdictPair] = []
        failed_a = failed_b = missing_a = missing_b = 0
        for item_id in self.common:
            a, b = by_a.get(item_id), by_b.get(item_id)
            for judgment, files in ((a, self.a.files), (b, self.b.files)):
                if judgment is not None and judgment.status == "judged":
                    self._check_verdict(judgment, files)
            missing_a += a is None
            missing_b += b is None
            failed_a += a is not None and a.status == "failed"
            failed_b += b is not None and b.status == "failed"
            if a is None or b is None or "failed" in (a.status, b.status):
                continue  # excluded: counted above
            (settled if "settled" in (a.status, b.status) else judged).append(VerdictPair(item_id, a, b))
        label = BINARY_METRICS[metric].label if metric in BINARY_METRICS else "Judge"
        return MetricPairs(self.task, self.benchmark, metric, label, len(self.common), tuple(judged), tuple(settled),
                           failed_a, failed_b, missing_a, missing_b)

    def _check_verdict(self, judgment: Judgment, files: TaskFiles) -> None:
        # A judged line must carry what the metric counts; anything else is a broken record.
        where = f"{files.judgments}, item {judgment.item_id!r}, metric {judgment.metric!r}"
        if self.benchmark == "clinhallu":
            if judgment.value not in (0, 1):
                raise AgreementError(f"{where}, field 'value': a judged verdict must be 0 or 1, got {judgment.value!r}")
            return
        scores = judgment.scores or {}
        for key in SCORE_KEYS:
            score = scores.get(key)
            if not isinstance(score, (int, float)) or isinstance(score, bool) or not math.isfinite(score):
                raise AgreementError(f"{where}, field 'scores.{key}': a judged verdict needs a score, got {score!r}")


def _read_run(folder: Path) -> dict[str, TaskRecords]:
    if not folder.is_dir():
        raise AgreementError(f"{folder}: not a folder")
    tasks: dict[str, TaskRecords] = {}
    for files in find_tasks(folder):
        if files.task in tasks:
            first = tasks[files.task].files.summary
            raise AgreementError(
                f"{folder}: task {files.task!r} appears twice ({first} and {files.summary}); "
                "point at the folder of one run"
            )
        try:
            tasks[files.task] = TaskRecords.read(files)
        except RecordError as error:
            raise AgreementError(str(error)) from None
    if not tasks:
        raise AgreementError(f"{folder}: no run records (*.summary.json) under this folder")
    return tasks


def _first_difference(a: str, b: str) -> int:
    for index, (x, y) in enumerate(zip(a, b, strict=False)):  # stops at the shorter text
        if x != y:
            return index
    return min(len(a), len(b))


def _excerpt(text: str, at: int, width: int = 40) -> str:
    start = max(0, at - width // 2)
    return repr(text[start : start + width])


def _pair_task(a: TaskRecords, b: TaskRecords) -> TaskPair:
    task = a.summary.task
    if a.summary.benchmark != b.summary.benchmark:
        raise AgreementError(f"{task}: benchmark {a.summary.benchmark} in {a.files.summary}, "
                             f"{b.summary.benchmark} in {b.files.summary}")
    responses_b = {sample.item_id: sample.response for sample in b.samples}
    common: list[str] = []
    for sample in a.samples:
        if sample.item_id not in responses_b:
            continue
        other = responses_b[sample.item_id]
        if sample.response != other:
            at = _first_difference(sample.response, other)
            raise AgreementError(
                f"the two runs are not over the same model outputs: task {task}, item {sample.item_id!r} "
                f"has another response in {b.files.samples} than in {a.files.samples} "
                f"(first difference at character {at}: A {_excerpt(sample.response, at)}, "
                f"B {_excerpt(other, at)}). Judge agreement needs one set of responses judged twice."
            )
        common.append(sample.item_id)
    return TaskPair(task, a.summary.benchmark, a, b, tuple(common),
                    only_a=len(a.samples) - len(common), only_b=len(b.samples) - len(common))


@dataclass(frozen=True)
class RunPair:
    """The tasks of two runs, paired; tasks held by one run only are named, not compared."""

    folder_a: Path
    folder_b: Path
    tasks: tuple[TaskPair, ...]
    only_a: tuple[str, ...]
    only_b: tuple[str, ...]


def pair_runs(folder_a: Path, folder_b: Path) -> RunPair:
    """Read both runs and pair them by task and item; AgreementError when they cannot be compared."""
    run_a, run_b = _read_run(folder_a), _read_run(folder_b)
    names = sorted(set(run_a) & set(run_b))
    if not names:
        raise AgreementError(
            f"the two runs share no task: {folder_a} holds {', '.join(sorted(run_a))}; "
            f"{folder_b} holds {', '.join(sorted(run_b))}"
        )
    tasks = tuple(_pair_task(run_a[name], run_b[name]) for name in names)
    if not any(pair.common for pair in tasks):
        raise AgreementError(
            f"the two runs share tasks ({', '.join(names)}) but no item: "
            "they evaluated different items and cannot be compared"
        )
    return RunPair(folder_a, folder_b, tasks,
                   only_a=tuple(sorted(set(run_a) - set(run_b))), only_b=tuple(sorted(set(run_b) - set(run_a))))


def binary_values(pairs: Sequence[VerdictPair]) -> tuple[list[int], list[int]]:
    """Run A's and run B's 0/1 verdicts, item by item."""
    return [p.a.value for p in pairs], [p.b.value for p in pairs]  # type: ignore[misc]  # checked 0/1


def score_values(pairs: Sequence[VerdictPair], key: str) -> tuple[list[float], list[float]]:
    """Run A's and run B's 1-10 scores on one dimension, item by item."""
    return [p.a.scores[key] for p in pairs], [p.b.scores[key] for p in pairs]  # type: ignore[index]  # checked


__all__ = [
    "BINARY_METRICS",
    "SCORE_KEYS",
    "AgreementError",
    "MetricPairs",
    "RunPair",
    "TaskPair",
    "VerdictPair",
    "binary_values",
    "pair_runs",
    "score_values",
]
