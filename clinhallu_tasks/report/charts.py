"""PNG charts: per-stage hallucination rates per source for each model, and model comparisons.

matplotlib (the ``report`` extra) is imported only when a chart is drawn, with the non-interactive
Agg backend, so the report runs headless; without matplotlib the charts are skipped with a message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clinhallu_tasks.report.scores import FOUR_SOURCES, MEDHALLTUNE_KEYS, Estimate, ModelReport, Report

STAGES = (
    ("h_v", r"$H^V$ Visual Recognition"),
    ("h_k", r"$H^K$ Knowledge Recall (after gold VR)"),
    ("h_r", r"$H^R$ Reasoning (after gold VR + KR)"),
)
STAGE_COLORS = ("#4C72B0", "#DD8452", "#55A868")
MODEL_COLORS = (
    "#4C72B0",
    "#DD8452",
    "#55A868",
    "#C44E52",
    "#8172B3",
    "#937860",
    "#DA8BC3",
    "#8C8C8C",
    "#CCB974",
    "#64B5CD",
)
DPI = 150


def slug(name: str) -> str:
    """A file-name-safe form of a model name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def matplotlib_available() -> bool:
    """True when matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _err(ests: Sequence[Estimate | None]) -> list[list[float]]:
    low, high = [], []
    for e in ests:
        if e is None or e.value is None or e.ci is None:
            low.append(0.0)
            high.append(0.0)
        else:
            low.append(max(0.0, e.value - e.ci[0]))
            high.append(max(0.0, e.ci[1] - e.value))
    return [low, high]


def _val(e: Estimate | None) -> float:
    return 0.0 if e is None or e.value is None else float(e.value)


def _groups(model: ModelReport) -> list[tuple[str, dict[str, Estimate]]]:
    groups = [(model.sources[s].label, model.sources[s].metrics) for s in FOUR_SOURCES if s in model.sources]
    if model.average is not None and any(model.average.metrics[k].value is not None for k, _ in STAGES):
        groups.append(("Average", model.average.metrics))
    groups += [(f"{s.label}", s.metrics) for s in model.other_sources]
    return groups


def stage_chart(model: ModelReport, path: Path) -> Path | None:
    """Grouped bars: H^V, H^K, H^R (with bootstrap intervals) for each source and the average of one model."""
    groups = _groups(model)
    if not groups:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(groups) + 2), 4.2), dpi=DPI)
    width = 0.26
    for i, ((key, label), color) in enumerate(zip(STAGES, STAGE_COLORS, strict=False)):
        ests = [metrics.get(key) for _, metrics in groups]
        xs = [g + (i - 1) * width for g in range(len(groups))]
        bars = ax.bar(xs, [_val(e) for e in ests], width, yerr=_err(ests), capsize=3, color=color, label=label)
        for bar, e in zip(bars, ests, strict=False):
            text = "n/a" if e is None or e.value is None else f"{e.value:.1f}"
            top = e.ci[1] if e is not None and e.ci is not None else bar.get_height()
            ax.annotate(
                text,
                (bar.get_x() + bar.get_width() / 2, top),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=7,
            )
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([g for g, _ in groups])
    ax.set_ylabel("Hallucination rate (%)")
    ax.set_title(f"{model.name}: hallucination rate by reasoning stage (lower is better)")
    ax.legend(loc="upper left", fontsize=8, frameon=False, ncol=3)
    ax.set_ylim(0, 115)
    ax.set_yticks(range(0, 101, 20))
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def comparison_chart(report: Report, path: Path) -> Path | None:
    """Models side by side on Acc, H^V, H^K, H^R for every source and the average (95% intervals)."""
    models = [m for m in report.models if m.sources]
    if not models:
        return None
    groups: list[tuple[str, Any]] = []
    for s in [*FOUR_SOURCES, *sorted({x for m in models for x in m.sources} - set(FOUR_SOURCES))]:
        if any(s in m.sources for m in models):
            groups.append((_scope_label(s), lambda m, s=s: m.sources[s].metrics if s in m.sources else {}))
    if any(m.average is not None and any(e.value is not None for e in m.average.metrics.values()) for m in models):
        groups.append(("Average", lambda m: m.average.metrics if m.average is not None else {}))
    panels = (
        ("acc", "Acc (%), higher is better"),
        ("h_v", r"$H^V$ (%), lower is better"),
        ("h_k", r"$H^K$ (%), lower is better"),
        ("h_r", r"$H^R$ (%), lower is better"),
    )
    plt = _pyplot()
    k = len(models)
    slot = 0.8 / k
    fig, axes = plt.subplots(1, 4, figsize=(15, 1.6 + 0.32 * k * len(groups) + 0.3 * len(groups)), dpi=DPI, sharey=True)
    centers = list(range(len(groups)))[::-1]
    for ax, (key, title) in zip(axes, panels, strict=True):
        for i, m in enumerate(models):
            ests = [getter(m).get(key) for _, getter in groups]
            ys = [c + 0.4 - slot * (i + 0.5) for c in centers]
            color = MODEL_COLORS[i % len(MODEL_COLORS)]
            ax.barh(ys, [_val(e) for e in ests], slot * 0.9, xerr=_err(ests), capsize=2, color=color, label=m.name)
            for y, e in zip(ys, ests, strict=True):
                text = "n/a" if e is None or e.value is None else f"{e.value:.1f}"
                right = e.ci[1] if e is not None and e.ci is not None and e.value is not None else _val(e)
                ax.annotate(text, (right, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
        ax.set_title(title)
        ax.set_xlim(0, 112)
        ax.set_xticks(range(0, 101, 20))
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
        ax.set_yticks(centers)
        ax.set_yticklabels([g for g, _ in groups])
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(k, 5), frameon=False)
    fig.suptitle(f"ClinHallu: models side by side; bars show {report.bootstrap.level * 100:g}% intervals")
    fig.tight_layout(rect=(0, 0.04 + 0.03 * ((k - 1) // 5 + 1), 1, 1))
    fig.savefig(path)
    plt.close(fig)
    return path


def _scope_label(source: str) -> str:
    from clinhallu_tasks.report.scores import SOURCE_LABELS

    return SOURCE_LABELS.get(source, source)


def medhalltune_chart(report: Report, path: Path) -> Path | None:
    """P and N judge scores (1-10) for each model, one panel per score."""
    rows = [(m, subset, splits) for m in report.models for subset, splits in sorted(m.medhalltune.items())]
    if not rows:
        return None
    keys = MEDHALLTUNE_KEYS[:4]
    titles = ("Clinical Accuracy", "Clinical Relevance", "Detail Level", "Risk Level")
    plt = _pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(14, 1.6 + 0.6 * len(rows) + 1.0), dpi=DPI, sharey=True)
    labels = [m.name + (f" ({subset})" if subset else "") for m, subset, _ in rows]
    height = 0.38
    for ax, key, title in zip(axes, keys, titles, strict=False):
        for j, (split, color) in enumerate((("P", "#4C72B0"), ("N", "#C44E52"))):
            ests = [splits.get(split).metrics[key] if splits.get(split) else None for _, _, splits in rows]
            ys = [len(rows) - 1 - i + (0.2 if j == 0 else -0.2) for i in range(len(rows))]
            ax.barh(ys, [_val(e) for e in ests], height, xerr=_err(ests), capsize=2, color=color, label=split)
        ax.set_title(title)
        ax.set_xlim(0, 10)
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
        ax.set_yticks(list(range(len(rows)))[::-1])
        ax.set_yticklabels(labels, fontsize=8)
    handles, legend_labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, ["P (non-hallucination)", "N (hallucination)"], loc="lower center", ncol=2, frameon=False)
    fig.suptitle(
        f"MedHallTune judge scores (1-10, higher is better); bars show {report.bootstrap.level * 100:g}% intervals"
    )
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path)
    plt.close(fig)
    return path


def write_charts(report: Report, out_dir: Path) -> list[Path]:
    """Draw every chart that has data into `out_dir`; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path | None] = []
    used: set[str] = set()
    for m in report.models:
        name = slug(m.name)
        while name in used:
            name += "_"
        used.add(name)
        written.append(stage_chart(m, out_dir / f"stages_{name}.png"))
    written.append(comparison_chart(report, out_dir / "comparison.png"))
    written.append(medhalltune_chart(report, out_dir / "medhalltune.png"))
    return [p for p in written if p is not None]
