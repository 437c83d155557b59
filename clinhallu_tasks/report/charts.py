"""PNG charts from the report's rows: stage rates per source for each model, models side by side, MedHallTune.

matplotlib (the ``report`` extra) is imported only to draw, with the headless Agg backend.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clinhallu_tasks.report.scores import HEADLINE_METRICS, Estimate, Report, Row
from clinhallu_tasks.spec import clinhallu as ch
from clinhallu_tasks.spec import medhalltune as mh

COLORS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C")
STAGES = tuple(m.key for m in ch.STAGE_METRICS.values())
DPI = 150


def slug(name: str) -> str:
    """A file-name-safe form of a model name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


def matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _bars(ax: Any, groups: Sequence[str], series: Sequence[tuple[str, Sequence[Estimate]]], top: float) -> None:
    """Horizontal bars, one slot per series in each group, with interval whiskers and the value (or why not)."""
    slot = 0.8 / max(1, len(series))
    for i, (label, ests) in enumerate(series):
        ys = [len(groups) - 1 - g + 0.4 - slot * (i + 0.5) for g in range(len(groups))]
        values = [e.value or 0.0 for e in ests]
        errors = [[max(0.0, (e.value or 0) - e.ci[0]) if e.ci else 0.0 for e in ests],
                  [max(0.0, e.ci[1] - (e.value or 0)) if e.ci else 0.0 for e in ests]]
        ax.barh(ys, values, slot * 0.9, xerr=errors, capsize=2, color=COLORS[i % len(COLORS)], label=label)
        for y, e in zip(ys, ests, strict=True):
            text = f"{e.value:.1f}" if e.value is not None else (e.missing or "n/a")
            ax.annotate(text, (e.ci[1] if e.ci else e.value or 0.0, y), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=7)
    ax.set_yticks(range(len(groups))[::-1], list(groups), fontsize=8)
    ax.set_xlim(0, top)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)


def _figure(panels: int, rows: int, title: str) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, panels, figsize=(4 * panels + 2, 1.8 + 0.45 * rows), dpi=DPI, sharey=True,
                             squeeze=False)
    fig.suptitle(title)
    return fig, axes[0]


def _save(fig: Any, axes: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path)
    plt.close(fig)
    return path


def _ran(rows: Sequence[Row]) -> list[Row]:
    return [r for r in rows if r.status != "missing"]


def stage_chart(report: Report, index: int, path: Path) -> Path | None:
    model = report.models[index]
    rows = _ran(model.clinhallu_rows)
    if not rows:
        return None
    fig, axes = _figure(1, len(rows) * 3, f"{model.name}: hallucination rate by stage (%, lower is better)")
    _bars(axes[0], [r.label for r in rows], [(HEADLINE_METRICS[k].label, [r.get(k) for r in rows]) for k in STAGES],
          115)
    return _save(fig, axes, path)


def comparison_chart(report: Report, path: Path) -> Path | None:
    labels = list(dict.fromkeys(r.label for m in report.models for r in _ran(m.clinhallu_rows)))
    if not labels or len(report.models) < 2:
        return None
    fig, axes = _figure(len(HEADLINE_METRICS), len(labels) * len(report.models),
                        f"ClinHallu, models side by side ({report.bootstrap.level:.0%} intervals)")
    for ax, (key, metric) in zip(axes, HEADLINE_METRICS.items(), strict=True):
        series = []
        for m in report.models:
            rows = {r.label: r for r in m.clinhallu_rows}
            series.append((m.name, [rows[g].get(key) if g in rows else Estimate(None) for g in labels]))
        _bars(ax, labels, series, 115)
        ax.set_title(f"{metric.label} (%), {'higher' if metric.higher_is_better else 'lower'} is better")
    return _save(fig, axes, path)


def medhalltune_chart(report: Report, path: Path) -> Path | None:
    groups = [(f"{m.name}{' (sample)' if sample else ''} {r.label}", r)
              for m in report.models for sample, rows in m.medhalltune.items() for r in _ran(rows)]
    if not groups:
        return None
    fig, axes = _figure(len(mh.DIMENSIONS), len(groups), "MedHallTune judge scores (1-10, higher is better)")
    for ax, dim in zip(axes, mh.DIMENSIONS, strict=True):
        _bars(ax, [g for g, _ in groups], [(dim.label, [r.get(dim.key) for _, r in groups])], 10.5)
        ax.set_title(dim.label)
    return _save(fig, axes, path)


def write_charts(report: Report, folder: Path) -> list[Path]:
    """Every chart that has data; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    names: set[str] = set()
    written = []
    for i, m in enumerate(report.models):
        name = slug(m.name)
        while name in names:
            name += "_"
        names.add(name)
        written.append(stage_chart(report, i, folder / f"stages_{name}.png"))
    written.append(comparison_chart(report, folder / "comparison.png"))
    written.append(medhalltune_chart(report, folder / "medhalltune.png"))
    return [p for p in written if p is not None]
