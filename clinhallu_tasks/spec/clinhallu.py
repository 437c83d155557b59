"""ClinHallu: sources, runs, steps, metrics, deltas and the average rule (PROTOCOL §1)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from clinhallu_tasks.clinhallu.items import (
    RELEASED_ITEMS,
    SAMPLE_SOURCE,
    SOURCES,
    SOURCES_BY_NAME,
    STEPS,
    Run,
    Source,
    Step,
)
from clinhallu_tasks.spec.common import Metric

BENCHMARK = "clinhallu"

STEP_LABELS: Mapping[Step, str] = {
    "visual_recognition": "Visual Recognition",
    "knowledge_recall": "Knowledge Recall",
    "reasoning": "Reasoning",
}

VALID_RATE = Metric(
    "clinhallu_valid_rate", "valid_rate", "Valid", "percent", "rule", True,
    "traces that parse into three steps and an answer",
)
ACC_RULE = Metric(
    "clinhallu_acc_rule", "acc_rule", "Acc (rule)", "percent", "rule", True,
    "answers matching the answer key by rule, over valid traces",
)
TOKEN_F1 = Metric(
    "clinhallu_token_f1", "token_f1", "Token F1", "percent", "rule", True,
    "word overlap with the answer key, free-text questions only (ours, not the benchmark's)",
)
ACC = Metric(
    "clinhallu_acc", "acc", "Acc", "percent", "judge", True,
    "answers the answer judge marks correct, over valid traces with a verdict",
)
H_V = Metric(
    "clinhallu_h_v", "h_v", "H^V", "percent", "judge", False,
    "Visual Recognition steps the step judge marks hallucinated, over all items",
)
H_K = Metric(
    "clinhallu_h_k", "h_k", "H^K", "percent", "judge", False,
    "Knowledge Recall steps written after the gold Visual Recognition, marked hallucinated",
)
H_R = Metric(
    "clinhallu_h_r", "h_r", "H^R", "percent", "judge", False,
    "Reasoning steps written after both gold steps, marked hallucinated",
)

STAGE_METRICS: Mapping[Step, Metric] = {
    "visual_recognition": H_V,
    "knowledge_recall": H_K,
    "reasoning": H_R,
}


@dataclass(frozen=True)
class RunSpec:
    """One run of the protocol (PROTOCOL §1.4)."""

    name: Run
    label: str
    given_gold: tuple[Step, ...]  # gold steps handed to the model
    given_own: tuple[Step, ...]  # the model's own baseline steps handed back (replace_kr)
    judged_step: Step | None  # the step whose stage rate this run gives

    @property
    def chained(self) -> bool:
        """Needs the same model's final baseline traces from an earlier run."""
        return bool(self.given_own)

    @property
    def given_steps(self) -> tuple[Step, ...]:
        return tuple(step for step in STEPS if step in self.given_gold or step in self.given_own)

    @property
    def metrics(self) -> tuple[Metric, ...]:
        stage = (STAGE_METRICS[self.judged_step],) if self.judged_step else ()
        return (VALID_RATE, ACC_RULE, TOKEN_F1, ACC, *stage)


RUNS: tuple[RunSpec, ...] = (
    RunSpec("baseline", "Baseline", (), (), "visual_recognition"),
    RunSpec("replace_vr", "Gold VR", ("visual_recognition",), (), "knowledge_recall"),
    RunSpec("replace_kr", "Own VR + gold KR", ("knowledge_recall",), ("visual_recognition",), None),
    RunSpec("replace_vr_kr", "Gold VR + KR", ("visual_recognition", "knowledge_recall"), (), "reasoning"),
)
RUNS_BY_NAME: Mapping[str, RunSpec] = {run.name: run for run in RUNS}
# The runs a plain `--tasks clinhallu` evaluates: replace_kr needs a baseline first.
INDEPENDENT_RUNS: tuple[RunSpec, ...] = tuple(run for run in RUNS if not run.chained)


@dataclass(frozen=True)
class Delta:
    """An intervention-table column: accuracy of a replacement run minus the baseline's."""

    key: str  # submission.json key
    label: str
    run: Run


DELTAS: tuple[Delta, ...] = (
    Delta("delta_v", "ΔV", "replace_vr"),
    Delta("delta_k", "ΔK", "replace_kr"),
    Delta("delta_vk", "ΔVK", "replace_vr_kr"),
)

# Headline metric -> the run it is read from (PROTOCOL §1.6).
HEADLINE: Mapping[str, Run] = {"acc": "baseline", "h_v": "baseline", "h_k": "replace_vr", "h_r": "replace_vr_kr"}

# The leaderboard's "Avg": the unweighted mean of the four real sources, given only when all four
# have a value; its n is the number of items over those sources (baseline run).
AVERAGE_SOURCES: tuple[Source, ...] = SOURCES

ALL_SOURCES: tuple[Source, ...] = (*SOURCES, SAMPLE_SOURCE)


def task_name(source: str, run: Run) -> str:
    return f"clinhallu_{source}_{run}"


def group_name(source: str) -> str:
    return f"clinhallu_{source}"


_TASK = re.compile(
    r"^clinhallu_(?P<source>" + "|".join(s.name for s in ALL_SOURCES) + r")_(?P<run>"
    + "|".join(sorted((r.name for r in RUNS), key=len, reverse=True)) + r")$"
)


def parse_task_name(task: str) -> tuple[Source, RunSpec] | None:
    """(source, run) of one of our task names, None for any other name."""
    match = _TASK.match(task)
    if match is None:
        return None
    return SOURCES_BY_NAME[match["source"]], RUNS_BY_NAME[match["run"]]


__all__ = [
    "ACC",
    "ACC_RULE",
    "ALL_SOURCES",
    "AVERAGE_SOURCES",
    "BENCHMARK",
    "DELTAS",
    "HEADLINE",
    "H_K",
    "H_R",
    "H_V",
    "INDEPENDENT_RUNS",
    "RELEASED_ITEMS",
    "RUNS",
    "RUNS_BY_NAME",
    "STAGE_METRICS",
    "STEP_LABELS",
    "TOKEN_F1",
    "VALID_RATE",
    "Delta",
    "RunSpec",
    "group_name",
    "parse_task_name",
    "task_name",
]
