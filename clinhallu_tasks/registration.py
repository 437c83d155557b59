"""Make `lmms-eval --tasks clinhallu` find our tasks with no extra flag.

lmms-eval 0.7.3 has no entry-point group for tasks; the only group it loads is
`lmms_eval.models`, and it loads it before the CLI builds its TaskManager. Our entry
point in that group registers no model: it wraps `TaskManager.initialize_tasks` so
that our task folder is always among the include paths.

The wrap is guarded: it only touches a TaskManager whose `initialize_tasks` takes an
`include_path` argument, wraps at most once, keeps any wrap another plugin made before
it, and says once in the log when it cannot apply. `tests/registration/` fails loudly
if a new lmms-eval stops honouring it. The documented fallbacks
(`--include_path "$(clinhallu-tasks path)"`, or `TaskManager(include_path=...)`) need none of this.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
from pathlib import Path
from typing import Any

logger = logging.getLogger("clinhallu_tasks")

_MARK = "_clinhallu_tasks_wrapped"


def task_dir() -> Path:
    """The folder of our task YAMLs, for `--include_path`."""
    from clinhallu_tasks import task_yaml

    return Path(task_yaml.__file__).resolve().parent


def register_tasks() -> list[Any]:
    """`lmms_eval.models` entry point: add our task folder to every TaskManager. No models."""
    try:
        from lmms_eval.tasks import TaskManager
    except ImportError as exc:
        logger.warning("clinhallu-tasks: lmms_eval.tasks not importable (%s); tasks not registered.", exc)
        return []

    original = getattr(TaskManager, "initialize_tasks", None)
    if original is None or "include_path" not in inspect.signature(original).parameters:
        logger.warning(
            "clinhallu-tasks: this lmms-eval's TaskManager has no initialize_tasks(include_path=...); "
            'tasks not auto-registered. Pass --include_path "$(clinhallu-tasks path)".'
        )
        return []
    if getattr(original, _MARK, False):
        return []

    ours = str(task_dir())

    @functools.wraps(original)
    def initialize_tasks(self, include_path=None, *args, **kwargs):
        return original(self, _with_our_folder(include_path, ours), *args, **kwargs)

    setattr(initialize_tasks, _MARK, True)
    TaskManager.initialize_tasks = initialize_tasks
    logger.debug("clinhallu-tasks: task folder %s registered with lmms-eval", ours)
    return []


def _with_our_folder(include_path: str | list[str] | None, ours: str) -> list[str]:
    paths = [] if include_path is None else [include_path] if isinstance(include_path, str) else list(include_path)
    if not any(os.path.realpath(p) == os.path.realpath(ours) for p in paths):
        paths.append(ours)
    return paths
