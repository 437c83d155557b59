"""`TaskEvaluation`: responses in, records out, for one task of either benchmark.

`add_response` is called from many threads as responses arrive; it reads and rule-scores the
response and sends that item's judge requests at once, so every call of an evaluation is in
flight together. `finish` waits for the verdicts, computes every metric, and writes the three
record files. Nothing a judge or a text metric does at the end can lose the responses: a metric
that cannot be computed is None with a note saying why, and the samples are written regardless.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from clinhallu_tasks.evaluation.asks import Ask, collect
from clinhallu_tasks.evaluation.clinhallu import ClinHalluRun
from clinhallu_tasks.evaluation.context import NO_JUDGE_NOTE, EvaluationContext
from clinhallu_tasks.evaluation.medhalltune import MedHallTuneSplit
from clinhallu_tasks.evaluation.prepared import PreparedTask, Prompt, data_fingerprint
from clinhallu_tasks.judging import JudgeOutcome
from clinhallu_tasks.records import (
    Cost,
    Generation,
    Judgment,
    SampleRecord,
    TaskFiles,
    TaskSummary,
    Wording,
)
from clinhallu_tasks.spec import medhalltune as medhalltune_spec

logger = logging.getLogger("clinhallu_tasks")


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("clinhallu-tasks")
    except PackageNotFoundError:
        return "unknown"


@dataclass
class _Entry:
    """One item's response, its record, and its judge asks with their answers (or futures)."""

    sample: SampleRecord
    submitted: bool = False
    asks: list[Ask] = field(default_factory=list)
    futures: dict[str, Future[JudgeOutcome[Any]]] = field(default_factory=dict)


