"""leaderboard.md, the CSV files and the console summary, from `scores.Report` (nothing computed here).

ClinHallu numbers are percent with one decimal, MedHallTune two decimals, as the benchmarks
publish; full precision is in submission.json. A number that is missing says why: "—" not run,
"no judge" (none configured), "judge failed" (configured, but it failed).
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from clinhallu_tasks.records import TaskRecords
from clinhallu_tasks.report.provenance import provenance
from clinhallu_tasks.report.scores import (
    HEADLINE_METRICS,
    MEDHALLTUNE_KEYS,
    Estimate,
    ModelReport,
    Report,
    Row,
    Validity,
    total_cost,
)
from clinhallu_tasks.spec import clinhallu as ch
from clinhallu_tasks.spec import medhalltune as mh

DASH = "—"
SHOWN_MISSING = ("no judge", "judge failed")  # reasons a cell names; any other missing number is a dash
LABELS: Mapping[str, str] = {
    m.key: m.label for m in (*HEADLINE_METRICS.values(), ch.VALID_RATE, *mh.METRICS, *ch.DELTAS)
}
INTERVENTION = (ch.ACC.key, *(d.key for d in ch.DELTAS))
HEADLINE_SCORE = mh.DIMENSIONS[0].key  # clinical accuracy: MedHallTune's number in the console line
COST_COLUMNS = (
    ("judge_calls", "Judge calls"), ("cache_hits", "Cache hits"), ("reasks", "Re-asks"),
    ("judge_failures", "Judge failures"), ("prompt_tokens", "Prompt tokens"),
    ("completion_tokens", "Completion tokens"), ("judge_seconds", "Judge s"),
    ("generated_characters", "Generated chars"), ("generated_tokens", "Generated tokens"),
    ("generation_seconds", "Generation s"), ("estimated_usd", "Est. USD"),
)


def places(key: str) -> int:
    return 2 if key in MEDHALLTUNE_KEYS else 1


def fmt(value: float | None, digits: int, sign: bool = False) -> str:
    """A rounded number, never "-0.0"; "" for None."""
    if value is None:
        return ""
    text = f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"
    return f"{0.0:.{digits}f}" if text.lstrip("+-").strip("0.") == "" else text


def cell(est: Estimate, key: str, sign: bool = False) -> str:
    """'63.6 [60.1, 67.0]'; 'no judge' / 'judge failed' / '—' when missing."""
    if est.value is None:
        return est.missing if est.missing in SHOWN_MISSING else DASH
    d = places(key)
    ci = f" [{fmt(est.ci[0], d, sign)}, {fmt(est.ci[1], d, sign)}]" if est.ci else ""
    return fmt(est.value, d, sign) + ci


def point(est: Estimate, key: str) -> str:
    """The value without its interval, or why it is missing."""
    return cell(dataclasses.replace(est, ci=None), key)


def md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines) if len(lines) > 2 else ""


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(["" if c is None else c for c in row] for row in rows)
    return buffer.getvalue()


def _ci_cells(est: Estimate, key: str) -> list[str]:
    return [fmt(est.ci[0], places(key)), fmt(est.ci[1], places(key))] if est.ci else ["", ""]


def _clinhallu_rows(report: Report) -> list[tuple[ModelReport, Row]]:
    """Average first, then the sources in leaderboard order, models side by side (the official layout)."""
    rows = [(m, r) for m in report.models for r in m.clinhallu_rows]
    order = {"average": -1} | {s.submission_key: i for i, s in enumerate(ch.ALL_SOURCES)}
    return sorted(rows, key=lambda mr: order.get(mr[1].key, len(order)))


# --------------------------------------------------------------------------- Markdown


def _pairs(settings: Mapping[str, Any]) -> str:
    # A setting that was not given (None) says nothing to a reader of the table; the JSON keeps it.
    return ", ".join(f"{k}={v}" for k, v in sorted(settings.items()) if v is not None)


def provenance_md(report: Report) -> str:
    lines = []
    for m in report.models:
        p = provenance(m)
        judge = p["judge"]
        judges = "; ".join(
            f"`{j['model']}` ({j['endpoints']} endpoint(s); {_pairs(j['settings'])})"
            for j in judge["judges"]
        ) or "none configured"
        lines += [f"**{m.name}** ({', '.join(p['frameworks'])}, {p['wording']['label']})", f"- Judge: {judges}"]
        failures: dict[str, list[str]] = {}
        for task, why in judge["failed"].items():
            failures.setdefault(why, []).append(task)
        lines += [f"- Judge FAILED ({why}) in: {', '.join(tasks)}" for why, tasks in failures.items()]
        if judge["configured"] and judge["not_configured"]:
            lines.append(f"- No judge configured for: {', '.join(judge['not_configured'])}")
        if p["bertscore_model"]:
            lines.append(f"- BERTScore model: {', '.join(p['bertscore_model'])} "
                         f"({'; '.join(_pairs(s) for s in p['bertscore_settings'])})")
        lines.append(f"- Decoding: {_pairs(p['generation_settings']) or 'the framework defaults'}")
        for bench, s in p["item_sets"].items():
            if s["evaluated"]:
                whole = "the whole released benchmark" if s["whole_released_benchmark"] else "not the whole benchmark"
                lines.append(f"- {bench}: {s['evaluated']} items of {s['released']} released ({whole})")
        lines.append("")
    return "\n".join(lines)


def clinhallu_md(report: Report) -> str:
    header = ["Split", "Model", *(m.label for m in HEADLINE_METRICS.values()), "n", "Status", "Judge"]
    return md_table(header, (
        [r.label, m.name, *(cell(r.get(k), k) for k in HEADLINE_METRICS), r.n or DASH, r.status, r.judge or DASH]
        for m, r in _clinhallu_rows(report)
    ))


def intervention_md(report: Report) -> str:
    header = ["Split", "Model", *(LABELS[k] for k in INTERVENTION)]
    return md_table(header, (
        [r.label, m.name, *(cell(r.get(k), k, sign=k != ch.ACC.key) for k in INTERVENTION)]
        for m, r in _clinhallu_rows(report)
    ))


def validity_md(report: Report) -> str:
    header = ["Model", "Task", "Items", "Released", "Valid 1st attempt %", "Valid %", "Resampled", "Max attempts",
              "Judged", "Settled", "Failed", "Cached"]
    return md_table(header, (
        [m.name, v.task, v.items, DASH if v.items_released is None else v.items_released,
         fmt(v.valid_first_attempt, 1) or DASH, fmt(v.valid, 1) or DASH,
         v.resampled, v.max_attempts, v.judged, v.settled, v.failed, v.cached]
        for m in report.models for v in m.validity
    ))


def medhalltune_md(report: Report) -> str:
    header = ["Model", "Split", *(LABELS[k] for k in MEDHALLTUNE_KEYS), "n", "Status", "Judge"]
    blocks = []
    for sample in (False, True):
        rows = [[m.name, r.label, *(cell(r.get(k), k) for k in MEDHALLTUNE_KEYS), r.n or DASH, r.status,
                 r.judge or DASH] for m in report.models for r in m.medhalltune.get(sample, [])]
        if rows:
            title = "### Embedded sample (not comparable with the benchmark)\n\n" if sample else ""
            blocks.append(title + md_table(header, rows))
    return "\n\n".join(blocks)


def cost_rows(report: Report) -> list[list[Any]]:
    """Per task, per run folder, per model, and for everything when there are several models."""
    rows: list[list[Any]] = []
    for m in report.models:
        folders: dict[str, list[TaskRecords]] = {}
        for _, t in sorted(m.records.tasks.items()):
            folders.setdefault(t.files.folder.name, []).append(t)
            rows.append([m.name, t.summary.task, t.summary.cost])
        if len(folders) > 1:
            rows += [[m.name, f"run {folder}", total_cost(t.summary.cost for t in tasks)]
                     for folder, tasks in folders.items()]
        rows.append([m.name, "all tasks", total_cost(t.summary.cost for t in m.records.tasks.values())])
    if len(report.models) > 1:
        rows.append(["all models", "all tasks", total_cost(s.cost for m in report.models for s in m.summaries)])
    return [[model, scope, *(getattr(cost, k) for k, _ in COST_COLUMNS)] for model, scope, cost in rows]


def cost_md(report: Report) -> str:
    def show(v: Any) -> str:
        return DASH if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)

    return md_table(["Model", "Task", *(label for _, label in COST_COLUMNS)],
                    ([*row[:2], *map(show, row[2:])] for row in cost_rows(report)))


def differences_md(report: Report) -> str:
    header = ["Model A", "Model B", "Scope", "Metric", "A − B", f"{report.bootstrap.level:.0%} interval", "Items"]
    return md_table(header, (
        [d.a, d.b, d.scope, LABELS[d.metric], fmt(d.value, places(d.metric), True),
         f"[{fmt(d.ci[0], places(d.metric), True)}, {fmt(d.ci[1], places(d.metric), True)}]" if d.ci else DASH,
         d.pairing]
        for d in report.differences
    ))


def leaderboard_md(report: Report, generated: datetime) -> str:
    boot = report.bootstrap
    sections = [
        "# Leaderboard",
        f"Generated {generated:%Y-%m-%d %H:%M} UTC by `clinhallu-tasks report` from {len(report.models)} model(s). "
        f"Intervals: {boot.level:.0%} percentile bootstrap over items ({boot.iters} resamples, seed {boot.seed}); "
        "the average resamples each source independently. Status: complete (every released item), partial "
        "(fewer items, runs or sources), sample (the embedded sample, not comparable). A missing number reads "
        "'no judge' (none configured), 'judge failed' (configured but failed) or '—' (not run).",
        "## What produced these numbers", provenance_md(report),
    ]
    if any(m.clinhallu_rows for m in report.models):
        sections += [
            "## ClinHallu",
            "Percent. Acc: answer accuracy (baseline); H^V, H^K, H^R: hallucination rate of the Visual Recognition "
            "(baseline), Knowledge Recall (after gold VR) and Reasoning (after gold VR and KR) steps, lower is "
            f"better. Average: unweighted mean of the {len(ch.AVERAGE_SOURCES)} sources; n: their baseline items.",
            clinhallu_md(report),
            "### Intervention",
            "Accuracy change (points) against the baseline: "
            + "; ".join(f"{d.label}: {ch.RUNS_BY_NAME[d.run].label}" for d in ch.DELTAS) + ".",
            intervention_md(report),
        ]
    sections += ["### Validity, resampling and verdicts",
                 "Valid after the first attempt and after resampling; verdicts: judged by a call, settled without "
                 "one (an invalid trace, an empty step), failed.", validity_md(report)]
    if any(m.medhalltune for m in report.models):
        sections += ["## MedHallTune", "Judge scores: means on 1-10 (higher is better); text metrics on 0-1.",
                     medhalltune_md(report)]
    sections += ["## Cost", "Judge calls and tokens as the endpoint reported them; '—' where not recorded. "
                 "Judge s: wall time while a task's verdicts were outstanding; tasks are judged together, "
                 "so a sum over tasks is an upper bound of the wall time.",
                 cost_md(report)]
    if report.differences:
        sections += ["## Differences between models", differences_md(report)]
    notes = [f"- {m.name}: {n}" for m in report.models for n in dict.fromkeys(m.notes)]
    if notes:
        sections += ["## Notes", "\n".join(notes)]
    return "\n\n".join(s for s in sections if s) + "\n"


# --------------------------------------------------------------------------- CSV


def leaderboard_csv(report: Report) -> str:
    """The official layout (split, model, acc, H_V, H_K, H_R), then intervals, n, status, judge."""
    keys = list(HEADLINE_METRICS)
    header = ["split", "model", "acc", "H_V", "H_K", "H_R"]
    header += [f"{c}_ci_{e}" for c in header[2:] for e in ("low", "high")] + ["n", "status", "judge"]
    return to_csv(header, (
        [r.label, m.name, *(fmt(r.get(k).value, 1) for k in keys),
         *(c for k in keys for c in _ci_cells(r.get(k), k)), r.n, r.status, r.judge]
        for m, r in _clinhallu_rows(report)
    ))


def intervention_csv(report: Report) -> str:
    header = ["split", "model", *INTERVENTION, *(f"{k}_ci_{e}" for k in INTERVENTION for e in ("low", "high"))]
    return to_csv(header, (
        [r.label, m.name, *(fmt(r.get(k).value, 1) for k in INTERVENTION),
         *(c for k in INTERVENTION for c in _ci_cells(r.get(k), k))]
        for m, r in _clinhallu_rows(report)
    ))


def validity_csv(report: Report) -> str:
    header = ["model", *(f.name for f in dataclasses.fields(Validity))]
    return to_csv(header, ([m.name, *dataclasses.astuple(v)] for m in report.models for v in m.validity))


def medhalltune_csv(report: Report) -> str:
    header = ["subset", "model", "split", *MEDHALLTUNE_KEYS,
              *(f"{k}_ci_{e}" for k in MEDHALLTUNE_KEYS for e in ("low", "high")), "n", "status", "judge"]
    return to_csv(header, (
        ["sample" if sample else "benchmark", m.name, r.label, *(fmt(r.get(k).value, 2) for k in MEDHALLTUNE_KEYS),
         *(c for k in MEDHALLTUNE_KEYS for c in _ci_cells(r.get(k), k)), r.n, r.status, r.judge]
        for m in report.models for sample, rows in m.medhalltune.items() for r in rows
    ))


def cost_csv(report: Report) -> str:
    return to_csv(["model", "task", *(k for k, _ in COST_COLUMNS)], cost_rows(report))


def differences_csv(report: Report) -> str:
    return to_csv(["model_a", "model_b", "scope", "metric", "difference", "ci_low", "ci_high", "items"], (
        [d.a, d.b, d.scope, d.metric, d.value, *(d.ci or ("", "")), d.pairing] for d in report.differences
    ))


def console_summary(report: Report) -> str:
    lines = []
    for m in report.models:
        bits = [f"ClinHallu {r.label} ({r.status}) " + ", ".join(
            f"{HEADLINE_METRICS[k].label} {point(r.get(k), k)}" for k in HEADLINE_METRICS)
            for r in ([m.average] if m.average else [r for r in m.clinhallu_rows if r.status != "missing"])]
        for sample, rows in m.medhalltune.items():
            bits.append(f"MedHallTune{' sample' if sample else ''} clinical accuracy " + " / ".join(
                f"{r.label} {point(r.get(HEADLINE_SCORE), HEADLINE_SCORE)}" for r in rows))
        lines.append(f"{m.name}: " + ("; ".join(bits) or "no ClinHallu or MedHallTune task"))
    return "\n".join(lines)
