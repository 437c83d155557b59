"""The wheel ships every module, every data file and every entry point of the source tree.

pyproject.toml lists packages by hand (setuptools' discovery cannot see metrics/ and task_yaml/,
which install as clinhallu_tasks.metrics / clinhallu_tasks.task_yaml), so a new subpackage or data
file can go missing from the wheel while every test of the editable install still passes. The
expected contents are derived from the source tree, so new subpackages and files are covered
without editing this file.
"""

from __future__ import annotations

import ast
import sys
import zipfile
from collections import defaultdict
from importlib.metadata import EntryPoint, PathDistribution
from pathlib import Path, PurePosixPath

import pytest

REPO = Path(__file__).resolve().parents[2]

if sys.version_info >= (3, 11):
    import tomllib
else:
    tomllib = pytest.importorskip("tomli")

# Source folder -> where its files land in the wheel: the repo keeps metric code and task YAMLs
# at the top level, and both install inside our namespace.
SOURCE_ROOTS = {
    "clinhallu_tasks": "clinhallu_tasks",
    "metrics": "clinhallu_tasks/metrics",
    "task_yaml": "clinhallu_tasks/task_yaml",
}
# Public names (README.md, docs/vlmevalkit.md; lmms-eval looks up its two groups): callers use them by name.
PUBLIC_ENTRY_POINTS = {
    ("console_scripts", "clinhallu-tasks"),
    ("console_scripts", "clinhallu-vlmeval"),
    ("lmms_eval.models", "clinhallu_tasks"),
    ("lmms_eval.tasks", "clinhallu_tasks"),
}


def expected_contents(source_files: list[Path]) -> dict[str, Path]:
    """Wheel path -> source file, for every file under a package source folder."""
    expected = {}
    for name in source_files:
        root, *rest = name.parts
        if root in SOURCE_ROOTS and rest:
            expected[str(PurePosixPath(SOURCE_ROOTS[root], *rest))] = name
    return expected


def missing_by_package(missing: dict[str, Path]) -> str:
    """One line per package: its dotted name, then the source files the wheel lacks."""
    by_package: dict[str, list[str]] = defaultdict(list)
    for wheel_path, source in sorted(missing.items()):
        by_package[str(PurePosixPath(wheel_path).parent).replace("/", ".")].append(str(source))
    return "\n".join(f"  {package}: {', '.join(files)}" for package, files in sorted(by_package.items()))


def pyproject_entry_points() -> set[tuple[str, str, str]]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {("console_scripts", name, value) for name, value in project.get("scripts", {}).items()}
    declared |= {("gui_scripts", name, value) for name, value in project.get("gui-scripts", {}).items()}
    for group, entries in project.get("entry-points", {}).items():
        declared |= {(group, name, value) for name, value in entries.items()}
    return declared


def wheel_entry_points(wheel: zipfile.ZipFile) -> list[EntryPoint]:
    # importlib.metadata reads entry_points.txt exactly as lmms-eval and pip's script installer do.
    (dist_info,) = {name.split("/")[0] for name in wheel.namelist() if name.split("/")[0].endswith(".dist-info")}
    return list(PathDistribution(zipfile.Path(wheel, dist_info + "/")).entry_points)


def defines(module_source: str, attribute: str) -> bool:
    """Whether a module binds `attribute` at its top level (def, class, assignment or import)."""
    for node in ast.parse(module_source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == attribute:
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
            (alias.asname or alias.name.split(".")[0]) == attribute for alias in node.names
        ):
            return True
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if any(isinstance(target, ast.Name) and target.id == attribute for target in targets):
            return True
    return False


def test_every_python_module_of_the_source_tree_is_in_the_wheel(wheel, source_files):
    expected = {path: src for path, src in expected_contents(source_files).items() if path.endswith(".py")}
    missing = {path: src for path, src in expected.items() if path not in set(wheel.namelist())}
    if missing:
        pytest.fail(
            "modules missing from the wheel; list each package in pyproject.toml [tool.setuptools] packages:\n"
            + missing_by_package(missing)
        )


def test_every_data_file_of_the_source_tree_is_in_the_wheel(wheel, source_files):
    expected = {path: src for path, src in expected_contents(source_files).items() if not path.endswith(".py")}
    missing = {path: src for path, src in expected.items() if path not in set(wheel.namelist())}
    if missing:
        pytest.fail(
            "data files missing from the wheel; add a pattern to pyproject.toml [tool.setuptools.package-data]:\n"
            + missing_by_package(missing)
        )


def test_only_our_namespace_is_installed_at_the_top_level(wheel):
    # A top-level `metrics` or `task_yaml` would shadow, or be shadowed by, any other package of that name.
    top_level = {name.split("/")[0] for name in wheel.namelist()}
    leaked = {name for name in top_level if name != "clinhallu_tasks" and not name.endswith(".dist-info")}
    assert not leaked, f"the wheel installs top-level names besides clinhallu_tasks: {sorted(leaked)}"


def test_the_wheel_declares_exactly_the_entry_points_of_pyproject(wheel):
    declared = {(ep.group, ep.name, ep.value) for ep in wheel_entry_points(wheel)}
    assert declared == pyproject_entry_points()


def test_the_public_commands_and_lmms_eval_hooks_are_declared(wheel):
    declared = {(ep.group, ep.name) for ep in wheel_entry_points(wheel)}
    assert sorted(PUBLIC_ENTRY_POINTS - declared) == []


def test_every_entry_point_names_a_module_and_attribute_inside_the_wheel(wheel):
    names = set(wheel.namelist())
    unresolved = []
    for ep in wheel_entry_points(wheel):
        module_path = ep.module.replace(".", "/")
        candidates = [f"{module_path}.py", f"{module_path}/__init__.py"]
        found = next((path for path in candidates if path in names), None)
        if found is None:
            unresolved.append(f"{ep.group}:{ep.name} = {ep.value}: no {' or '.join(candidates)} in the wheel")
        elif ep.attr and not defines(wheel.read(found).decode("utf-8"), ep.attr.split(".")[0]):
            unresolved.append(f"{ep.group}:{ep.name} = {ep.value}: {found} defines no {ep.attr}")
    assert not unresolved, "\n".join(unresolved)
