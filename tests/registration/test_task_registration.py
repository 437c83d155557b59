"""Our tasks reach lmms-eval: automatically, and through the documented fallbacks.

If a new lmms-eval stops loading the `lmms_eval.models` entry point before building its
TaskManager, or renames what we wrap, these tests fail loudly.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from clinhallu_tasks.registration import _with_our_folder, task_dir

SAMPLE_TASKS = {"clinhallu_sample_baseline", "clinhallu_sample_replace_vr", "clinhallu_sample_replace_vr_kr"}
INTERFACE_NAMES = {
    f"clinhallu_{source}_{run}"
    for source in ("vqa_rad", "pathvqa", "medframeqa", "medxpertqa", "sample")
    for run in ("baseline", "replace_vr", "replace_vr_kr")
} | {
    "clinhallu",
    "clinhallu_baseline",
    "clinhallu_sample",
    "clinhallu_vqa_rad",
    "clinhallu_pathvqa",
    "clinhallu_medframeqa",
    "clinhallu_medxpertqa",
}


def _tasks_seen(code: str, tmp_path) -> set[str]:
    """Run `code` in a fresh interpreter (registration is process-wide) and read the task names."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={"HF_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return set(done.stdout.split())


def test_the_models_entry_point_registers_every_task(tmp_path):
    # This is what the lmms-eval CLI does: import lmms_eval.models (entry points), then TaskManager().
    seen = _tasks_seen(
        "import lmms_eval.models\n"
        "from lmms_eval.tasks import TaskManager\n"
        "print(' '.join(TaskManager().all_tasks))",
        tmp_path,
    )
    assert seen >= INTERFACE_NAMES


def test_the_include_path_fallback_works_without_the_entry_point(tmp_path):
    seen = _tasks_seen(
        "from lmms_eval.tasks import TaskManager\n"
        f"print(' '.join(TaskManager(include_path={str(task_dir())!r}).all_tasks))",
        tmp_path,
    )
    assert seen >= INTERFACE_NAMES


def test_wrap_is_applied_once_and_keeps_user_paths():
    import lmms_eval.models  # noqa: F401  (loads our entry point)
    from lmms_eval.tasks import TaskManager

    from clinhallu_tasks.registration import register_tasks

    before = TaskManager.initialize_tasks
    assert register_tasks() == []
    assert TaskManager.initialize_tasks is before  # no second wrap
    assert getattr(before, "_clinhallu_tasks_wrapped", False)


@pytest.mark.parametrize(
    ("given", "expected_tail"),
    [(None, []), ("/x", ["/x"]), (["/x", "/y"], ["/x", "/y"])],
)
def test_our_folder_is_added_once(given, expected_tail):
    ours = str(task_dir())
    paths = _with_our_folder(given, ours)
    assert paths == [*expected_tail, ours]
    assert _with_our_folder(paths, ours) == paths


def test_path_command_prints_the_yaml_folder():
    done = subprocess.run(
        [sys.executable, "-m", "clinhallu_tasks.cli", "path"], capture_output=True, text=True, check=True
    )
    folder = done.stdout.strip()
    assert folder == str(task_dir())
    assert (task_dir() / "clinhallu" / "clinhallu_sample_baseline.yaml").is_file()
