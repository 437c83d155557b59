"""Which tasks a protocol run evaluates, in which order, and how (PROTOCOL §1.4).

Pure: names in, a plan out. The order makes the chained run possible with one model:
the independent ClinHallu runs first (baseline before the replacement runs), MedHallTune,
then `replace_kr` for every source whose baseline is in the plan, built from the final
baseline traces.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from clinhallu_tasks.errors import ClinHalluTasksError
from clinhallu_tasks.spec import clinhallu as ch
from clinhallu_tasks.spec import medhalltune as mht


class PlanError(ClinHalluTasksError):
    """The tasks asked for cannot make a protocol run (a usage error)."""


@dataclass(frozen=True)
class PlannedTask:
    """One task of the run."""

    name: str
    benchmark: str  # "clinhallu" | "medhalltune"
    source: str | None  # ClinHallu source; MedHallTune split
    run: str | None  # ClinHallu run; None for MedHallTune
    baseline_task: str | None = None  # replace_kr: the baseline whose final traces it continues

    @property
    def traced(self) -> bool:
        """A ClinHallu trace: validated, and resampled when invalid. MedHallTune: one pass."""
        return self.benchmark == ch.BENCHMARK


@dataclass(frozen=True)
class Plan:
    first: tuple[PlannedTask, ...]  # generated with tasks built up front
    chained: tuple[PlannedTask, ...]  # replace_kr: built after their baselines are final

    @property
    def tasks(self) -> tuple[PlannedTask, ...]:
        return (*self.first, *self.chained)


_RUN_ORDER = {run.name: index for index, run in enumerate(ch.RUNS)}


def plan_run(leaf_tasks: Iterable[str], registered: Callable[[str], bool]) -> Plan:
    """The plan for the leaf tasks that `--tasks` expanded to.

    `registered(name)` says whether lmms-eval knows a task name: `replace_kr` is added for each
    source with a baseline only where its task exists. A `replace_kr` asked for on its own
    brings its baseline in (the chained run needs it). Any task not ours is refused.
    """
    clinhallu: dict[str, PlannedTask] = {}
    medhalltune: dict[str, PlannedTask] = {}
    foreign: list[str] = []
    for name in leaf_tasks:
        parsed = ch.parse_task_name(name)
        if parsed is not None:
            source, run = parsed
            clinhallu[name] = PlannedTask(name, ch.BENCHMARK, source.name, run.name)
            continue
        split = mht.parse_task_name(name)
        if split is not None:
            medhalltune[name] = PlannedTask(name, mht.BENCHMARK, split.split, None)
            continue
        foreign.append(name)
    if foreign:
        raise PlanError(
            f"not ClinHallu or MedHallTune tasks: {', '.join(sorted(set(foreign)))}. `clinhallu-tasks run` "
            "runs this package's tasks only; run other tasks with lmms-eval itself."
        )

    # A chained run needs its source's baseline; every baseline gets its chained run.
    for task in list(clinhallu.values()):
        if task.run == "replace_kr":
            baseline = ch.task_name(task.source, "baseline")
            clinhallu.setdefault(baseline, PlannedTask(baseline, ch.BENCHMARK, task.source, "baseline"))
    for task in list(clinhallu.values()):
        if task.run == "baseline":
            chained = ch.task_name(task.source, "replace_kr")
            if chained in clinhallu or registered(chained):
                clinhallu[chained] = PlannedTask(chained, ch.BENCHMARK, task.source, "replace_kr", task.name)

    ordered = sorted(clinhallu.values(), key=lambda t: (_RUN_ORDER[t.run], t.name))
    first = [t for t in ordered if t.run != "replace_kr"] + sorted(medhalltune.values(), key=lambda t: t.name)
    chained = [t for t in ordered if t.run == "replace_kr"]
    if not first and not chained:
        raise PlanError("no tasks to run: --tasks named nothing.")
    return Plan(tuple(first), tuple(chained))


__all__ = ["Plan", "PlanError", "PlannedTask", "plan_run"]
