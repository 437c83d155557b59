"""`clinhallu-vlmeval`: VLMEvalKit's own run loop, unchanged, with our datasets registered.

    clinhallu-vlmeval --data ClinHallu_Sample_baseline MedHallTune_Sample_P --model my-vlm \
        --base-url http://127.0.0.1:8000/v1 --judge my-judge --judge-base-url http://127.0.0.1:8001/v1

Takes exactly VLMEvalKit's arguments (`python -m vlmeval.run --help`). Before handing them over it
- registers ClinHallu and MedHallTune (clinhallu_tasks/vlmevalkit/register.py);
- takes the judge key out of them (`--judge-key`, `"key"` in `--judge-args`): VLMEvalKit logs its
  judge arguments and writes its command line into status.json. Our judge gets the key; the
  judges of VLMEvalKit's own datasets in the same run do not (they read OPENAI_API_KEY);
- asks ms-vlmeval for TSV predictions (PRED_FORMAT, unless set): xlsx cuts cells at 32,767 characters.

VLMEvalKit logs a failed model x dataset combination and goes on, exiting 0; this command
exits 1 when any of ours left no records (or, with ms-vlmeval, any dataset's status.json entry
reports an error or a skip).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from clinhallu_tasks.judging.config import ENV_API_KEY
from clinhallu_tasks.records import TaskFiles
from clinhallu_tasks.vlmevalkit.judge import withhold_judge_key
from clinhallu_tasks.vlmevalkit.names import DATASETS_BY_NAME

logger = logging.getLogger("clinhallu_tasks")

PROG = "clinhallu-vlmeval"
# ms-vlmeval's status.json skip reasons that mean the dataset was not evaluated as asked.
FAILED_SKIPS = frozenset(
    {"invalid_dataset", "No infer result found", "Incomplete infer result", "evaluate_returned_none"}
)


@dataclass(frozen=True)
class Requested:
    """The model x dataset combinations a VLMEvalKit command line asks for."""

    work_dir: Path
    models: list[str]
    datasets: list[str]
    mode: str  # all | infer | eval


def requested(argv: Sequence[str], environ: Mapping[str, str]) -> Requested:
    """What the arguments ask VLMEvalKit to run (read leniently: VLMEvalKit itself rejects bad ones)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--data", nargs="+", default=[])
    parser.add_argument("--model", nargs="+", default=[])
    parser.add_argument("--config")
    parser.add_argument("--work-dir", default="./outputs")
    parser.add_argument("--mode", default="all")
    args, _ = parser.parse_known_args(list(argv))
    models, datasets = list(args.model), list(args.data)
    if args.config:
        try:
            config = json.loads(Path(args.config).read_text(encoding="utf-8"))
            models, datasets = list(config.get("model", {})), list(config.get("data", {}))
        except (OSError, ValueError, AttributeError):
            pass  # VLMEvalKit reports the config; nothing ran
    work_dir = Path(environ.get("MMEVAL_ROOT") or args.work_dir)  # VLMEvalKit lets MMEVAL_ROOT win
    return Requested(work_dir, models, datasets, args.mode)


def _written_since(folder: Path, pattern: str, started: float) -> bool:
    return folder.is_dir() and any(path.stat().st_mtime >= started for path in folder.rglob(pattern))


def failures(request: Requested, started: float) -> list[str]:
    """`model x dataset` combinations that did not end as asked, each with why."""
    failed: list[str] = []
    for model in request.models:
        folder = request.work_dir / model
        status = _status(folder / "status.json")
        for dataset in request.datasets:
            entry = status.get(dataset, {})
            if entry.get("error_message") or entry.get("skip_reason") in FAILED_SKIPS:
                reason = entry.get("error_message") or entry.get("skip_reason")
                failed.append(f"{model} x {dataset}: {str(reason).splitlines()[0][:300]}")
                continue
            name = DATASETS_BY_NAME.get(dataset)
            if name is None:
                continue
            if request.mode == "infer":
                if not _written_since(folder, f"{model}_{dataset}.*", started):
                    failed.append(f"{model} x {dataset}: no prediction file written")
            elif not _written_since(folder, TaskFiles(folder, name.task).summary.name, started):
                failed.append(f"{model} x {dataset}: no records written (see VLMEvalKit's log above)")
    return failed


def _status(path: Path) -> dict[str, dict[str, object]]:
    try:
        datasets = json.loads(path.read_text(encoding="utf-8")).get("datasets", {})
    except (OSError, ValueError, AttributeError):
        return {}  # nvidia-vlmeval writes none
    return datasets if isinstance(datasets, dict) else {}


def main(argv: Sequence[str] | None = None) -> int:
    arguments, key = withhold_judge_key(sys.argv[1:] if argv is None else argv)

    try:
        from vlmeval.smp import load_env
    except ModuleNotFoundError as error:
        if error.name != "vlmeval":
            raise
        print(f"{PROG}: VLMEvalKit is not installed: pip install 'clinhallu-tasks[vlmeval]' "
              "(or nvidia-vlmeval)", file=sys.stderr)
        return 2

    load_env()  # VLMEvalKit's run.py does this only as __main__; it may overwrite os.environ
    if key is not None:
        os.environ[ENV_API_KEY] = key
    os.environ.setdefault("PRED_FORMAT", "tsv")

    from clinhallu_tasks.vlmevalkit.register import register

    register()
    import vlmeval.run

    request = requested(arguments, os.environ)
    foreign = [name for name in request.datasets if name not in DATASETS_BY_NAME]
    if key is not None and foreign:
        logger.warning("the judge key goes to the ClinHallu/MedHallTune judge only; VLMEvalKit's judges of %s "
                       "read OPENAI_API_KEY (VLMEvalKit would log the key)", ", ".join(foreign))
    started = time.time() - 1  # file times can be coarser than the clock
    saved_argv = sys.argv
    sys.argv = [PROG, *arguments]
    try:
        vlmeval.run.main()
    finally:
        sys.argv = saved_argv
    failed = failures(request, started)
    for line in failed:
        print(f"{PROG}: failed: {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
