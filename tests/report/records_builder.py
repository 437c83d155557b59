"""Run folders built with the record types themselves (clinhallu_tasks.records), for report tests.

Each task's summary metrics are computed from its own samples and judgments, the way the run
computes them (spec metrics, percent of the counted items), so a folder is consistent unless a
test overrides `metrics`. Reuse: `clinhallu_task` / `medhalltune_task` write one task,
`write_model` a whole model; `outcomes` / `answers` make seeded per-item results.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import EllipsisType
from typing import Any

from clinhallu_tasks.records import (
    AnswerSample,
    Cost,
    Generation,
    JudgeInfo,
    Judgment,
    TaskFiles,
    TaskSummary,
    TraceSample,
    Usage,
    Wording,
)
from clinhallu_tasks.spec import clinhallu as ch
from clinhallu_tasks.spec import medhalltune as mh

LMMS = "lmms-eval 0.7.3"
VLMEVALKIT = "VLMEvalKit 0.0.20"
JUDGE = JudgeInfo(True, "judge-7b", 2, {"temperature": 0.01, "top_p": 0.9, "max_tokens": 4096, "thinking": False,
                                        "structured_output": "json_schema"})
NO_JUDGE = JudgeInfo(False)
SETTINGS = {"max_new_tokens": 4096, "temperature": 0.0, "resample_attempts": 50}
WORDING = Wording("package", "package", {"answer_judge.txt": hashlib.sha256(b"package answer judge").hexdigest()})
USAGE = Usage(prompt_tokens=100, completion_tokens=10)
TOKENS_PER_ANSWER = 40
NO_FREE_TEXT = "no free-text question: token F1 covers free-text answers only"
SOURCES = tuple(s.name for s in ch.AVERAGE_SOURCES)
INDEPENDENT = tuple(r.name for r in ch.INDEPENDENT_RUNS)


def failed_judge(reason: str = "judge endpoint unreachable: connection refused") -> JudgeInfo:
    return replace(JUDGE, failure=reason)


@dataclass(frozen=True)
class Outcome:
    """One ClinHallu item in one run."""

    valid: bool = True
    correct: bool = True  # the answer judge's verdict (and the rule match)
    hallucinated: bool = False  # the stage judge's verdict on the run's judged step
    attempts: int = 1  # generations asked (resampling)


@dataclass(frozen=True)
class Answer:
    """One MedHallTune answer."""

    scores: tuple[int, int, int, int] | None = (7, 7, 7, 7)  # None: the judge failed on it
    meteor: float = 0.3
    rouge_l: float = 0.4
    bertscore: float = 0.8


def outcomes(n: int, *, acc: float = 0.6, hallucinated: float = 0.3, valid: float = 1.0, seed: int = 0,
             resampled: int = 0) -> list[Outcome]:
    """Seeded outcomes; the first `resampled` items needed a second attempt."""
    rng = random.Random(seed)
    return [Outcome(rng.random() < valid, rng.random() < acc, rng.random() < hallucinated, 2 if i < resampled else 1)
            for i in range(n)]


def answers(n: int, seed: int = 0) -> list[Answer]:
    rng = random.Random(seed)
    return [Answer(tuple(rng.randint(1, 10) for _ in range(4)), rng.random(), rng.random(), rng.random())  # type: ignore[arg-type]
            for _ in range(n)]


def percent(values: Sequence[float | None]) -> float | None:
    counted = [float(v) for v in values if v is not None]
    return 100.0 * sum(counted) / len(counted) if counted else None


def mean(values: Sequence[float | None]) -> float | None:
    counted = [float(v) for v in values if v is not None]
    return sum(counted) / len(counted) if counted else None


def _cost(judgments: Sequence[Judgment], characters: int, n: int) -> Cost:
    calls = [j for j in judgments if j.status != "settled"]
    return Cost(judge_calls=len(calls), judge_failures=sum(j.status == "failed" for j in calls),
                prompt_tokens=sum(j.usage.prompt_tokens for j in calls),
                completion_tokens=sum(j.usage.completion_tokens for j in calls), judge_seconds=1.5,
                generated_characters=characters, generated_tokens=TOKENS_PER_ANSWER * n, generation_seconds=2.0)


def _summary(task: str, benchmark: Any, source: str | None, run: str | None, n: int, released: int | None,
             metrics: dict[str, float | None], judge: JudgeInfo, **fields: Any) -> TaskSummary:
    # The reason for each None metric, as the run writes it.
    notes = {name: NO_FREE_TEXT if name == ch.TOKEN_F1.name else
             f"judge failed: {judge.failure}" if judge.failure else "no judge configured"
             for name, v in metrics.items() if v is None}
    defaults: dict[str, Any] = dict(
        framework=LMMS, model="model-a", counts={}, wording=WORDING, settings=dict(SETTINGS), cost=Cost(),
        data_fingerprint=hashlib.sha256(f"{task}:{n}".encode()).hexdigest(), package_version="0.2.0",
        created="2026-12-01T12:00:00Z",
    )
    return TaskSummary(task=task, benchmark=benchmark, source=source, run=run, items=n, items_released=released,
                       metrics=metrics, metric_notes=notes, judge=judge, **(defaults | fields))


def clinhallu_task(folder: Path, source: str, run: str, items: Sequence[Outcome], *, judge: JudgeInfo = JUDGE,
                   items_released: int | None | EllipsisType = ..., metrics: Mapping[str, float | None] = {},
                   **fields: Any) -> TaskSummary:
    """Write one ClinHallu task (`clinhallu_<source>_<run>`); `fields` override TaskSummary fields.

    items_released: ... = as many as evaluated (complete); the sample source is never released.
    """
    spec = ch.RUNS_BY_NAME[run]
    task = ch.task_name(source, run)
    stage = ch.STAGE_METRICS[spec.judged_step] if spec.judged_step else None
    samples, judgments = [], []
    for i, o in enumerate(items):
        item_id = f"{source}-{i}"
        response = f"[Visual Recognition] v{i} [Knowledge Recall] k{i} [Reasoning] r{i} [Answer] A"
        samples.append(TraceSample(
            task, source, run, item_id, "multiple_choice", f"question {i}", "A", [f"img/{source}-{i}.png"],
            {}, {}, response, {}, "A" if o.valid else "", o.valid, None if o.valid else "no answer line",
            o.correct if o.valid else None, None,
            Generation(attempts=o.attempts, valid_first_attempt=o.valid and o.attempts == 1,
                       characters=len(response), tokens=TOKENS_PER_ANSWER),
        ))
        if not judge.configured:
            continue
        failed = judge.failure is not None
        if o.valid:
            judgments.append(Judgment(task, item_id, ch.ACC.name, "failed" if failed else "judged",
                                      None if failed else int(o.correct), judge_model=judge.model, attempts=1,
                                      usage=USAGE))
        else:
            judgments.append(Judgment(task, item_id, ch.ACC.name, "settled", None, reason="invalid trace"))
        if stage is not None:
            judgments.append(Judgment(task, item_id, stage.name, "failed" if failed else "judged",
                                      None if failed else int(o.hallucinated), judge_model=judge.model,
                                      attempts=1, usage=USAGE))
    by_metric = {name: [j.value for j in judgments if j.metric == name] for name in (ch.ACC.name, *(
        [stage.name] if stage else []))}
    values: dict[str, float | None] = {
        ch.VALID_RATE.name: percent([s.valid for s in samples]),
        ch.ACC_RULE.name: percent([s.rule_correct for s in samples]),
        ch.TOKEN_F1.name: None,
        **{name: percent(v) for name, v in by_metric.items()},
    }
    if not judge.configured:
        values |= {m.name: None for m in spec.metrics if m.kind == "judge"}
    counts = {"valid": sum(s.valid for s in samples),
              "valid_first_attempt": sum(bool(s.generation.valid_first_attempt) for s in samples),
              "resampled": sum(s.generation.attempts > 1 for s in samples)}
    released = None if source not in SOURCES else len(items) if items_released is ... else items_released
    fields = {"counts": counts, "cost": _cost(judgments, sum(s.generation.characters for s in samples), len(items)),
              "settings": SETTINGS | {"given_steps": list(spec.given_steps)}, **fields}
    summary = _summary(task, "clinhallu", source, run, len(items), released, values | dict(metrics), judge, **fields)
    TaskFiles(folder, task).write(samples, judgments, summary)
    return summary


def medhalltune_task(folder: Path, task: str, items: Sequence[Answer], *, judge: JudgeInfo = JUDGE,
                     items_released: int | None | EllipsisType = ..., metrics: Mapping[str, float | None] = {},
                     bertscore_model: str = "roberta-large", **fields: Any) -> TaskSummary:
    """Write one MedHallTune task (a name of spec.medhalltune.TASKS)."""
    split = mh.TASKS_BY_NAME[task]
    samples, judgments = [], []
    for i, a in enumerate(items):
        item_id = f"{split.split}-{i}"
        response = f"answer {i}"
        samples.append(AnswerSample(task, split.split, item_id, i, f"img{i}.jpg", f"question {i}", "truth", response,
                                    a.meteor, a.rouge_l, a.bertscore,
                                    Generation(characters=len(response), tokens=TOKENS_PER_ANSWER)))
        if judge.configured:
            ok = judge.failure is None and a.scores is not None
            scores = dict(zip((d.key for d in mh.DIMENSIONS), a.scores, strict=True)) if ok and a.scores else None
            judgments.append(Judgment(task, item_id, mh.JUDGE_METRIC, "judged" if ok else "failed", scores=scores,
                                      judge_model=judge.model, attempts=1, usage=USAGE))
    values: dict[str, float | None] = {
        d.metric.name: mean([j.scores[d.key] if j.scores else None for j in judgments]) for d in mh.DIMENSIONS
    }
    values |= {m.name: mean([getattr(s, m.key) for s in samples]) for m in mh.TEXT_METRICS}
    released = None if split.sample else len(items) if items_released is ... else items_released
    settings = SETTINGS | {mh.BERTSCORE_MODEL_SETTING: bertscore_model, "bertscore_num_layers": 17}
    fields = {"settings": settings, "cost": _cost(judgments, sum(len(s.response) for s in samples), len(items)),
              **fields}
    summary = _summary(task, "medhalltune", split.split, None, len(items), released, values | dict(metrics), judge,
                       **fields)
    TaskFiles(folder, task).write(samples, judgments, summary)
    return summary


def write_model(folder: Path, *, model: str = "model-a", framework: str = LMMS, sources: Sequence[str] = SOURCES,
                runs: Sequence[str] = INDEPENDENT, n: int = 12, acc: float = 0.6, hallucinated: float = 0.3,
                seed: int = 0, medhalltune: bool = True, **task_fields: Any) -> list[TaskSummary]:
    """A whole model: the ClinHallu runs of `sources` and both MedHallTune splits; same items in every run."""
    written = []
    for k, source in enumerate(sources):
        for j, run in enumerate(runs):
            items = outcomes(n, acc=acc, hallucinated=hallucinated, seed=seed * 1000 + k * 10 + j)
            written.append(clinhallu_task(folder, source, run, items, model=model, framework=framework,
                                          **task_fields))
    if medhalltune:
        for j, t in enumerate(x for x in mh.TASKS if not x.sample):
            written.append(medhalltune_task(folder, t.name, answers(n, seed * 1000 + 500 + j), model=model,
                                            framework=framework, **task_fields))
    return written


# --------------------------------------------------------------------------- reading a report back


@dataclass(frozen=True)
class ReportOutput:
    """What `clinhallu-tasks report` wrote: leaderboard.md, the CSVs as rows, the submissions by model name."""

    folder: Path
    md: str
    csv: dict[str, list[dict[str, str]]]
    submissions: dict[str, dict[str, Any]]

    def submission(self) -> dict[str, Any]:
        (only,) = self.submissions.values()
        return only


def run_report(paths: Sequence[Path], out: Path, *args: str, expect: int = 0) -> ReportOutput:
    """Run the report command in-process (100 resamples, no charts unless asked) and read its files."""
    import csv
    import json

    from clinhallu_tasks.report.command import main

    extra = list(args) if "--charts" in args else [*args, "--no-charts"]
    extra = [a for a in extra if a != "--charts"]
    code = main([*map(str, paths), "--out", str(out), "--bootstrap-iters", "100", *extra])
    assert code == expect
    tables = {p.name: list(csv.DictReader(p.open(encoding="utf-8"))) for p in sorted(out.glob("*.csv"))}
    docs = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(out.glob("submission*.json"))]
    md = (out / "leaderboard.md").read_text(encoding="utf-8") if (out / "leaderboard.md").exists() else ""
    return ReportOutput(out, md, tables, {d["model"]["name"] + " | " + d["model"]["framework"]: d for d in docs})
