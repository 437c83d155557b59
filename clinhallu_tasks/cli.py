"""The `clinhallu-tasks` console command."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path


def _cmd_path(args: argparse.Namespace) -> int:
    from clinhallu_tasks.registration import task_dir

    print(task_dir())
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from clinhallu_tasks.check import run_check

    return run_check(args.root, args.medhalltune, max_listed=args.max_listed or None)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from clinhallu_tasks.doctor import run_doctor

    return run_doctor(probe_judge=args.judge)


def _cmd_demo(args: argparse.Namespace) -> int:
    from clinhallu_tasks.demo import run_demo

    return run_demo(workdir=args.workdir, max_new_tokens=args.max_new_tokens, skip_tiny_model=args.skip_tiny_model)


# Subcommands that live in their own module, each with `add_arguments(parser)` and `run(args) -> int`.
_COMMAND_MODULES: tuple[tuple[str, str, str], ...] = (
    ("run", "clinhallu_tasks.runner.command",
     "the whole official ClinHallu protocol with one lmms-eval model: three runs, resampling of invalid "
     "traces, replace_kr from the final baseline, judging; resumable (docs/run.md)"),
    ("report", "clinhallu_tasks.report.command",
     "leaderboard tables, confidence intervals, cost, charts and submission.json from run records"),
    ("import-prompts", "clinhallu_tasks.official.command",
     "write the official prompt wording from your checkout of ClinHallu or MedHallTune as template files"),
    ("judge-agreement", "clinhallu_tasks.agreement.command",
     "how far two judges agree on the same model outputs (agreement, kappa, Spearman; from the records)"),
)


def _add_module_commands(subparsers) -> None:
    for name, module_name, help_text in _COMMAND_MODULES:
        module = importlib.import_module(module_name)
        parser = subparsers.add_parser(name, help=help_text)
        module.add_arguments(parser)
        parser.set_defaults(func=module.run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clinhallu-tasks", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)

    path = subparsers.add_parser("path", help="print the task YAML folder (for lmms-eval --include_path)")
    path.set_defaults(func=_cmd_path)

    check = subparsers.add_parser(
        "check",
        help="validate data roots: counts against the released benchmark, every bad record, every missing image",
    )
    check.add_argument(
        "root", nargs="?", type=Path, default=None, help="ClinHallu data root (default: $CLINHALLU_DATA_DIR)"
    )
    check.add_argument(
        "--medhalltune", type=Path, default=None, metavar="ROOT",
        help="MedHallTune data root (default: $MEDHALLTUNE_DATA_DIR)",
    )
    check.add_argument(
        "--max-listed", type=int, default=0, metavar="N", help="list at most N problems per kind (default 0: all)"
    )
    check.set_defaults(func=_cmd_check)

    doctor = subparsers.add_parser(
        "doctor",
        help="check what a run needs (lmms-eval, task registration, data roots, WordNet, BERTScore model, "
        "judge settings, torch/GPU/vLLM) without generating anything",
    )
    doctor.add_argument(
        "--judge", action="store_true", help="also send the configured judge one verdict-shaped request (one call)"
    )
    doctor.set_defaults(func=_cmd_doctor)

    demo = subparsers.add_parser(
        "demo",
        help="prove the installation (a tiny random-weight model runs clinhallu_sample through the lmms-eval CLI), "
        "then a clearly labelled SIMULATION (scripted local model and judge) through lmms-eval and the report; "
        "no GPU, no network",
    )
    demo.add_argument(
        "--workdir",
        type=Path,
        default=None,
        metavar="DIR",
        help="the one folder everything is written to (default: ./clinhallu-demo)",
    )
    demo.add_argument(
        "--skip-tiny-model", action="store_true", help="skip the install check with the tiny model; only the simulation"
    )
    demo.add_argument(
        "--max-new-tokens",
        type=int,
        default=48,
        metavar="N",
        help="tokens the tiny model writes per answer (default 48)",
    )
    demo.set_defaults(func=_cmd_demo)

    _add_module_commands(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
