"""`clinhallu-tasks demo`: prove an installation end to end, offline, on CPU.

Builds (once, cached) a tiny random-weight LLaVA checkpoint (clinhallu_tasks.tiny_model),
runs the embedded `clinhallu_sample` group through the real lmms-eval CLI with the
`llava_hf` backend, and prints the metrics lmms-eval wrote. The model's weights are
random: the run exercises loading, prompting, image handling, generation, trace parsing
and scoring; its numbers mean nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

DEMO_TASK = "clinhallu_sample"
MODEL_DIRNAME = "tiny-llava"
# Greedy and short: deterministic output and a run of well under a minute on a laptop CPU.
DEMO_GEN_KWARGS = {"temperature": 0, "top_p": 1.0, "do_sample": False}
# The judge would be called over the network on meaningless text: the demo never judges.
_DROPPED_ENV_PREFIXES = ("CLINHALLU_JUDGE_",)
_TAIL_BYTES = 16_000
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

_RANDOM_MODEL_NOTE = (
    "This model has random weights: the run only exercises the pipeline (task loading,\n"
    "prompts, images, generation, trace parsing, scoring). Its numbers mean nothing."
)


def default_workdir() -> Path:
    """`$XDG_CACHE_HOME/clinhallu-tasks/demo`, or `~/.cache/clinhallu-tasks/demo`."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "clinhallu-tasks" / "demo"


def lmms_eval_command() -> list[str]:
    """The lmms-eval console script installed beside this interpreter, else `python -m lmms_eval`."""
    script = Path(sys.executable).parent / ("lmms-eval.exe" if os.name == "nt" else "lmms-eval")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "lmms_eval"]


def demo_env(workdir: Path) -> dict[str, str]:
    """The environment for the lmms-eval subprocess: offline, private HF cache, one CPU thread."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_ENV_PREFIXES)}
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HOME=str(workdir / "hf_home"),
        TOKENIZERS_PARALLELISM="false",
        PYTHONUNBUFFERED="1",
        # A model this small gains nothing from threads, and on a busy machine OpenMP
        # spin-waiting makes multi-threaded generation many times slower.
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    return env


def build_command(model_path: Path, output_path: Path, max_new_tokens: int) -> list[str]:
    """The lmms-eval command line the demo runs."""
    gen_kwargs = ",".join(f"{k}={v}" for k, v in {"max_new_tokens": max_new_tokens, **DEMO_GEN_KWARGS}.items())
    return [
        *lmms_eval_command(),
        "--model",
        "llava_hf",
        # device_map must be named: llava_hf's default "" is rejected by transformers 5.
        "--model_args",
        f"pretrained={model_path},device=cpu,device_map=cpu",
        "--tasks",
        DEMO_TASK,
        "--batch_size",
        "1",
        "--gen_kwargs",
        gen_kwargs,
        "--output_path",
        str(output_path),
        "--log_samples",
    ]


def _write_raw(chunk: bytes) -> None:
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is not None:
        buffer.write(chunk)
        buffer.flush()
    else:  # a text-only stream (captured output)
        sys.stdout.write(chunk.decode("utf-8", errors="replace"))
        sys.stdout.flush()


def _stream(command: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run `command`, echoing its output as it comes; return (exit status, output tail)."""
    sys.stdout.flush()
    tail: deque[bytes] = deque()
    tail_size = 0
    with subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        assert proc.stdout is not None
        try:
            while chunk := os.read(proc.stdout.fileno(), 8192):
                _write_raw(chunk)
                tail.append(chunk)
                tail_size += len(chunk)
                while tail_size > _TAIL_BYTES and len(tail) > 1:
                    tail_size -= len(tail.popleft())
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            raise
        returncode = proc.wait()
    return returncode, b"".join(tail).decode("utf-8", errors="replace")


def find_results(output_path: Path) -> Path | None:
    """The newest `*_results.json` lmms-eval wrote under `output_path`."""
    files = sorted(output_path.glob("*/*_results.json"), key=lambda p: p.stat().st_mtime)
    return files[-1] if files else None


