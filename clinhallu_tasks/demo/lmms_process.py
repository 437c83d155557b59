"""Run the lmms-eval CLI in a subprocess, stream its output, and say whether it really worked.

lmms-eval 0.7.3 exits 0 even when the evaluation raises: it prints the traceback, logs
`Error during evaluation: ...` and writes no results file. So a run counts as failed when
any of these holds: a non-zero exit status, that error line in the output, or no new
`*_results.json` under the output path.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

EVALUATION_ERROR = "Error during evaluation"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# The last line of a Python traceback: "ValueError: ...", "torch.OutOfMemoryError: ...".
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)\b.*")
_TAIL_BYTES = 64_000
_MAX_QUOTED = 400


@dataclass(frozen=True)
class LmmsResult:
    """What one lmms-eval run did, read from its exit status, its output and its output folder."""

    returncode: int
    output_path: Path
    results_file: Path | None  # the newest *_results.json this run wrote
    error_line: str | None  # the line of the output that says what went wrong
    output_tail: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.results_file is not None and not self._evaluation_error

    @property
    def _evaluation_error(self) -> bool:
        return self.error_line is not None and EVALUATION_ERROR in self.error_line

    @property
    def message(self) -> str:
        """One paragraph on what failed (empty when the run succeeded)."""
        if self.ok:
            return ""
        if self.returncode != 0:
            what = f"lmms-eval exited with status {self.returncode}"
        elif self._evaluation_error:
            what = "lmms-eval reported an error (and exited 0 all the same)"
        else:
            what = f"lmms-eval wrote no results file (*_results.json) under {self.output_path}"
        quoted = f"\n  {self.error_line[:_MAX_QUOTED]}" if self.error_line else ""
        return f"{what}; its output is above.{quoted}"


def lmms_eval_command() -> list[str]:
    """The lmms-eval console script installed beside this interpreter, else `python -m lmms_eval`."""
    script = Path(sys.executable).parent / ("lmms-eval.exe" if os.name == "nt" else "lmms-eval")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "lmms_eval"]


def results_files(output_path: Path) -> set[Path]:
    """Every `*_results.json` lmms-eval wrote under `output_path` (it nests them one folder down)."""
    return set(output_path.glob("*_results.json")) | set(output_path.glob("*/*_results.json"))


def find_error_line(output: str, *, failed: bool = False) -> str | None:
    """The line of lmms-eval's output that names the failure.

    The last `Error during evaluation` line; failing that, when the process `failed`, the
    last exception line of a traceback, or else the last non-empty line.
    """
    lines = [_ANSI.sub("", line).strip() for line in output.replace("\r", "\n").splitlines()]
    lines = [line for line in lines if line]
    for line in reversed(lines):
        if EVALUATION_ERROR in line:
            return line
    if not failed:
        return None
    for line in reversed(lines):
        if _EXCEPTION_LINE.match(line):
            return line
    return lines[-1] if lines else None


def interpret_run(returncode: int, output: str, output_path: Path, before: set[Path] | frozenset[Path]) -> LmmsResult:
    """Read a finished run: `before` holds the results files that existed before it started."""
    new = results_files(output_path) - set(before)
    newest = max(new, key=lambda p: p.stat().st_mtime) if new else None
    error = find_error_line(output, failed=returncode != 0 or newest is None)
    return LmmsResult(returncode, output_path, newest, error, output[-_TAIL_BYTES:])


def _echo(chunk: bytes) -> None:
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is not None:
        buffer.write(chunk)
        buffer.flush()
    else:  # a text-only stream (captured output)
        sys.stdout.write(chunk.decode("utf-8", errors="replace"))
        sys.stdout.flush()


def run_lmms_eval(
    args: Sequence[str],
    *,
    output_path: Path,
    env: Mapping[str, str],
    cwd: Path,
    command: Sequence[str] | None = None,
) -> LmmsResult:
    """Run `lmms-eval ARGS --output_path OUTPUT_PATH`, echoing its output as it comes.

    `command` replaces the lmms-eval launcher (default: `lmms_eval_command()`). The run
    fails (see `LmmsResult.ok`) on a non-zero status, an `Error during evaluation` line,
    or no new results file. A missing launcher raises OSError; Ctrl-C stops the child and
    is raised again.
    """
    output_path.mkdir(parents=True, exist_ok=True)
    before = results_files(output_path)
    argv = [*(command or lmms_eval_command()), *args, "--output_path", str(output_path)]
    sys.stdout.flush()
    tail: deque[bytes] = deque()
    size = 0
    errors: list[str] = []  # evaluation-error lines, caught as they pass even if the tail drops them
    pending = b""
    with subprocess.Popen(argv, env=dict(env), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        assert proc.stdout is not None
        try:
            while chunk := os.read(proc.stdout.fileno(), 8192):
                _echo(chunk)
                tail.append(chunk)
                size += len(chunk)
                while size > _TAIL_BYTES and len(tail) > 1:
                    size -= len(tail.popleft())
                *lines, pending = (pending + chunk).split(b"\n")
                pending = pending[-4096:]  # progress bars redraw one endless line with \r
                errors += [line.decode("utf-8", "replace") for line in lines if EVALUATION_ERROR.encode() in line]
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            raise
        returncode = proc.wait()
    output = b"".join(tail).decode("utf-8", errors="replace")
    if errors and EVALUATION_ERROR not in output:
        output = errors[-1] + "\n" + output
    return interpret_run(returncode, output, output_path, before)
