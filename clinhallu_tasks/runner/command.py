"""`clinhallu-tasks run`: the whole official ClinHallu protocol in one command (docs/run.md).

    clinhallu-tasks run --model vllm --model_args model=Qwen/Qwen2.5-VL-7B-Instruct \\
        --tasks clinhallu --output_path runs/

One lmms-eval model instance serves every pass: the three independent runs (baseline,
replace_vr, replace_vr_kr), resampling passes over the invalid traces only (up to --resample
more attempts, the official 50 by default), `replace_kr` built from the final baseline traces
(the model's own Visual Recognition and the gold Knowledge Recall), then scoring and judging
of the final traces by the evaluation layer, which writes the records `clinhallu-tasks report`
reads into `<output_path>/<model folder>/`. MedHallTune tasks get a single judged pass.

Every reply is saved as it arrives (`generations/<task>.jsonl`); rerunning the same command
resumes and asks the model only for what is missing. Exit codes: 0 done; 1 the model could
not be loaded or a generation failed; 2 a usage error (arguments, tasks, settings, data, a
folder of another run), found before the model is loaded; 3 the records are written but a
configured judge failed (its metrics are None; rerun to resume, verdicts are cached);
130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from clinhallu_tasks.errors import ClinHalluTasksError
from clinhallu_tasks.runner.lmms_driver import ModelOptions, masked_output
from clinhallu_tasks.runner.protocol import JudgeFailed, ProtocolRun
from clinhallu_tasks.runner.resampling import OFFICIAL_RESAMPLE
from clinhallu_tasks.runner.secrets import Masker, secret_values

EXIT_OK = 0
EXIT_GENERATION = 1
EXIT_USAGE = 2
EXIT_JUDGE = 3
EXIT_INTERRUPTED = 130

DEFAULT_CHUNK = 256  # requests per model call between two saves: resuming loses at most one chunk


def _seed(text: str) -> tuple[int | None, int | None, int | None, int | None]:
    """lmms-eval's --seed: one integer for all four generators, or four comma-separated (None allowed)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) == 1:
        parts *= 4
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(f"{text!r}: give one integer or four, comma-separated")
    try:
        values = [None if p.lower() == "none" else int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: not integers") from None
    return values[0], values[1], values[2], values[3]


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value}: must be 0 or more")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: must be 1 or more")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    paragraphs = __doc__.split("\n\n")
    parser.description, parser.epilog = paragraphs[0], paragraphs[-1]
    lmms = parser.add_argument_group("lmms-eval's arguments (same names and meaning as `lmms-eval`)")
    lmms.add_argument("--model", required=True,
                      help="lmms-eval model backend, e.g. vllm, openai_compatible, qwen2_5_vl")
    lmms.add_argument("--model_args", default="",
                      help="the backend's arguments, e.g. model=Qwen/Qwen2.5-VL-7B-Instruct")
    lmms.add_argument("--tasks", required=True,
                      help="ClinHallu/MedHallTune task or group names, comma-separated (clinhallu, clinhallu_sample, "
                      "clinhallu_vqa_rad, clinhallu_baseline, medhalltune, ...)")
    lmms.add_argument("--output_path", required=True, type=Path,
                      help="records go to <output_path>/<model folder>/, named as lmms-eval names it")
    lmms.add_argument("--gen_kwargs", default="", help="override the tasks' generation settings, e.g. temperature=0.7")
    lmms.add_argument("--limit", type=float, default=None,
                      help="first N items per task (0 < N < 1: a fraction); for testing, not for results")
    lmms.add_argument("--offset", type=_non_negative, default=0, help="start at this item index in each task")
    lmms.add_argument("--batch_size", "-b", default="1", help="as lmms-eval: N, auto or auto:N")
    lmms.add_argument("--max_batch_size", type=int, default=None)
    lmms.add_argument("--device", default=None, help="e.g. cuda, cuda:0, cpu")
    lmms.add_argument("--system_instruction", default=None)
    lmms.add_argument("--apply_chat_template", action="store_true")
    lmms.add_argument("--seed", type=_seed, default=(0, 1234, 1234, 1234),
                      help="python,numpy,torch,fewshot seeds (lmms-eval's default 0,1234,1234,1234)")
    lmms.add_argument("--include_path", default=None, help="an extra task folder (ours is always included)")
    lmms.add_argument("--verbosity", default="WARNING", type=str.upper,
                      choices=("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"),
                      help="lmms-eval's log level (default WARNING)")
    lmms.add_argument("--log_samples", action="store_true",
                      help="accepted for lmms-eval compatibility; per-sample records are always written")
    ours = parser.add_argument_group("the protocol")
    ours.add_argument("--resample", type=_non_negative, default=OFFICIAL_RESAMPLE, metavar="N",
                      help=f"regenerate an invalid ClinHallu trace up to N more times (default the official "
                      f"{OFFICIAL_RESAMPLE}; 0: one attempt)")
    ours.add_argument("--chunk_size", type=_positive, default=DEFAULT_CHUNK, metavar="N",
                      help=f"requests per model call between saves (default {DEFAULT_CHUNK})")


