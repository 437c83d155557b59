"""Every error the package raises on purpose is a ClinHalluTasksError, so a caller can catch ours in one place."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import clinhallu_tasks
from clinhallu_tasks.errors import ClinHalluTasksError

# Modules that import an optional framework at module level.
OPTIONAL = {"vlmeval"}


def _our_modules():
    for info in pkgutil.walk_packages(clinhallu_tasks.__path__, prefix="clinhallu_tasks."):
        if info.name.endswith("__main__"):
            continue
        try:
            yield importlib.import_module(info.name)
        except ModuleNotFoundError as error:
            if error.name not in OPTIONAL:
                raise


def test_every_exception_class_of_ours_is_under_the_one_base():
    outside = sorted(
        f"{module.__name__}.{name}"
        for module in _our_modules()
        for name, value in vars(module).items()
        if inspect.isclass(value) and issubclass(value, Exception) and value.__module__ == module.__name__
        and not name.startswith("_")  # private control flow inside one module, never seen by a caller
        and not issubclass(value, ClinHalluTasksError)
    )
    assert outside == []


def test_the_judge_errors_are_found_by_the_walk():
    from clinhallu_tasks.judging import JudgeUnavailableError, VerdictFormatError
    from clinhallu_tasks.judging.config import JudgeConfigError

    # ValueError / RuntimeError stay bases too: callers that caught those keep working.
    assert issubclass(JudgeConfigError, ValueError) and issubclass(VerdictFormatError, ValueError)
    assert issubclass(JudgeUnavailableError, RuntimeError)
