"""Human-facing tables: leaderboard.md and the CSV files, rounded as the benchmarks publish.

ClinHallu numbers are percent with one decimal; MedHallTune numbers two decimals. Full precision
lives in submission.json only. A missing number is "—" in Markdown and empty in CSV.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

from clinhallu_tasks.report.scores import (
    FOUR_SOURCES,
    MEDHALLTUNE_KEYS,
    SOURCE_LABELS,
    Difference,
    Estimate,
    ModelReport,
    Report,
    SourceResult,
)

AVERAGE_LABEL = "Average (macro over 4 sources)"  # as in the official leaderboard CSV
DASH = "—"
HEADLINE_COLUMNS = (("acc", "Acc", "acc"), ("h_v", "H^V", "H_V"), ("h_k", "H^K", "H_K"), ("h_r", "H^R", "H_R"))
MEDHALLTUNE_COLUMNS = (
    ("clinical_accuracy", "Clin. Acc", "clin_acc"),
    ("clinical_relevance", "Clin. Rel", "clin_rel"),
    ("detail_level", "Detail", "detail"),
    ("risk_level", "Risk", "risk"),
    ("bertscore", "BERTScore", "bertscore"),
    ("meteor", "METEOR", "meteor"),
)
METRIC_LABELS = {
    "acc": "Acc",
    "h_v": "H^V",
    "h_k": "H^K",
    "h_r": "H^R",
    "delta_v": "ΔV",
    "delta_vk": "ΔVK",
    "delta_k": "ΔK",
    "valid_rate": "Valid",
    "clinical_accuracy": "Clinical Accuracy",
    "clinical_relevance": "Clinical Relevance",
    "detail_level": "Detail Level",
    "risk_level": "Risk Level",
    "bertscore": "BERTScore",
    "meteor": "METEOR",
    "rouge_l": "ROUGE-L",
}


def decimals(metric: str) -> int:
    """Display precision: one decimal for ClinHallu percentages, two for MedHallTune."""
    return 2 if metric in MEDHALLTUNE_KEYS else 1


def fmt(value: float | None, places: int, missing: str = DASH, sign: bool = False) -> str:
    """A rounded number (never "-0.0"), or the missing marker."""
    if value is None:
        return missing
    text = f"{value:+.{places}f}" if sign else f"{value:.{places}f}"
    if text.lstrip("+-").strip("0.") == "":
        text = f"{0.0:.{places}f}"
    return text


def fmt_ci(est: Estimate | None, places: int, sign: bool = False) -> str:
    """'63.6 [60.1, 67.0]', '63.6' without an interval, '—' when missing."""
    if est is None or est.value is None:
        return DASH
    text = fmt(est.value, places, sign=sign)
    if est.ci is not None:
        text += f" [{fmt(est.ci[0], places, sign=sign)}, {fmt(est.ci[1], places, sign=sign)}]"
    return text


def md_table(header: Sequence[str], rows: Iterable[Sequence[str]], align: Sequence[str] | None = None) -> str:
    """A GitHub Markdown table (cells have '|' escaped)."""
    align = align or ["l", "l"] + ["r"] * (len(header) - 2)
    marks = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(marks[a] for a in align) + " |",
    ]
    for row in rows:
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
    return "\n".join(lines)


def _flag(source: SourceResult) -> str:
    return "*" if source.partial else ""


def _avg_flag(model: ModelReport, key: str) -> str:
    if model.average is None:
        return ""
    used = model.average.sources_used.get(key, [])
    return f" [{len(used)}/4]" if model.average.partial(key) else ""


def _has_replace_kr(report: Report) -> bool:
    return any("replace_kr" in s.runs for m in report.models for s in m.sources.values())


Row = tuple[str, dict[str, Estimate], str, int | None, dict[str, str]]


def _clinhallu_rows(model: ModelReport) -> list[Row]:
    """(split label, metrics, row mark, items, per-number marks): average first, then the sources.

    Row mark "*": some items only (--limit); per-number mark "[k/4]": averaged over k sources.
    """
    rows: list[Row] = []
    if model.average is not None:
        subset = "*" if any(s.partial for s in model.main_sources) else ""
        marks = {k: _avg_flag(model, k) for k in model.average.metrics}
        rows.append((AVERAGE_LABEL, model.average.metrics, subset, _avg_n(model), marks))
    for s in FOUR_SOURCES:
        if s in model.sources:
            src = model.sources[s]
            rows.append((SOURCE_LABELS[s], src.metrics, _flag(src), src.n, {}))
        elif model.average is not None:
            rows.append((SOURCE_LABELS[s], {}, " (not run)", None, {}))
    for src in model.other_sources:
        rows.append((f"{src.label} (not averaged)", src.metrics, _flag(src), src.n, {}))
    return rows


def _cell(metrics: dict[str, Estimate], marks: dict[str, str], key: str, places: int, sign: bool = False) -> str:
    est = metrics.get(key)
    text = fmt_ci(est, places, sign=sign)
    return text + marks.get(key, "") if est is not None and est.value is not None else text


# --------------------------------------------------------------------------- Markdown


def clinhallu_glance(report: Report) -> str:
    """Rows = models, columns = Acc/H^V/H^K/H^R per source and the average (no intervals)."""
    groups = [SOURCE_LABELS[s] for s in FOUR_SOURCES] + ["Avg"]
    header = ["Model"] + [f"{g} {label}" for g in groups for _, label, _ in HEADLINE_COLUMNS]
    rows = []
    for m in report.models:
        if not m.main_sources:
            continue
        row = [m.name]
        for s in FOUR_SOURCES:
            src = m.sources.get(s)
            for key, _, _ in HEADLINE_COLUMNS:
                value = src.metrics[key].value if src else None
                row.append(fmt(value, 1) + (_flag(src) if src and value is not None else ""))
        subset = "*" if any(s.partial for s in m.main_sources) else ""
        for key, _, _ in HEADLINE_COLUMNS:
            est = m.average.metrics.get(key) if m.average else None
            value = est.value if est else None
            row.append(fmt(value, 1) + (subset + _avg_flag(m, key) if value is not None else ""))
        rows.append(row)
    return md_table(header, rows, ["l"] + ["r"] * (len(header) - 1)) if rows else ""


def clinhallu_md(report: Report) -> str:
    """The official layout (split, model, Acc, H^V, H^K, H^R) with 95% intervals."""
    rows = []
    for m in report.models:
        for label, metrics, flag, _n, marks in _clinhallu_rows(m):
            rows.append([label + flag, m.name] + [_cell(metrics, marks, k, 1) for k, _, _ in HEADLINE_COLUMNS])
    if not rows:
        return ""
    rows.sort(key=lambda r: 0 if r[0].startswith("Average") else 1 + _split_order(r[0]))
    return md_table(["Split", "Model"] + [label for _, label, _ in HEADLINE_COLUMNS], rows)


def _split_order(label: str) -> int:
    for i, s in enumerate(FOUR_SOURCES):
        if label.startswith(SOURCE_LABELS[s]):
            return i
    return len(FOUR_SOURCES)


def intervention_md(report: Report) -> str:
    """ACC, ΔV, ΔVK (and ΔK where a replace_kr run exists), in percentage points."""
    keys = ["acc", "delta_v", "delta_vk"] + (["delta_k"] if _has_replace_kr(report) else [])
    rows = []
    for m in report.models:
        for label, metrics, flag, _n, marks in _clinhallu_rows(m):
            rows.append([label + flag, m.name] + [_cell(metrics, marks, k, 1, sign=k != "acc") for k in keys])
    if not rows:
        return ""
    rows.sort(key=lambda r: 0 if r[0].startswith("Average") else 1 + _split_order(r[0]))
    header = ["Split", "Model", "ACC", "ΔV", "ΔVK"] + (["ΔK"] if "delta_k" in keys else [])
    return md_table(header, rows)


def _judge_cell(counts: dict[str, dict[str, int]], field: str) -> str:
    parts = []
    for metric in sorted(counts):
        short = metric.replace("clinhallu_", "").replace("medhalltune_", "")
        parts.append(f"{short} {counts[metric][field]}")
    return ", ".join(parts) if parts else DASH


def validity_md(report: Report) -> str:
    """Per model, source and run: items, valid traces, rule accuracy, judge failures and no-calls."""
    rows = []
    for m in report.models:
        for src in m.sources.values():
            for run, r in src.runs.items():
                n = "" if r.n is None else str(r.n)
                if r.partial:
                    n += f" of {r.n_original}*"
                rows.append(
                    [
                        m.name,
                        src.label,
                        run,
                        n or DASH,
                        fmt(r.valid_rate.value, 1),
                        fmt(r.acc_rule.value, 1),
                        _judge_cell(r.judge_counts, "excluded"),
                        _judge_cell(r.judge_counts, "failures"),
                        _judge_cell(r.judge_counts, "no_call"),
                    ]
                )
    if not rows:
        return ""
    header = ["Model", "Source", "Run", "Items", "Valid %", "Rule acc %", "Excluded", "Judge failures", "No call"]
    return md_table(header, rows, ["l", "l", "l"] + ["r"] * 6)


def medhalltune_md(report: Report) -> str:
    """The published layout (P / N per score), then every number with its interval."""
    blocks = []
    for subset in sorted({s for m in report.models for s in m.medhalltune}):
        header = ["Group", "Model"] + [f"{label} {p}" for _, label, _ in MEDHALLTUNE_COLUMNS for p in ("P", "N")]
        rows, ci_rows = [], []
        for m in report.models:
            splits = m.medhalltune.get(subset)
            if not splits:
                continue
            row = ["Sample subset (not comparable)" if subset else "Evaluated", m.name]
            for key, _, _ in MEDHALLTUNE_COLUMNS:
                for p in ("P", "N"):
                    r = splits.get(p)
                    cell = fmt(r.metrics[key].value, 2) if r else DASH
                    row.append(cell + ("*" if r and r.partial and cell != DASH else ""))
            rows.append(row)
            for p in ("P", "N"):
                r = splits.get(p)
                if r is None:
                    continue
                n = "" if r.n is None else str(r.n) + (f" of {r.n_original}*" if r.partial else "")
                ci_rows.append(
                    [m.name, p, n or DASH]
                    + [fmt_ci(r.metrics[k], 2) for k in MEDHALLTUNE_KEYS]
                    + [_judge_cell(r.judge_counts, "failures")]
                )
        title = f"### {subset.capitalize()} subset (not comparable with the full benchmark)" if subset else ""
        ci_header = ["Model", "Split", "Items"] + [METRIC_LABELS[k] for k in MEDHALLTUNE_KEYS] + ["Judge failures"]
        blocks.append(
            (f"{title}\n\n" if title else "")
            + "Judge scores are means on the 1-10 scale (higher is better); BERTScore and METEOR on 0-1.\n\n"
            + md_table(header, rows, ["l", "l"] + ["r"] * (len(header) - 2))
            + f"\n\nWith {_pct_level(report)} intervals:\n\n"
            + md_table(ci_header, ci_rows, ["l", "l"] + ["r"] * (len(ci_header) - 2))
        )
    return "\n\n".join(blocks)


def differences_md(report: Report, max_models_all_pairs: int = 4) -> str:
    """Pairwise differences A − B; with many models, only each model against the first one."""
    diffs = report.differences
    if len(report.models) > max_models_all_pairs:
        first = report.models[0].name
        diffs = [d for d in diffs if d.a == first or d.b == first]
    rows = [
        [
            d.a,
            d.b,
            d.scope,
            METRIC_LABELS.get(d.metric, d.metric),
            fmt(d.value, decimals(d.metric), sign=True),
            DASH
            if d.ci is None
            else f"[{fmt(d.ci[0], decimals(d.metric), sign=True)}, {fmt(d.ci[1], decimals(d.metric), sign=True)}]",
            _verdict(d),
            d.pairing,
        ]
        for d in diffs
    ]
    if not rows:
        return ""
    header = ["Model A", "Model B", "Split", "Metric", "A − B", f"{_pct_level(report)} interval", "Excludes 0", "Items"]
    return md_table(header, rows, ["l", "l", "l", "l", "r", "r", "c", "l"])


def _pct_level(report: Report) -> str:
    return f"{report.bootstrap.level * 100:g}%"


def _verdict(d: Difference) -> str:
    if d.ci is None:
        return DASH
    return "yes" if d.ci[0] > 0 or d.ci[1] < 0 else "no"


def leaderboard_md(report: Report, generated: datetime | None = None) -> str:
    """The whole leaderboard.md."""
    generated = generated or datetime.now(timezone.utc)
    boot = report.bootstrap
    parts = [
        "# Leaderboard",
        f"Generated {generated.strftime('%Y-%m-%d %H:%M UTC')} by `clinhallu-tasks report` from "
        f"{len(report.models)} model(s). Intervals: {_pct_level(report)} percentile bootstrap over items "
        f"({boot.iters} resamples, seed {boot.seed}); the average resamples each source independently; "
        "differences resample both models on the same items.",
        "Marks: `*` evaluated on a subset of the items (`--limit`); `[k/4]` average over k sources only "
        "(`--allow-partial-average`); `—` missing (not run, or no judge configured).",
    ]
    if any(m.sources for m in report.models):
        parts += [
            "## ClinHallu",
            "Percent. Acc: answer accuracy (baseline); H^V, H^K, H^R: hallucination rate of the Visual "
            "Recognition (baseline), Knowledge Recall (after gold VR) and Reasoning (after gold VR and KR) "
            "steps; lower is better. Avg: unweighted mean of the four sources.",
            clinhallu_glance(report),
            f"### With {_pct_level(report)} intervals",
            clinhallu_md(report),
            "### Intervention",
            "ACC: baseline accuracy; ΔV, ΔVK, ΔK: accuracy change (points) when the gold Visual Recognition, "
            "both gold steps, or the gold Knowledge Recall (replace_kr) is given.",
            intervention_md(report),
            "### Validity and judging",
            "Excluded: answers left out of accuracy (invalid trace or no verdict); Judge failures: calls that "
            "failed after retries; No call: verdicts decided without a judge call (e.g. an empty step).",
            validity_md(report),
        ]
    med = medhalltune_md(report)
    if med:
        parts += ["## MedHallTune", med]
    diffs = differences_md(report)
    if diffs:
        parts += ["## Differences between models", diffs]
    notes = [f"- {m.name}: {n}" for m in report.models for n in dict.fromkeys(m.notes)]
    notes += [f"- {n}" for n in report.notes]
    if notes:
        parts += ["## Notes", "\n".join(notes)]
    return "\n\n".join(p for p in parts if p) + "\n"


# --------------------------------------------------------------------------- CSV


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _ci_cells(est: Estimate | None, places: int) -> list[str]:
    if est is None or est.ci is None or est.value is None:
        return ["", ""]
    return [f"{est.ci[0]:.{places}f}", f"{est.ci[1]:.{places}f}"]


def leaderboard_csv(report: Report) -> str:
    """ClinHallu in the official CSV layout (split, model, acc, H_V, H_K, H_R), then intervals and status."""
    header = ["split", "model"] + [c for _, _, c in HEADLINE_COLUMNS]
    header += [f"{c}_ci_{e}" for _, _, c in HEADLINE_COLUMNS for e in ("low", "high")] + ["n", "status"]
    rows = []
    for m in report.models:
        for label, metrics, flag, n, marks in _clinhallu_rows(m):
            row: list[object] = [label, m.name]
            row += [fmt(metrics[k].value if k in metrics else None, 1, "") for k, _, _ in HEADLINE_COLUMNS]
            for k, _, _ in HEADLINE_COLUMNS:
                row += _ci_cells(metrics.get(k), 1)
            row += ["" if n is None else n, _status(metrics, flag, marks)]
            rows.append(row)
    rows.sort(key=lambda r: 0 if str(r[0]).startswith("Average") else 1 + _split_order(str(r[0])))
    return _csv(header, rows)


def _avg_n(m: ModelReport) -> int | None:
    ns = [s.n for s in m.main_sources]
    return sum(ns) if ns and all(n is not None for n in ns) else None  # type: ignore[misc]


def _status(metrics: dict[str, Estimate], flag: str, marks: dict[str, str]) -> str:
    core = [metrics.get(k, Estimate(None)).value for k, _, _ in HEADLINE_COLUMNS]
    if all(v is None for v in core):
        return "missing"
    parts = []
    if flag.strip() == "*":
        parts.append("partial (subset of items)")
    averaged = [f"{c} {marks[k].strip()[1:-1]}" for k, _, c in HEADLINE_COLUMNS if marks.get(k)]
    if averaged:
        parts.append("partial average (" + ", ".join(averaged) + " sources)")
    if any(v is None for v in core):
        parts.append("incomplete")
    return "; ".join(parts) or "complete"


def intervention_csv(report: Report) -> str:
    """split, model, ACC, delta_V, delta_VK, delta_K with intervals."""
    keys = (("acc", "ACC"), ("delta_v", "delta_V"), ("delta_vk", "delta_VK"), ("delta_k", "delta_K"))
    header = ["split", "model"] + [c for _, c in keys] + [f"{c}_ci_{e}" for _, c in keys for e in ("low", "high")]
    rows = []
    for m in report.models:
        for label, metrics, _, _, _ in _clinhallu_rows(m):
            row: list[object] = [label, m.name] + [
                fmt(metrics[k].value if k in metrics else None, 1, "") for k, _ in keys
            ]
            for k, _ in keys:
                row += _ci_cells(metrics.get(k), 1)
            rows.append(row)
    return _csv(header, rows)


def validity_csv(report: Report) -> str:
    """One row per model, source, run: items, validity, rule accuracy, judge counts per metric."""
    header = [
        "model", "source", "run", "task", "n", "n_original", "valid_rate", "acc_rule",
        "judged_metric", "judge_lines", "excluded", "judge_failures", "no_call", "cached",
    ]  # fmt: skip
    rows = []
    for m in report.models:
        for src in m.sources.values():
            for run, r in src.runs.items():
                base = [m.name, src.label, run, r.task, r.n, r.n_original, fmt(r.valid_rate.value, 1, ""),
                        fmt(r.acc_rule.value, 1, "")]  # fmt: skip
                if not r.judge_counts:
                    rows.append(base + ["", "", "", "", "", ""])
                for metric, c in sorted(r.judge_counts.items()):
                    rows.append(base + [metric, c["lines"], c["excluded"], c["failures"], c["no_call"], c["cached"]])
        for subset, splits in m.medhalltune.items():
            for split, r in splits.items():
                base = [
                    m.name,
                    f"MedHallTune{' ' + subset if subset else ''}",
                    split,
                    r.task,
                    r.n,
                    r.n_original,
                    "",
                    "",
                ]
                if not r.judge_counts:
                    rows.append(base + ["", "", "", "", "", ""])
                for metric, c in sorted(r.judge_counts.items()):
                    rows.append(base + [metric, c["lines"], c["excluded"], c["failures"], c["no_call"], c["cached"]])
    return _csv(header, [["" if v is None else v for v in row] for row in rows])


def medhalltune_csv(report: Report) -> str:
    """MedHallTune in the published CSV layout (group, model, clin_acc_p, clin_acc_n, ...), then extras."""
    cols = [(k, c) for k, _, c in MEDHALLTUNE_COLUMNS] + [("rouge_l", "rouge_l")]
    header = ["group", "model"] + [f"{c}_{p}" for _, c in cols for p in ("p", "n")]
    header += [f"{c}_{p}_ci_{e}" for _, c in cols for p in ("p", "n") for e in ("low", "high")]
    header += ["n_p", "n_n", "status"]
    rows = []
    for m in report.models:
        for subset, splits in sorted(m.medhalltune.items()):
            row: list[object] = ["Sample subset (not comparable)" if subset else "Evaluated", m.name]
            for k, _ in cols:
                for p in ("P", "N"):
                    r = splits.get(p)
                    row.append(fmt(r.metrics[k].value, 2, "") if r else "")
            for k, _ in cols:
                for p in ("P", "N"):
                    r = splits.get(p)
                    row += _ci_cells(r.metrics[k] if r else None, 2)
            row += [splits["P"].n if "P" in splits else "", splits["N"].n if "N" in splits else ""]
            partial = any(r.partial for r in splits.values())
            status = "missing split" if len(splits) < 2 else ("partial (subset of items)" if partial else "complete")
            row.append(status)
            rows.append(["" if v is None else v for v in row])
    return _csv(header, rows)


def differences_csv(report: Report) -> str:
    """Every pairwise difference with its interval (rounded as its metric)."""
    header = ["model_a", "model_b", "benchmark", "split", "metric", "difference", "ci_low", "ci_high", "items"]
    rows = []
    for d in report.differences:
        p = decimals(d.metric)
        rows.append(
            [d.a, d.b, d.benchmark, d.scope, d.metric, f"{d.value:.{p}f}"]
            + (["", ""] if d.ci is None else [f"{d.ci[0]:.{p}f}", f"{d.ci[1]:.{p}f}"])
            + [d.pairing]
        )
    return _csv(header, rows)


def console_summary(report: Report) -> str:
    """A few lines for the terminal: each model's ClinHallu average and MedHallTune P/N accuracy score."""
    lines = []
    for m in report.models:
        bits = []
        if m.average is not None:
            a = m.average.metrics
            bits.append("ClinHallu avg " + ", ".join(f"{lab} {fmt(a[k].value, 1)}" for k, lab, _ in HEADLINE_COLUMNS))
        else:
            for src in m.sources.values():
                bits.append(
                    f"ClinHallu {src.label} "
                    + ", ".join(f"{lab} {fmt(src.metrics[k].value, 1)}" for k, lab, _ in HEADLINE_COLUMNS)
                )
        for subset, splits in sorted(m.medhalltune.items()):
            name = "MedHallTune" + (f" {subset}" if subset else "")
            bits.append(
                f"{name} clinical accuracy "
                + " / ".join(
                    f"{p} {fmt(splits[p].metrics['clinical_accuracy'].value, 2)}" for p in ("P", "N") if p in splits
                )
            )
        lines.append(f"{m.name}: " + ("; ".join(bits) if bits else "no ClinHallu or MedHallTune tasks"))
    return "\n".join(lines)
