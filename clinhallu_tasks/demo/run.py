"""`clinhallu-tasks demo`: the install check and a simulated judged evaluation, all in one folder."""

from __future__ import annotations

import sys
from pathlib import Path

from clinhallu_tasks.demo.layout import DemoLayout
from clinhallu_tasks.demo.simulation import END_BANNER, closing_lines, leaderboard_excerpt, run_simulation
from clinhallu_tasks.demo.tiny import run_tiny_part

DEFAULT_MAX_NEW_TOKENS = 48


def _fail(message: str) -> int:
    print(f"\nclinhallu-tasks demo: FAILED: {message}", file=sys.stderr, flush=True)
    return 1


def run_demo(
    workdir: Path | None = None, *, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, skip_tiny_model: bool = False
) -> int:
    """Run the demo; return the exit status (0 only when every part worked).

    Part 1 (skipped with `skip_tiny_model`): a tiny random-weight LLaVA runs the embedded
    sample through the lmms-eval CLI, proving the installation. Part 2: a simulation with a
    scripted model and judge, then `clinhallu-tasks report`. Everything is written under
    `workdir` (default `./clinhallu-demo`).
    """
    if max_new_tokens < 1:
        print("clinhallu-tasks demo: --max-new-tokens must be at least 1", file=sys.stderr)
        return 2
    layout = DemoLayout.create(workdir)
    try:
        layout.run_dir.mkdir(parents=True)
    except OSError as exc:
        return _fail(f"cannot create the work folder {layout.workdir}: {exc}")
    print(f"clinhallu-tasks demo: everything goes into {layout.workdir}")
    print(f"  this run:  {layout.run_dir}")
    print("  kept for later runs: tiny-llava/ (the tiny model), hf_home/ and cache/ (the runs' caches)\n", flush=True)

    try:
        install_check = "install check with the tiny model skipped (--skip-tiny-model)"
        if skip_tiny_model:
            print(f"Part 1 of 2: {install_check}\n")
        else:
            print("Part 1 of 2: install check with a tiny random-weight model\n", flush=True)
            tiny = run_tiny_part(layout, max_new_tokens)
            if tiny.error is not None:
                return _fail(tiny.error)
            install_check = tiny.summary
        print("Part 2 of 2: a simulated judged evaluation and its report\n", flush=True)
        sim = run_simulation(layout)
    except KeyboardInterrupt:
        print("\nclinhallu-tasks demo: interrupted", file=sys.stderr)
        return 130
    if sim.error is not None or sim.report_dir is None:
        return _fail(sim.error or "the simulation produced no report")

    print(f"\nPart 1: {install_check}.\n")
    print(END_BANNER)
    print("\nThe SIMULATION's leaderboard (percent; 95% bootstrap intervals in brackets):")
    leaderboard = sim.report_dir / "leaderboard.md"
    if leaderboard.is_file():
        for line in leaderboard_excerpt(leaderboard.read_text(encoding="utf-8")):
            print(f"  {line}" if line else "")
    print()
    for line in closing_lines(sim.report_dir):
        print(line)
    print(f"All of this run:  {layout.run_dir}")
    print("(SIMULATION: a scripted model and judge; these numbers say nothing about any model.)")
    return 0
