"""`clinhallu-tasks judge-agreement RUN_A RUN_B`: how far two judges agree on the same model outputs.

Works on the record files alone (no model, no judge call, no network). Exit 0 on success, 2 when
the arguments are wrong or the records cannot be read or compared.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from clinhallu_tasks.agreement import stats
from clinhallu_tasks.agreement.comparison import AgreementRow, Comparison, Disagreement, Estimate, compare
from clinhallu_tasks.agreement.pairing import AgreementError, RunPair, pair_runs

DEFAULT_LISTED = 20
DEFAULT_SCORE_GAP = 2.0
REASON_WIDTH = 80  # characters of each judge's explanation on the console; --out keeps them whole
OUT_SUFFIXES = (".json", ".csv")
DISAGREEMENT_FIELDS = tuple(field.name for field in dataclasses.fields(Disagreement))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the judge-agreement command's arguments to `parser`."""
    parser.add_argument("run_a", metavar="RUN_A", type=Path,
                        help="folder of the first judged run (e.g. the official judge)")
    parser.add_argument("run_b", metavar="RUN_B", type=Path,
                        help="folder of the second judged run over the same model outputs (e.g. a cheaper judge)")
    parser.add_argument("--bootstrap", type=int, default=stats.DEFAULT_BOOTSTRAP, metavar="N",
                        help=f"bootstrap resamples per interval (default: {stats.DEFAULT_BOOTSTRAP})")
    parser.add_argument("--seed", type=int, default=stats.DEFAULT_SEED,
                        help=f"bootstrap seed (default: {stats.DEFAULT_SEED})")
    parser.add_argument("--max-listed", type=int, default=DEFAULT_LISTED, metavar="N",
                        help=f"disagreeing items printed (default: {DEFAULT_LISTED}; --out writes all)")
    parser.add_argument("--score-gap", type=float, default=DEFAULT_SCORE_GAP, metavar="POINTS",
                        help="MedHallTune: list an item when a dimension's scores are this many points apart or more "
                        f"(default: {DEFAULT_SCORE_GAP:g})")
    parser.add_argument("--out", type=Path, default=None, metavar="FILE",
                        help="write every row, disagreement and settled item: .json (everything) or "
                        ".csv (the disagreements)")


def _usage_problem(args: argparse.Namespace) -> str | None:
    if args.bootstrap < 1:
        return "--bootstrap must be at least 1"
    if args.max_listed < 0:
        return "--max-listed must be 0 or more"
    if not args.score_gap > 0:
        return "--score-gap must be more than 0"
    if args.out is not None and args.out.suffix.lower() not in OUT_SUFFIXES:
        return f"--out {args.out}: the file name must end in .json or .csv"
    return None


def run(args: argparse.Namespace) -> int:
    """Compare the two runs, print the rows and the first disagreements, write --out; 0, or 2 on an error."""
    problem = _usage_problem(args)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        run_pair = pair_runs(args.run_a, args.run_b)
        comparison = compare(run_pair, bootstrap=args.bootstrap, seed=args.seed, score_gap=args.score_gap)
    except AgreementError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for note in _notes(run_pair):
        print(f"note: {note}", file=sys.stderr)
    print_comparison(run_pair, comparison, args.max_listed, sys.stdout, score_gap=args.score_gap)
    if args.out is not None:
        try:
            write_out(args.out, run_pair, comparison)
        except OSError as error:
            print(f"error: cannot write {args.out}: {error.strerror or error}", file=sys.stderr)
            return 2
        print(f"\nwrote {args.out}")
    if not comparison.rows:
        print("error: neither run holds a judge verdict for the items both evaluated", file=sys.stderr)
        return 2
    if not any(row.judged for row in comparison.rows):
        print("error: no item has a verdict from both judges (see settled / failed / no verdict above)",
              file=sys.stderr)
        return 2
    return 0


def _notes(run_pair: RunPair) -> list[str]:
    notes = []
    if run_pair.only_a:
        notes.append(f"only in A, not compared: {', '.join(run_pair.only_a)}")
    if run_pair.only_b:
        notes.append(f"only in B, not compared: {', '.join(run_pair.only_b)}")
    for task in run_pair.tasks:
        if task.only_a or task.only_b:
            notes.append(f"{task.task}: {len(task.common)} items in both runs, {task.only_a} only in A, "
                         f"{task.only_b} only in B (compared on the shared items)")
    return notes


# ---------------------------------------------------------------- console


def _number(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _with_interval(estimate: Estimate | None, digits: int) -> str:
    if estimate is None or estimate.value is None:
        return "n/a"
    text = _number(estimate.value, digits)
    if estimate.interval is None:
        return text + " [n/a]"
    low, high = estimate.interval
    return f"{text} [{low:.{digits}f}, {high:.{digits}f}]"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            for line in (header, *rows)]


def _levels(row: AgreementRow, digits: int) -> str:
    return f"{_number(row.level_a, digits)}/{_number(row.level_b, digits)}"


def _pair(a: int, b: int) -> str:
    return f"{a}/{b}"


def _clinhallu_lines(rows: Sequence[AgreementRow], level: float) -> list[str]:
    percent = f"{round(100 * level)}%"
    header = ("task", "metric", "items", "both judged", "% A/B", f"agreement % [{percent}]", f"kappa [{percent}]",
              "disagree", "settled (differ)", "failed A/B", "no verdict A/B")
    body = [
        (row.task, row.label, str(row.items), str(row.judged), _levels(row, 1), _with_interval(row.agreement, 1),
         _with_interval(row.kappa, 2), str(row.disagreements), f"{row.settled} ({row.settled_differ})",
         _pair(row.failed_a, row.failed_b), _pair(row.missing_a, row.missing_b))
        for row in rows
    ]
    return _table(header, body)


