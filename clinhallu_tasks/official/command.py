"""`clinhallu-tasks import-prompts PATH [--out DIR]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from clinhallu_tasks.official.importer import import_prompts
from clinhallu_tasks.official.source import OfficialPromptError

DEFAULT_OUT = Path("official-prompts")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkout", type=Path, metavar="PATH",
        help="your checkout of alibaba-damo-academy/ClinHallu or russellyq/MedHallTune",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
        help=f"folder to write the templates and the manifest to (default: ./{DEFAULT_OUT})",
    )


def run(args: argparse.Namespace) -> int:
    try:
        result = import_prompts(args.checkout, args.out)
    except OfficialPromptError as exc:
        print(f"import-prompts: {exc}", file=sys.stderr)
        return 1
    out = result.out_dir.resolve()
    commit = result.commit or "unknown (no readable .git)"
    print(f"imported {len(result.files)} template files from {result.repository} at commit {commit}")
    print(f"  into {out}; manifest {result.manifest.name}")
    kinds = (
        "CLINHALLU_PROMPT_TEMPLATES and CLINHALLU_JUDGE_TEMPLATES"
        if result.benchmark == "clinhallu"
        else "CLINHALLU_JUDGE_TEMPLATES"
    )
    print(f"use them: set {kinds} to {out}")
    return 0