class TaskEvaluation:
    """One task of one evaluation: prompts out, responses in, records written at `finish`."""

    def __init__(self, context: EvaluationContext, prepared: PreparedTask) -> None:
        self.context = context
        self.prepared = prepared
        self.kind: ClinHalluRun | MedHallTuneSplit
        if prepared.benchmark == "clinhallu":
            self.kind = ClinHalluRun(context, prepared)
        else:
            self.kind = MedHallTuneSplit(context, prepared)
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._summary: TaskSummary | None = None
        self._started = time.monotonic()

    @property
    def name(self) -> str:
        return self.prepared.name

    def prompt(self, item: Any, pre_prompt: str = "", post_prompt: str = "") -> Prompt:
        """The prompt for an item (or its id): system text, text, then the images in order."""
        if isinstance(item, str):
            item = self.prepared.items_by_id[item]
        return self.kind.prompt(item, pre_prompt, post_prompt)  # type: ignore[arg-type]

    @property
    def started(self) -> bool:
        """Some response has arrived."""
        with self._lock:
            return bool(self._entries)

    def has_response(self, item_id: str) -> bool:
        with self._lock:
            return item_id in self._entries

    def add_response(
        self, item_id: str, response: str | None, generation: Generation | None = None, *, submit: bool = True,
    ) -> SampleRecord:
        """Read and rule-score one response; with `submit`, send its judge requests now.

        Thread-safe. A second response for the same item replaces nothing: the first is kept.
        `submit=False` leaves the requests to `finish` (a process that does not aggregate).
        """
        item = self.prepared.items_by_id.get(item_id)
        if item is None:
            raise KeyError(f"{self.name}: no item {item_id!r}")
        text = response if isinstance(response, str) else ""
        generation = generation or Generation(characters=len(text))
        sample = self.kind.sample(item, text, generation)  # type: ignore[arg-type]
        with self._lock:
            existing = self._entries.get(item_id)
            if existing is not None:
                return existing.sample
            entry = self._entries[item_id] = _Entry(sample)
        if submit:
            self._submit(entry)
        return sample

    def _submit(self, entry: _Entry) -> None:
        config = self.context.settings.judge
        with self._lock:
            if config is None or self.context.judge_client is None or entry.submitted:
                return
            entry.submitted = True
        asks = self.kind.asks(entry.sample, config.model)  # type: ignore[arg-type]
        futures = {
            ask.metric: self.context.submit(ask.request, ask.parse, label=self.name)
            for ask in asks if ask.request is not None and ask.parse is not None
        }
        with self._lock:  # asks and futures appear together (call `finish` after the last add_response)
            entry.asks, entry.futures = asks, futures

    # ------------------------------------------------------------ finish

    @property
    def summary(self) -> TaskSummary | None:
        """The summary once `finish` has run."""
        return self._summary

    def finish(self, *, output_folder: Path | None = None, model: str | None = None,
               framework: str | None = None, settings: Mapping[str, Any] | None = None) -> TaskSummary:
        """Wait for the verdicts, compute every metric, write the records; once (later calls return the same).

        `output_folder`, `model` and `framework` default to the context's; with no folder nothing is written.
        `settings` add to the context's generation settings (what the framework knew only at the end).
        """
        with self._lock:
            if self._summary is not None:
                return self._summary
            entries = [self._entries[item.item_id] for item in self.prepared.items if item.item_id in self._entries]
        for entry in entries:
            self._submit(entry)  # responses added without submitting (other ranks)
        judgments, outage = self._collect(entries)
        samples = self.kind.complete([entry.sample for entry in entries])  # type: ignore[arg-type]
        metrics, notes = self._metrics(samples, judgments, outage)
        summary = self._summary_record(samples, judgments, metrics, notes, model, framework, settings or {})
        folder = output_folder if output_folder is not None else self.context.output_folder
        if folder is not None:
            TaskFiles(Path(folder), self.name).write(samples, judgments, summary)
        with self._lock:
            self._summary = summary
        self._log(summary, folder)
        return summary

    def _collect(self, entries: list[_Entry]) -> tuple[list[Judgment], str | None]:
        config = self.context.settings.judge
        judge_model = config.model if config is not None else ""
        judgments: list[Judgment] = []
        outage: str | None = None
        for entry in entries:
            for ask in entry.asks:
                judgment, failure = collect(ask, entry.futures.get(ask.metric), judge_model)
                judgments.append(judgment)
                outage = outage or failure
        if outage is not None:
            self.context.record_outage(outage)
        return judgments, outage

    def _metrics(
        self, samples: list[Any], judgments: list[Judgment], outage: str | None,
    ) -> tuple[dict[str, float | None], dict[str, str]]:
        metrics: dict[str, float | None] = dict(self.kind.rule_metrics(samples))
        notes: dict[str, str] = dict(self.kind.rule_notes())
        by_metric: dict[str, list[Judgment]] = {}
        for judgment in judgments:
            by_metric.setdefault(judgment.metric, []).append(judgment)
        if self.context.settings.judge is None:
            reason = NO_JUDGE_NOTE
        elif outage is not None:
            reason = f"the judge became unreachable: {outage}"
        else:
            reason = None
        if isinstance(self.kind, MedHallTuneSplit):
            names = [d.metric.name for d in medhalltune_spec.DIMENSIONS]
            values = self.kind.dimension_means(by_metric.get(medhalltune_spec.JUDGE_METRIC, []))
            for name in names:
                metrics[name] = None if reason else values[name]
                if reason:
                    notes[name] = reason
                elif values[name] is None and samples:
                    notes[name] = "the judge gave no usable verdict for any answer"
        else:
            for name in self.kind.judged_metrics:
                value = None if reason else self.kind.judge_metric(name, by_metric.get(name, []))
                metrics[name] = value
                if reason:
                    notes[name] = reason
                elif value is None and samples:
                    notes[name] = "no answer got a verdict (no valid trace, or every verdict failed)"
        for name, value in metrics.items():
            if value is None and name not in notes:
                notes[name] = "no items to score" if not samples else "nothing to average"
        return metrics, notes

    def _summary_record(
        self, samples: list[Any], judgments: list[Judgment], metrics: dict[str, float | None],
        notes: dict[str, str], model: str | None, framework: str | None, settings: Mapping[str, Any],
    ) -> TaskSummary:
        counts: dict[str, int] = {"items": len(samples), **self.kind.counts(samples)}
        for judgment in judgments:
            key = f"{judgment.metric}.{judgment.status}"
            counts[key] = counts.get(key, 0) + 1
        items = [self.prepared.items_by_id[s.item_id] for s in samples]
        return TaskSummary(
            task=self.name,
            benchmark=self.prepared.benchmark,
            framework=framework if framework is not None else self.context.framework,
            model=model if model is not None else self.context.model,
            source=self.prepared.source,
            run=self.prepared.run.name if self.prepared.run is not None else None,
            items=len(samples),
            items_released=self.prepared.items_released,
            metrics=metrics,
            metric_notes=notes,
            counts=counts,
            judge=self.context.judge_info(),
            wording=Wording(
                generation=self.context.templates.generation_wording if self.prepared.benchmark == "clinhallu"
                else "package",
                judge=self.context.templates.judge_wording,
                templates=self.kind.wording_templates(),
            ),
            data_fingerprint=data_fingerprint(items),
            settings={**self.context.generation_settings, **settings, **self.kind.settings()},
            cost=self._cost(samples),
            package_version=package_version(),
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )

    def _cost(self, samples: list[Any]) -> Cost:
        tokens = [s.generation.tokens for s in samples]
        generated = {
            "generated_characters": sum(len(s.response) for s in samples),
            "generated_tokens": sum(tokens) if tokens and all(t is not None for t in tokens) else None,  # type: ignore[arg-type]
        }
        client = self.context.judge_client
        if client is None:
            return Cost(**generated)
        stats = client.stats(self.name)
        config = client.config
        priced = config.price_input is not None and config.price_output is not None
        return Cost(
            judge_calls=stats.calls,
            # An identical request already in flight is shared, not asked: whether it was in flight or
            # already cached depends on timing, so both count as answered without a call of its own.
            cache_hits=stats.cache_hits + stats.shared,
            reasks=stats.reasks,
            judge_failures=stats.failures,
            prompt_tokens=stats.prompt_tokens,
            completion_tokens=stats.completion_tokens,
            judge_seconds=stats.wall_s,
            estimated_usd=stats.cost_usd if priced else None,
            **generated,
        )

    def _log(self, summary: TaskSummary, folder: Path | None) -> None:
        missing = sorted(name for name, value in summary.metrics.items() if value is None)
        where = f"; records in {folder}" if folder is not None else " (no output folder: records not written)"
        if summary.judge.failure is not None and missing:
            logger.error("%s: %s are None: the judge became unreachable (%s). Every other metric is kept; "
                         "verdicts already received are cached: rerun the same command to resume%s",
                         self.name, ", ".join(missing), summary.judge.failure, where)
        elif missing:
            logger.warning("%s: %s None (%s)%s", self.name, ", ".join(missing),
                           "; ".join(sorted({summary.metric_notes.get(m, '') for m in missing})), where)
        else:
            logger.info("%s: %d items%s", self.name, summary.items, where)
        thinking = summary.counts.get("thinking_block", 0)
        if thinking * 2 > summary.items:
            # The protocol generates with thinking off; a thinking model can spend its tokens before the trace.
            logger.warning("%s: %d of %d responses start with a thinking block; the protocol generates with "
                           "thinking off (README, \"Generation settings\": thinking off per backend)",
                           self.name, thinking, summary.items)


__all__ = ["TaskEvaluation", "package_version"]