def _medhalltune_lines(rows: Sequence[AgreementRow], level: float, score_gap: float | None) -> list[str]:
    percent = f"{round(100 * level)}%"
    apart = f">= {score_gap:g} apart" if score_gap is not None else "apart"
    header = ("task", "dimension", "items", "both judged", "mean A/B", f"mean |A-B| [{percent}]",
              f"Spearman [{percent}]", apart, "failed A/B", "no verdict A/B")
    body = [
        (row.task, row.label, str(row.items), str(row.judged), _levels(row, 2), _with_interval(row.mad, 2),
         _with_interval(row.spearman, 2), str(row.disagreements),
         _pair(row.failed_a, row.failed_b), _pair(row.missing_a, row.missing_b))
        for row in rows
    ]
    return _table(header, body)


def _short(text: str | None) -> str:
    if text is None:
        return "-"
    flat = " ".join(text.split())
    return flat if len(flat) <= REASON_WIDTH else flat[: REASON_WIDTH - 3] + "..."


def _judges(run_pair: RunPair, side: str) -> str:
    names = sorted({str(getattr(task, f"judge_{side}")) for task in run_pair.tasks})
    return ", ".join(names)


def print_comparison(run_pair: RunPair, comparison: Comparison, max_listed: int, out: TextIO,
                     score_gap: float | None = None) -> None:
    """The rows per benchmark, then the first `max_listed` disagreements."""
    print(f"A: {run_pair.folder_a} (judge {_judges(run_pair, 'a')})", file=out)
    print(f"B: {run_pair.folder_b} (judge {_judges(run_pair, 'b')})", file=out)
    print(f"intervals: {round(100 * comparison.level)}% percentile bootstrap, {comparison.bootstrap} resamples, "
          f"seed {comparison.seed}", file=out)
    clinhallu = [row for row in comparison.rows if row.benchmark == "clinhallu"]
    medhalltune = [row for row in comparison.rows if row.benchmark == "medhalltune"]
    if clinhallu:
        print("\nClinHallu (binary verdicts: agreement and Cohen's kappa)", file=out)
        for line in _clinhallu_lines(clinhallu, comparison.level):
            print(line, file=out)
    if medhalltune:
        print("\nMedHallTune (1-10 scores per dimension: mean absolute difference and Spearman)", file=out)
        for line in _medhalltune_lines(medhalltune, comparison.level, score_gap):
            print(line, file=out)
    _print_disagreements(comparison, max_listed, out)
    _print_settled(comparison, max_listed, out)


def _first(total: int, shown: int) -> str:
    return f" (first {shown}; --out FILE writes all)" if shown < total else ""


def _print_disagreements(comparison: Comparison, max_listed: int, out: TextIO) -> None:
    total = len(comparison.disagreements)
    if not total:
        print("\nno disagreements", file=out)
        return
    shown = comparison.disagreements[:max_listed]
    print(f"\ndisagreements: {total}{_first(total, len(shown))}", file=out)
    for item in shown:
        print(f"  {item.task}  {item.item_id}  {item.metric}: A {item.verdict_a} vs B {item.verdict_b}", file=out)
        print(f"      A: {_short(item.reason_a)}", file=out)
        print(f"      B: {_short(item.reason_b)}", file=out)


def _print_settled(comparison: Comparison, max_listed: int, out: TextIO) -> None:
    # Settled items are decided by rule, not by either judge: they say nothing about agreement,
    # but a difference between the runs means the two runs did not read the outputs alike.
    differing = [item for item in comparison.settled if item.differs]
    if not differing:
        return
    shown = differing[:max_listed]
    print(f"\nsettled without a judge call, recorded differently in A and B: {len(differing)}"
          f"{_first(len(differing), len(shown))}", file=out)
    for item in shown:
        print(f"  {item.task}  {item.item_id}  {item.metric}: A {item.status_a} {item.value_a} vs "
              f"B {item.status_b} {item.value_b}", file=out)


# ---------------------------------------------------------------- --out


def _json_document(run_pair: RunPair, comparison: Comparison) -> dict[str, Any]:
    return {
        "run_a": str(run_pair.folder_a),
        "run_b": str(run_pair.folder_b),
        "judges": {
            task.task: {"a": task.judge_a, "b": task.judge_b} for task in run_pair.tasks
        },
        "bootstrap": comparison.bootstrap,
        "seed": comparison.seed,
        "level": comparison.level,
        "tasks_only_in_a": list(run_pair.only_a),
        "tasks_only_in_b": list(run_pair.only_b),
        "rows": [dataclasses.asdict(row) for row in comparison.rows],
        "disagreements": [dataclasses.asdict(item) for item in comparison.disagreements],
        "settled": [dataclasses.asdict(item) for item in comparison.settled],
    }


def write_out(path: Path, run_pair: RunPair, comparison: Comparison) -> None:
    """Everything as JSON, or the disagreements as CSV, by the file's suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".json":
        document = _json_document(run_pair, comparison)
        path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=DISAGREEMENT_FIELDS)
        writer.writeheader()
        for item in comparison.disagreements:
            writer.writerow(dataclasses.asdict(item))


__all__ = ["add_arguments", "print_comparison", "run", "write_out"]
