"""Part 1 of the demo: a tiny random-weight LLaVA through lmms-eval's `llava_hf` backend.

It proves the installation: lmms-eval finds our tasks, a real Hugging Face model class
loads and generates, the sample's images reach it, traces are parsed and scored. Its
weights are random, so what it writes is gibberish and its numbers mean nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clinhallu_tasks.demo.layout import DemoLayout
from clinhallu_tasks.demo.lmms_process import run_lmms_eval

TASK = "clinhallu_sample"
# Greedy and short: deterministic output and a run of well under a minute on a laptop CPU.
GEN_KWARGS = {"temperature": 0, "top_p": 1.0, "do_sample": False}

RANDOM_MODEL_NOTE = (
    "This model has random weights: the run only proves the pipeline works (task loading,\n"
    "prompts, images, generation, trace parsing, scoring). Its numbers mean nothing: it writes\n"
    "gibberish, so its traces are invalid and its metrics None. Part 2 shows scored numbers."
)


@dataclass(frozen=True)
class TinyOutcome:
    """The tiny-model part's result: `error` is None when it worked."""

    error: str | None
    summary: str = ""


def build_model(layout: DemoLayout) -> Path:
    """Build (or reuse) the tiny checkpoint in a subprocess with the demo's private caches."""
    done = subprocess.run(
        [sys.executable, "-m", "clinhallu_tasks.demo.tiny_model", str(layout.model_dir)],
        env=layout.env(),
        cwd=layout.workdir,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise RuntimeError("\n  ".join(["the build failed:", *detail]))
    return Path(done.stdout.strip().splitlines()[-1])


def lmms_args(model_path: Path, max_new_tokens: int) -> list[str]:
    """lmms-eval arguments (all but --output_path) for the tiny model on the sample."""
    gen_kwargs = ",".join(f"{k}={v}" for k, v in {"max_new_tokens": max_new_tokens, **GEN_KWARGS}.items())
    return [
        "--model",
        "llava_hf",
        # device_map must be named: llava_hf's default "" is rejected by transformers 5.
        "--model_args",
        f"pretrained={model_path},device=cpu,device_map=cpu",
        "--tasks",
        TASK,
        "--batch_size",
        "1",
        "--gen_kwargs",
        gen_kwargs,
        "--log_samples",
    ]


def _samples(run_dir: Path, task: str) -> list[dict[str, Any]]:
    files = sorted(run_dir.glob(f"*_samples_{task}.jsonl"))
    if not files:
        return []
    return [json.loads(line) for line in files[-1].read_text(encoding="utf-8").splitlines() if line.strip()]


def _response(sample: dict[str, Any]) -> str:
    resp = sample.get("filtered_resps") or sample.get("resps") or ""
    while isinstance(resp, list):
        resp = resp[0] if resp else ""
    return str(resp)


def summarize_task(samples: list[dict[str, Any]]) -> str:
    """Items, answers written, valid traces and why the others were invalid."""
    reasons: dict[str, int] = {}
    valid = 0
    for sample in samples:
        trace = sample.get("clinhallu_trace") or {}
        if trace.get("valid"):
            valid += 1
        else:
            reason = str(trace.get("invalid_reason") or "unknown")
            reasons[reason] = reasons.get(reason, 0) + 1
    written = sum(1 for s in samples if _response(s).strip())
    listed = ", ".join(f"{reason} {count}" for reason, count in sorted(reasons.items()))
    return f"{len(samples)} items, {written} answers written, valid traces {valid}/{len(samples)}" + (
        f" (invalid: {listed})" if listed else ""
    )


def run_tiny_part(layout: DemoLayout, max_new_tokens: int) -> TinyOutcome:
    """Build the tiny model (once), run the sample through lmms-eval with it, print what it wrote."""
    if "," in str(layout.model_dir) or "=" in str(layout.model_dir):
        # lmms-eval splits --model_args on "," and "=".
        return TinyOutcome(f"the work folder {layout.workdir} contains ',' or '=', which lmms-eval cannot parse")
    started = time.monotonic()
    verb = "Reusing" if layout.model_dir.is_dir() else "Building"
    print(f"{verb} a tiny random-weight LLaVA at {layout.model_dir} ...", flush=True)
    try:
        model_path = build_model(layout)
    except (OSError, RuntimeError) as exc:
        return TinyOutcome(f"could not build the tiny model at {layout.model_dir}: {exc}")
    print(f"Tiny model ready ({time.monotonic() - started:.1f}s).")
    print("Running lmms-eval with --model llava_hf:\n", flush=True)

    started = time.monotonic()
    try:
        run = run_lmms_eval(
            lmms_args(model_path, max_new_tokens), output_path=layout.tiny_output, env=layout.env(), cwd=layout.workdir
        )
    except OSError as exc:
        return TinyOutcome(f"could not start lmms-eval: {exc}. Is lmms-eval installed here?")
    if not run.ok:
        return TinyOutcome(
            f"{run.message}\n  If the cached model is damaged, delete {model_path} and run the demo again."
        )
    assert run.results_file is not None
    run_dir = run.results_file.parent
    tasks = sorted(json.loads(run.results_file.read_text(encoding="utf-8")).get("n-samples", {}))
    samples = {task: _samples(run_dir, task) for task in tasks}
    if not any(samples.values()):
        return TinyOutcome(f"lmms-eval wrote no sample logs for {TASK} under {run_dir}")
    prompts = sum(len(v) for v in samples.values())
    if not any(_response(s).strip() for v in samples.values() for s in v):
        return TinyOutcome("the tiny model wrote no text at all: generation is broken (see the output above)")

    width = max(len(task) for task in tasks)
    print("\n" + "-" * 72)
    print(f"Part 1 done in {time.monotonic() - started:.0f}s: lmms-eval ran {TASK} with --model llava_hf.")
    for task in tasks:
        print(f"  {task:<{width}}  {summarize_task(samples[task])}")
    print(f"Results and sample logs: {run_dir}")
    print("(The 'No judge configured' warning above is expected: this part uses no judge.)\n")
    print(RANDOM_MODEL_NOTE)
    print("-" * 72 + "\n", flush=True)
    return TinyOutcome(
        None,
        f"install check passed: lmms-eval ran our tasks with a real Hugging Face model class "
        f"(llava_hf, {prompts} prompts with their images); random weights, so no scores",
    )