def _format_value(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def format_metrics(results: dict[str, Any], run_dir: Path | None = None) -> str:
    """Metrics per task from an lmms-eval results JSON, as aligned text.

    With `run_dir` (the folder holding the sample logs), each task also gets a line
    counting valid traces and the reasons the others were invalid.
    """
    lines: list[str] = []
    per_task = results.get("results", {})
    samples = results.get("n-samples", {})
    for task in sorted(per_task):
        metrics = {
            key.split(",", 1)[0]: value
            for key, value in per_task[task].items()
            if "," in key and "_stderr" not in key and not isinstance(value, (list, dict))
        }
        if not metrics:
            continue  # a group row
        n = samples.get(task, {}).get("effective")
        lines.append(f"{task}" + (f"  ({n} items)" if n is not None else ""))
        width = max(len(name) for name in metrics)
        for name in sorted(metrics):
            lines.append(f"  {name:<{width}}  {_format_value(metrics[name])}")
        summary = summarize_traces(run_dir, task) if run_dir is not None else None
        if summary:
            lines.append(f"  {summary}")
    return "\n".join(lines)


def summarize_traces(run_dir: Path, task: str) -> str | None:
    """`valid traces: V/N` plus the invalid reasons, from a task's sample log; None if absent."""
    files = sorted(run_dir.glob(f"*_samples_{task}.jsonl"))
    if not files:
        return None
    reasons: dict[str, int] = {}
    valid = total = 0
    for line in files[-1].read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        trace = json.loads(line).get("clinhallu_trace") or {}
        total += 1
        if trace.get("valid"):
            valid += 1
        else:
            reason = str(trace.get("invalid_reason") or "unknown")
            reasons[reason] = reasons.get(reason, 0) + 1
    listed = ", ".join(f"{reason} {count}" for reason, count in sorted(reasons.items()))
    return f"valid traces: {valid}/{total}" + (f" (invalid: {listed})" if listed else "")


def _fail(message: str) -> int:
    print(f"\nclinhallu-tasks demo: FAILED: {message}", file=sys.stderr)
    return 1


def run_demo(workdir: Path | None = None, max_new_tokens: int = 48) -> int:
    """Build the tiny model (cached) and run `clinhallu_sample` through the lmms-eval CLI.

    Returns the exit status: 0 when lmms-eval ran and wrote results, non-zero otherwise.
    """
    if max_new_tokens < 1:
        print("clinhallu-tasks demo: --max-new-tokens must be at least 1", file=sys.stderr)
        return 2
    workdir = (workdir or default_workdir()).expanduser().absolute()
    model_dir = workdir / MODEL_DIRNAME
    if "," in str(model_dir) or "=" in str(model_dir):
        # lmms-eval splits --model_args on "," and "=".
        return _fail(f"the work folder {workdir} contains ',' or '=', which lmms-eval cannot parse; use --workdir")

    print(f"clinhallu-tasks demo: work folder {workdir}")
    from clinhallu_tasks.tiny_model import build_tiny_llava

    started = time.monotonic()
    try:
        model_path = build_tiny_llava(model_dir)
    except Exception as exc:  # report any build failure plainly
        return _fail(f"could not build the tiny model at {model_dir}: {type(exc).__name__}: {exc}")
    print(f"Tiny random-weight LLaVA ready at {model_path} ({time.monotonic() - started:.1f}s)")

    output_path = workdir / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    output_path.mkdir(parents=True, exist_ok=True)
    command = build_command(model_path, output_path, max_new_tokens)
    print("Running:", " ".join(command), "\n", flush=True)

    started = time.monotonic()
    try:
        returncode, tail = _stream(command, demo_env(workdir), output_path)
    except OSError as exc:
        return _fail(f"could not start lmms-eval ({command[0]}): {exc}. Is lmms-eval installed here?")
    except KeyboardInterrupt:
        print("\nclinhallu-tasks demo: interrupted", file=sys.stderr)
        return 130
    elapsed = time.monotonic() - started

    if returncode != 0:
        return _fail(f"lmms-eval exited with status {returncode}; its output is above.")
    results_file = find_results(output_path)
    if results_file is None:
        # lmms-eval 0.7.3 prints a traceback and exits 0 when the evaluation raises.
        hint = ""
        for line in reversed(_ANSI.sub("", tail).splitlines()):
            if "Error during evaluation" in line or "Error:" in line:
                hint = f"\n  last error: {line.strip()[:500]}"
                break
        return _fail(
            f"lmms-eval wrote no results under {output_path}; its output is above.{hint}\n"
            f"  If the cached model is damaged, delete {model_path} and run the demo again."
        )
    try:
        results = json.loads(results_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return _fail(f"cannot read {results_file}: {exc}")
    table = format_metrics(results, results_file.parent)
    if not table:
        return _fail(f"{results_file} holds no metrics for {DEMO_TASK}")

    print("\n" + "=" * 72)
    print(f"clinhallu-tasks demo: {DEMO_TASK} ran through lmms-eval in {elapsed:.0f}s\n")
    print(table)
    print(f"\nResults:     {results_file}")
    print(f"Sample logs: {results_file.parent}/*_samples_*.jsonl")
    print("Rates are in percent; None means nothing to score (no valid trace, or no judge: the demo never")
    print("calls one).\n")
    print(_RANDOM_MODEL_NOTE)
    print("=" * 72)
    return 0
