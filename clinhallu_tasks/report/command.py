"""`clinhallu-tasks report PATH... [--out DIR]`: leaderboards, intervals, charts and submission.json."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

from clinhallu_tasks.report.bootstrap import DEFAULT_ITERS, DEFAULT_LEVEL, DEFAULT_SEED
from clinhallu_tasks.report.charts import matplotlib_available, slug, write_charts
from clinhallu_tasks.report.inputs import load_models
from clinhallu_tasks.report.scores import build_report
from clinhallu_tasks.report.submission import build_submission, validate_submission, write_json
from clinhallu_tasks.report.tables import (
    console_summary,
    differences_csv,
    intervention_csv,
    leaderboard_csv,
    leaderboard_md,
    medhalltune_csv,
    validity_csv,
)

DEFAULT_OUT = "report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the report command's arguments to `parser`."""
    parser.add_argument(
        "paths",
        metavar="PATH",
        nargs="+",
        help="lmms-eval output folder(s) (--output_path), model folder(s) or *_results.json file(s)",
    )
    parser.add_argument("--out", metavar="DIR", default=DEFAULT_OUT, help=f"output folder (default: ./{DEFAULT_OUT})")
    parser.add_argument(
        "--bootstrap-iters",
        type=int,
        default=DEFAULT_ITERS,
        metavar="N",
        help=f"bootstrap resamples per interval (default: {DEFAULT_ITERS})",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"bootstrap seed (default: {DEFAULT_SEED})")
    parser.add_argument(
        "--confidence",
        type=float,
        default=DEFAULT_LEVEL,
        metavar="LEVEL",
        help=f"interval level (default: {DEFAULT_LEVEL})",
    )
    parser.add_argument(
        "--allow-partial-average",
        action="store_true",
        help="average the ClinHallu sources present even when fewer than four (marked partial)",
    )
    parser.add_argument(
        "--group-by",
        choices=("model", "folder"),
        default="model",
        help="merge results files by lmms-eval model name (default) or keep each model folder apart",
    )
    parser.add_argument("--no-charts", action="store_true", help="skip the PNG charts")


def run(args: argparse.Namespace) -> int:
    """Run the report; 0 on success, 1 when a submission fails its schema, 2 when nothing could be read."""
    out = Path(args.out)
    models, problems = load_models(args.paths, group_by=getattr(args, "group_by", "model"))
    for p in problems:
        print(f"warning: {p}", file=sys.stderr)
    if not models:
        print(
            "error: no lmms-eval results (*_results.json) found under: " + ", ".join(map(str, args.paths)),
            file=sys.stderr,
        )
        return 2
    if not any(m.tasks for m in models):
        print("error: the results files hold no ClinHallu or MedHallTune task", file=sys.stderr)
        return 2
    models = [m for m in models if m.tasks]
    try:
        report = build_report(
            models,
            iters=args.bootstrap_iters,
            seed=args.seed,
            level=args.confidence,
            allow_partial_average=args.allow_partial_average,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report.notes.extend(problems)
    if not any(t.has_samples for m in models for t in m.tasks.values()):
        report.notes.append(
            "No sample logs were found (lmms-eval --log_samples): the numbers are those of the results files, "
            "without confidence intervals and without a data fingerprint."
        )

    generated = datetime.now(timezone.utc)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    rc = 0

    def emit(name: str, text: str) -> None:
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)

    emit("leaderboard.md", leaderboard_md(report, generated))
    emit("leaderboard.csv", leaderboard_csv(report))
    emit("intervention.csv", intervention_csv(report))
    emit("validity.csv", validity_csv(report))
    if any(m.medhalltune for m in report.models):
        emit("medhalltune_leaderboard.csv", medhalltune_csv(report))
    if report.differences:
        emit("differences.csv", differences_csv(report))

    names: set[str] = set()
    for m in report.models:
        doc = build_submission(m, report, generated)
        if len(report.models) == 1:
            name = "submission.json"
        else:
            name = f"submission_{slug(m.name)}.json"
            while name in names:
                name = name.replace(".json", "_.json")
        names.add(name)
        errors = validate_submission(doc)
        if errors:
            rc = 1
            name = name.replace(".json", ".invalid.json")
            print(f"error: {name} does not match the submission schema:", file=sys.stderr)
            for e in errors[:20]:
                print(f"  {e}", file=sys.stderr)
        write_json(out / name, doc)
        written.append(out / name)

    if args.no_charts:
        pass
    elif matplotlib_available():
        written.extend(write_charts(report, out / "charts"))
    else:
        print(
            "note: matplotlib is not installed; charts skipped (pip install 'clinhallu-tasks[report]')", file=sys.stderr
        )

    print(console_summary(report))
    for m in report.models:
        for note in dict.fromkeys(m.notes):
            print(f"note: {m.name}: {note}")
    for note in report.notes:
        print(f"note: {note}")
    print(f"wrote {len(written)} files to {out}:")
    for p in written:
        print(f"  {p}")
    return rc


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry: ``python -m clinhallu_tasks.report PATH... [--out DIR]``."""
    parser = argparse.ArgumentParser(prog="clinhallu-tasks report", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))
