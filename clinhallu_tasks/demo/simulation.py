"""Part 2 of the demo: a SIMULATION of a judged evaluation and its report.

A scripted model and a scripted judge, both local HTTP servers on 127.0.0.1, stand in for
a real model endpoint and a real judge endpoint. The real lmms-eval CLI evaluates the
sample against them (`--model openai_compatible`, the judge set through
CLINHALLU_JUDGE_*), then `clinhallu-tasks report` turns the output into the leaderboard,
charts and submission.json. Everything is real except the two servers' replies.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from clinhallu_tasks.demo.chat_server import ChatServer
from clinhallu_tasks.demo.layout import DemoLayout, scoped_env
from clinhallu_tasks.demo.lmms_process import run_lmms_eval
from clinhallu_tasks.demo.scripted_judge import ScriptedJudge
from clinhallu_tasks.demo.scripted_model import ScriptedModel

TASK = "clinhallu_sample"
MODEL_NAME = "simulated-model"
JUDGE_NAME = "simulated-judge"

BANNER_WIDTH = 72


def banner(title: str, lines: list[str]) -> str:
    """A framed block that cannot be missed in a long log."""
    rule = "#" * BANNER_WIDTH
    return "\n".join([rule, f"#  {title}", *(f"#  {line}" for line in lines), rule])


START_BANNER = banner(
    "SIMULATION: scripted model + scripted judge (not a real evaluation)",
    [
        "Two local servers on 127.0.0.1 stand in for the model and the judge. The model writes",
        "traces derived from the sample's gold traces, with planned mistakes; the judge applies",
        "two plain rules. lmms-eval, the tasks, the scoring and the report are the real ones.",
        "The numbers show what a report looks like; they say nothing about any model.",
    ],
)
END_BANNER = banner(
    "END OF SIMULATION: its numbers come from a scripted model and a scripted judge",
    [
        "For a real evaluation, point CLINHALLU_JUDGE_* at a real judge and run your model with",
        "clinhallu-tasks run (README.md, 'Evaluate a model'), then clinhallu-tasks report.",
    ],
)


@dataclass(frozen=True)
class SimulationOutcome:
    """The simulation's result: `error` is None when it worked."""

    error: str | None
    report_dir: Path | None = None


def lmms_args(model_url: str) -> list[str]:
    """lmms-eval arguments (all but --output_path) for the scripted model on the sample."""
    return [
        "--model",
        "openai_compatible",
        "--model_args",
        f"model_version={MODEL_NAME},base_url={model_url}",
        "--tasks",
        TASK,
        "--batch_size",
        "1",
        "--log_samples",
    ]


def judge_env(layout: DemoLayout, judge_url: str, model_key: str = "sk-simulated") -> dict[str, str]:
    """The variables that point our tasks at the scripted judge, with its cache in the run folder."""
    return {
        "CLINHALLU_JUDGE_BASE_URL": judge_url,
        "CLINHALLU_JUDGE_MODEL": JUDGE_NAME,
        "CLINHALLU_JUDGE_CACHE": str(layout.judge_cache),
        "OPENAI_API_KEY": model_key,  # the openai_compatible backend insists on one; nothing checks it
    }


def run_report(layout: DemoLayout, output_path: Path) -> int:
    """`clinhallu-tasks report OUTPUT --out REPORT`, in this process, its caches kept in the work folder."""
    from clinhallu_tasks.cli import main

    with scoped_env(layout.private_dirs()):
        return main(["report", str(output_path), "--out", str(layout.report_dir)])


def run_simulation(layout: DemoLayout) -> SimulationOutcome:
    """Serve the scripted model and judge, run lmms-eval against them, then the report."""
    from clinhallu_tasks.clinhallu.loading import load_source

    items = load_source("sample")
    model, judge = ScriptedModel(items), ScriptedJudge(items)
    print(START_BANNER, flush=True)
    started = time.monotonic()
    with ChatServer(model.respond) as model_server, ChatServer(judge.respond) as judge_server:
        print(f"Scripted model at {model_server.base_url}, scripted judge at {judge_server.base_url}.")
        print("Running lmms-eval with --model openai_compatible:\n", flush=True)
        try:
            run = run_lmms_eval(
                lmms_args(model_server.base_url),
                output_path=layout.simulation_output,
                env=layout.env(**judge_env(layout, judge_server.base_url)),
                cwd=layout.workdir,
            )
        except OSError as exc:
            return SimulationOutcome(f"could not start lmms-eval: {exc}. Is lmms-eval installed here?")
        model_calls, judge_calls = len(model_server.requests), len(judge_server.requests)
        server_errors = model_server.errors + judge_server.errors
    if not run.ok:
        return SimulationOutcome(run.message)
    if server_errors:
        return SimulationOutcome(f"a scripted server failed: {server_errors[0]}")
    if judge_calls == 0:
        return SimulationOutcome("lmms-eval never called the scripted judge: the judge metrics are not computed")
    print(
        f"\nlmms-eval finished in {time.monotonic() - started:.0f}s: {model_calls} model requests, "
        f"{judge_calls} judge requests. Results: {run.results_file}"
    )

    print(f"\nclinhallu-tasks report {layout.simulation_output} --out {layout.report_dir}\n", flush=True)
    try:
        rc = run_report(layout, layout.simulation_output)
    except Exception as exc:  # any crash of the report is a failed demo, said plainly
        return SimulationOutcome(f"the report command crashed: {type(exc).__name__}: {exc}")
    if rc != 0:
        return SimulationOutcome(f"the report command failed with status {rc}; its output is above")
    return SimulationOutcome(None, layout.report_dir)


def leaderboard_excerpt(markdown: str) -> list[str]:
    """The section titles, tables and provenance lines of leaderboard.md, without its prose: what fits a terminal."""
    lines: list[str] = []
    for line in markdown.splitlines():
        if line.startswith("## ") or line.startswith("### "):
            lines += ["", line.lstrip("#").strip()]
        elif line.startswith(("|", "- ", "**")):
            lines.append(line)
    return lines


def closing_lines(report_dir: Path) -> list[str]:
    """Where the report put the leaderboard, the charts and the submission."""
    charts = report_dir / "charts"
    pngs = sorted(charts.glob("*.png")) if charts.is_dir() else []
    return [
        f"Leaderboard:      {report_dir / 'leaderboard.md'}",
        f"Charts:           {charts}  ({len(pngs)} PNG files)" if pngs else "Charts:           none",
        f"Submission:       {report_dir / 'submission.json'}",
    ]
