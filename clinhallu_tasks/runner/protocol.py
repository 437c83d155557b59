"""One protocol run: every check before the model loads, then the passes, the chained run and the judging.

`ProtocolRun.prepare` does everything that can fail on a mistake of the user's (tasks, settings,
data, a folder of another run) before the model is loaded; `execute` then loads the one model
and runs the plan (runner/plan.py):

- each first-plan task: its lmms-eval requests, the passes with resampling (runner/resampling.py,
  every reply saved as it arrives), then its final responses go to the evaluation layer, which
  sends their judge requests at once while the model works on the next task;
- each replace_kr task, once its baseline is finished (records written): built by lmms-eval
  from those records (CLINHALLU_BASELINE_DIR names this run's folder), generated the same way;
- every evaluation finished (verdicts, metrics, records), the generation time and decoding added
  to each summary.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from clinhallu_tasks.errors import ClinHalluTasksError
from clinhallu_tasks.evaluation import EvaluationContext, PreparedTask, TaskEvaluation, prepare
from clinhallu_tasks.records import Generation, TaskFiles, TaskSummary, write_summary
from clinhallu_tasks.runner.generations import GenerationStore, ItemAttempts, Validity
from clinhallu_tasks.runner.lmms_driver import (
    LmmsDriver,
    ModelOptions,
    lmms_eval_version,
    model_folder_name,
    model_name,
    versions,
)
from clinhallu_tasks.runner.manifest import RunIdentity, claim_folder, identity_model_args
from clinhallu_tasks.runner.plan import PlannedTask, plan_run
from clinhallu_tasks.runner.resampling import GenerationError, generate_task, max_attempts, summary_line
from clinhallu_tasks.runner.secrets import mask_model_args
from clinhallu_tasks.settings import BASELINE_DIR
from clinhallu_tasks.spec import clinhallu as ch
from clinhallu_tasks.spec import medhalltune as mht

Say = Callable[[str], None]

# Metrics a judge gives: None for one of them while a judge is configured means the judge failed.
JUDGE_METRICS = frozenset(
    [ch.ACC.name, *(m.name for m in ch.STAGE_METRICS.values()), *(d.metric.name for d in mht.DIMENSIONS)]
)


class UsageError(ClinHalluTasksError):
    """The run cannot start as asked."""


class JudgeFailed(ClinHalluTasksError):
    """The records are written, but a configured judge failed for some tasks."""


class ProtocolRun:
    """One invocation of `clinhallu-tasks run`."""

    def __init__(self, options: ModelOptions, names: Sequence[str], output_path: Path, resample: int,
                 chunk_size: int, say: Say) -> None:
        self.options = options
        self.names = list(names)
        self.output_path = output_path
        self.resample = resample
        self.chunk_size = chunk_size
        self.say = say
        self.folder = output_path / model_folder_name(options.model_args)
        self.masked_args = mask_model_args(options.model_args)
        self.context: EvaluationContext | None = None
        self.prepared: dict[str, PreparedTask] = {}
        self.evaluations: dict[str, TaskEvaluation] = {}
        self.seconds: dict[str, float] = {}  # generation wall time per task, every session together
        self.decoding: dict[str, Any] = {}  # the generation_kwargs each task's requests carried
        self.summaries: dict[str, TaskSummary] = {}
        self._restore_environment: Callable[[], None] | None = None

    # ------------------------------------------------------------ before the model

    def prepare(self) -> None:
        """Tasks, plan, settings, data and the run folder, all checked; no model loaded yet."""
        if not self.names:
            raise UsageError("--tasks names no task")
        self._chain_from_this_folder()
        self.driver = LmmsDriver(self.options)
        unknown = self.driver.unknown(self.names)
        if unknown:
            raise UsageError(
                f"unknown task or group name(s): {', '.join(unknown)} (`lmms-eval --tasks list` lists them)"
            )
        # A replace_kr task reads its baseline when lmms-eval builds it: built later, once that is final.
        self.asked_chained = {n for n in self.names if (p := ch.parse_task_name(n)) is not None and p[1].chained}
        first = [n for n in self.names if n not in self.asked_chained]
        self.task_objects = self.driver.expand(first) if first else {}
        self.plan = plan_run([*self.task_objects, *sorted(self.asked_chained)], self.driver.registered)
        brought_in = [t.name for t in self.plan.first if t.name not in self.task_objects]
        if brought_in:  # the baseline of a replace_kr asked alone
            self.task_objects.update(self.driver.expand(brought_in))

        self.model_name = model_name(self.options)
        self.context = EvaluationContext.from_env(
            output_folder=self.folder, model=self.model_name, framework=f"lmms-eval {lmms_eval_version()}",
            settings={
                "runner": "clinhallu-tasks run",
                "lmms_eval_model": self.options.model,
                "model_args": self.masked_args,
                "gen_kwargs_override": self.options.gen_kwargs,
                "resample": self.resample,
                "max_attempts": max_attempts(self.resample),
                "limit": self.options.limit,
            },
        )
        self.prepared = {task.name: self._prepare(task) for task in self.plan.first}
        identity = RunIdentity(
            model=self.options.model, model_args=identity_model_args(self.masked_args),
            gen_kwargs=self.options.gen_kwargs, resample=self.resample, limit=self.options.limit,
            offset=self.options.offset, system_instruction=self.options.system_instruction,
            apply_chat_template=self.options.apply_chat_template, seed=",".join(map(str, self.options.seed)),
        )
        session = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "tasks_asked": self.names,
                   "model_args": self.masked_args}
        _, resumed = claim_folder(self.folder, identity, [t.name for t in self.plan.tasks], versions(), session)
        self.store = GenerationStore(self.folder)
        self.say(f"{'resuming' if resumed else 'starting'} in {self.folder}: {len(self.plan.tasks)} task(s): "
                 f"{', '.join(t.name for t in self.plan.tasks)}; up to {max_attempts(self.resample)} attempt(s) "
                 "per ClinHallu trace")
        if self.context.settings.judge is None:
            self.say("warning: no judge configured (CLINHALLU_JUDGE_BASE_URL, CLINHALLU_JUDGE_MODEL): only the rule "
                     "metrics will have values; rerun with a judge to fill the rest (generations are reused)")

    def _chain_from_this_folder(self) -> None:
        """Point replace_kr at this run's own baseline records, before anything reads the settings.

        lmms-eval builds a replace_kr task's documents from CLINHALLU_BASELINE_DIR, which our task
        hooks read once per evaluation, when its first task loads: it must name this folder (and
        the folder must exist) from the start.
        """
        previous = os.environ.get(BASELINE_DIR)
        if previous and Path(previous).resolve() != self.folder.resolve():
            self.say(f"note: {BASELINE_DIR}={previous} is not used: replace_kr continues this run's own baseline, "
                     f"in {self.folder}")
        self.folder.mkdir(parents=True, exist_ok=True)
        self._restore_environment = set_environment(BASELINE_DIR, str(self.folder))

    def _prepare(self, task: PlannedTask) -> PreparedTask:
        """The task's items; for replace_kr also this run's final baseline steps, read from its records
        by the evaluation layer (the reading the lmms-eval task's prompts use), the same model's or refused."""
        assert self.context is not None
        baseline = self.folder if task.baseline_task is not None else None
        return prepare(task.name, baseline=baseline, settings=self.context.settings, model=self.model_name)

    # ------------------------------------------------------------ the model's work

    def execute(self) -> None:
        """Generate, resample, chain and evaluate; JudgeFailed at the end when a judge failed."""
        self.say(f"loading --model {self.options.model} ({self.masked_args})")
        self.driver.load_model()
        for task in self.plan.first:
            self._generate(task, self.task_objects[task.name])
        for task in self.plan.chained:
            self._finish(task.baseline_task)  # the FINAL baseline traces, in its records
            # Under --limit the baseline covers the first items, and replace_kr continues exactly those.
            built = self.driver.expand([task.name])
            self.prepared[task.name] = self._prepare(task)
            self._generate(task, built[task.name])
        for name in list(self.evaluations):
            self._finish(name)
        self.say(f"records in {self.folder}; `clinhallu-tasks report {self.output_path}` builds the tables")
        failed = judge_failures(self.summaries.values())
        if failed:
            listed = "\n".join(f"  {line}" for line in failed)
            raise JudgeFailed(f"the judge failed; samples and rule metrics are written, judge metrics are None:\n"
                              f"{listed}\nVerdicts received are cached: rerun the same command to resume.")

    def _generate(self, task: PlannedTask, task_object: Any) -> None:
        """The task's passes, then its final responses to the evaluation (judge requests go out now)."""
        assert self.context is not None
        lmms_task = self.driver.build(task.name, task_object)
        decoding = task_object.get_config("generation_kwargs") or {}
        self.decoding[task.name] = json_safe(decoding)
        resample = self.resample if task.traced else 0
        if resample and (decoding.get("temperature") == 0 or decoding.get("do_sample") is False):
            self.say(f"warning: {task.name} decodes greedily: a resampled request usually returns the same "
                     "invalid trace again (the official protocol samples at temperature 0.7)")
        evaluation = TaskEvaluation(self.context, self.prepared[task.name])
        strangers = [i for i in lmms_task.item_ids if i not in evaluation.prepared.items_by_id]
        if strangers:
            raise GenerationError(f"{task.name}: lmms-eval documents without a prepared item: {strangers[:5]}")
        validity = trace_validity(evaluation) if task.traced else no_validity
        generations = self.store.load(task.name, lmms_task.item_ids, validity)
        generate_task(generations, lambda ids: self.driver.generate(lmms_task, ids, self.chunk_size), validity,
                      self.store, resample=resample, progress=self.say)
        self.say(summary_line(generations, resample))
        for item_id, item in generations.items.items():
            evaluation.add_response(item_id, item.attempts[-1].response, generation_record(item))
        self.evaluations[task.name] = evaluation
        self.seconds[task.name] = generations.seconds

    def _finish(self, name: str | None) -> None:
        """Finish one evaluation (verdicts, metrics, records) and add what only the runner knows."""
        evaluation = self.evaluations.get(name or "")
        if evaluation is None or evaluation.name in self.summaries:
            return
        summary = evaluation.finish()
        summary = dataclasses.replace(
            summary,
            cost=dataclasses.replace(summary.cost, generation_seconds=round(self.seconds[evaluation.name], 3)),
            settings={**summary.settings, "generation_kwargs": self.decoding[evaluation.name]},
        )
        write_summary(TaskFiles(self.folder, evaluation.name).summary, summary)
        self.summaries[evaluation.name] = summary
        self.say(metrics_line(summary))

    def close(self) -> None:
        if self.context is not None:
            self.context.close()
        if self._restore_environment is not None:
            self._restore_environment()
            self._restore_environment = None


# ---------------------------------------------------------------- pieces


def trace_validity(evaluation: TaskEvaluation) -> Validity:
    """Whether a response is a valid trace, read exactly as the records will read it (given steps joined)."""
    items = evaluation.prepared.items_by_id

    def valid(item_id: str, response: str) -> bool | None:
        return bool(evaluation.kind.sample(items[item_id], response, Generation()).valid)  # type: ignore[arg-type]

    return valid


def no_validity(item_id: str, response: str) -> bool | None:
    """MedHallTune answers: no validity, one pass."""
    return None


def generation_record(item: ItemAttempts) -> Generation:
    final = item.attempts[-1]
    return Generation(
        attempts=len(item.attempts),
        valid_first_attempt=item.attempts[0].valid,
        characters=len(final.response),
        tokens=final.tokens,
    )


def judge_failures(summaries: Any) -> list[str]:
    """`task: why` for every task whose configured judge failed (a judge metric is None)."""
    failed = []
    for summary in summaries:
        if not summary.judge.configured:
            continue
        missing = [m for m, v in summary.metrics.items() if v is None and m in JUDGE_METRICS]
        if summary.judge.failure:
            failed.append(f"{summary.task}: {summary.judge.failure}")
        elif missing:
            failed.append(f"{summary.task}: {', '.join(missing)} None ({summary.metric_notes.get(missing[0], '')})")
    return failed


def metrics_line(summary: TaskSummary) -> str:
    shown = ", ".join(f"{name}={'None' if v is None else f'{v:.2f}'}" for name, v in summary.metrics.items())
    return f"{summary.task}: {summary.items} items: {shown}"


def json_safe(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)


def set_environment(name: str, value: str) -> Callable[[], None]:
    """Set one variable for this run; returns what puts the previous value back."""
    saved = os.environ.get(name)
    os.environ[name] = value

    def restore() -> None:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved

    return restore


__all__ = ["JUDGE_METRICS", "JudgeFailed", "ProtocolRun", "UsageError"]
