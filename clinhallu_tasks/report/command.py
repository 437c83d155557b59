"""`clinhallu-tasks report PATH... [--out DIR]`: leaderboards, intervals, charts and submission.json."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

from clinhallu_tasks.records import RecordError
from clinhallu_tasks.report import tables
from clinhallu_tasks.report.bootstrap import DEFAULT_ITERS, DEFAULT_LEVEL, DEFAULT_SEED
from clinhallu_tasks.report.charts import matplotlib_available, slug, write_charts
from clinhallu_tasks.report.inputs import load
from clinhallu_tasks.report.scores import build_report
from clinhallu_tasks.report.submission import build_submission, validate_submission, write_json

DEFAULT_OUT = "report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the report command's arguments to `parser`."""
    parser.add_argument("paths", metavar="PATH", nargs="+", type=Path,
                        help="run folder(s) holding task records (<task>.summary.json), searched at any depth")
    parser.add_argument("--out", metavar="DIR", type=Path, default=Path(DEFAULT_OUT),
                        help=f"output folder (default: ./{DEFAULT_OUT})")
    parser.add_argument("--bootstrap-iters", type=int, default=DEFAULT_ITERS, metavar="N",
                        help=f"bootstrap resamples per interval (default: {DEFAULT_ITERS})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"bootstrap seed (default: {DEFAULT_SEED})")
    parser.add_argument("--confidence", type=float, default=DEFAULT_LEVEL, metavar="LEVEL",
                        help=f"interval level (default: {DEFAULT_LEVEL})")
    parser.add_argument("--allow-partial-average", action="store_true",
                        help="average the ClinHallu sources present even when fewer than four (marked partial)")
    parser.add_argument("--group-by", choices=("model", "folder"), default="model",
                        help="one row per model and framework (default), or keep each PATH apart")
    parser.add_argument("--no-charts", action="store_true", help="skip the PNG charts")


def run(args: argparse.Namespace) -> int:
    """0 on success, 1 when a submission breaks its schema, 2 when the records cannot be read."""
    try:
        models = load(args.paths, group_by=args.group_by)
        report = build_report(models, iters=args.bootstrap_iters, seed=args.seed, level=args.confidence,
                              allow_partial_average=args.allow_partial_average)
    except (RecordError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    generated = datetime.now(timezone.utc)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    texts = {
        "leaderboard.md": tables.leaderboard_md(report, generated),
        "leaderboard.csv": tables.leaderboard_csv(report),
        "intervention.csv": tables.intervention_csv(report),
        "validity.csv": tables.validity_csv(report),
        "cost.csv": tables.cost_csv(report),
    }
    if any(m.medhalltune for m in report.models):
        texts["medhalltune_leaderboard.csv"] = tables.medhalltune_csv(report)
    if report.differences:
        texts["differences.csv"] = tables.differences_csv(report)
    written = []
    for name, text in texts.items():
        (out / name).write_text(text, encoding="utf-8")
        written.append(out / name)

    rc = 0
    names: set[str] = set()
    for model in report.models:
        doc = build_submission(model, report, generated)
        name = "submission.json" if len(report.models) == 1 else f"submission_{slug(model.name)}.json"
        while name in names:
            name = name.replace(".json", "_.json")
        names.add(name)
        errors = validate_submission(doc)
        if errors:
            rc, name = 1, name.replace(".json", ".invalid.json")
            print(f"error: {name} does not match the submission schema:", *errors[:20], sep="\n  ", file=sys.stderr)
        write_json(out / name, doc)
        written.append(out / name)

    if not args.no_charts and matplotlib_available():
        written += write_charts(report, out / "charts")
    elif not args.no_charts:
        print("note: matplotlib is not installed; charts skipped (pip install 'clinhallu-tasks[report]')",
              file=sys.stderr)

    print(tables.console_summary(report))
    for model in report.models:
        for note in dict.fromkeys(model.notes):
            print(f"note: {model.name}: {note}")
    print(f"wrote {len(written)} files to {out}:", *written, sep="\n  ")
    return rc


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry: ``python -m clinhallu_tasks.report PATH... [--out DIR]``."""
    parser = argparse.ArgumentParser(prog="clinhallu-tasks report", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))