def _say(message: str) -> None:
    print(f"[clinhallu-tasks run] {message}", flush=True)


def run(args: argparse.Namespace) -> int:
    """The subcommand: mask secrets in every output, then run the protocol; returns the exit code."""
    masker = Masker(secret_values(args.model_args, os.environ))
    with masked_output(masker):
        try:
            return _run(args)
        except KeyboardInterrupt:
            _say("interrupted. Every reply received is saved: rerun the same command to resume.")
            return EXIT_INTERRUPTED
        except Exception:  # a backend's own failure: its traceback, still through the masking
            traceback.print_exc()
            _say("error: the run stopped on the error above. Every reply received is saved: rerun to resume.")
            return EXIT_GENERATION


# lmms-eval backends that take a thinking switch in --model_args and send nothing outside the
# machine with it (qwen3_5 thinks by default). The official protocol generates with thinking off.
# API backends are left alone: the OpenAI API refuses fields it does not know (README: thinking off).
THINKING_SWITCH: dict[str, str] = {"qwen3_5": "enable_thinking", "qwen3_vl": "enable_thinking"}


def thinking_off(model: str, model_args: str) -> str:
    """`model_args` with the backend's thinking switch off, unless the user set it either way."""
    switch = THINKING_SWITCH.get(model)
    if switch is None or any(part.split("=", 1)[0].strip() == switch for part in model_args.split(",")):
        return model_args
    return f"{model_args},{switch}=False" if model_args.strip() else f"{switch}=False"


def _run(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 0 and args.limit != -1:
        _say("error: --limit must be -1 (all), or 0 or more")
        return EXIT_USAGE
    model_args = thinking_off(args.model, args.model_args)
    if model_args != args.model_args:
        _say(f"thinking off, as in the official protocol: {THINKING_SWITCH[args.model]}=False added to "
             f"--model_args (pass {THINKING_SWITCH[args.model]}=True to keep it on)")
    options = ModelOptions(
        model=args.model, model_args=model_args, batch_size=str(args.batch_size),
        max_batch_size=args.max_batch_size, device=args.device, gen_kwargs=args.gen_kwargs,
        limit=None if args.limit == -1 else args.limit, offset=args.offset,
        system_instruction=args.system_instruction, apply_chat_template=args.apply_chat_template,
        seed=args.seed, include_path=args.include_path, verbosity=args.verbosity,
    )
    names = [name.strip() for name in args.tasks.split(",") if name.strip()]
    protocol = ProtocolRun(options, names, args.output_path, args.resample, args.chunk_size, _say)
    try:
        try:
            protocol.prepare()
        except ClinHalluTasksError as error:  # tasks, settings, data, a folder of another run, a bad record
            _say(f"error: {error}")
            return EXIT_USAGE
        try:
            protocol.execute()
        except JudgeFailed as error:
            _say(f"error: {error}")
            return EXIT_JUDGE
        except ClinHalluTasksError as error:  # the model, a generation, a chained task's baseline
            _say(f"error: {error}")
            return EXIT_GENERATION
        return EXIT_OK
    finally:
        protocol.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="clinhallu-tasks run", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
