"""The wheel a user installs, built once per test session from the files a fresh clone holds."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Build outputs and caches that a build or a test run leaves in a working tree; never shipped.
LOCAL_DIRS = {".git", ".venv", "__pycache__", "build", "dist", ".pytest_cache", ".ruff_cache", ".hypothesis"}


def clone_files(repo: Path) -> list[Path]:
    """The files a fresh clone of `repo` would hold once the working tree is committed, relative to it.

    Git's view (tracked plus untracked-but-not-ignored) keeps ignored leftovers such as a stale
    *.egg-info out of the build, as they are out of a clone; without git, a walk that skips them.
    """
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=repo, capture_output=True, check=True,
        ).stdout.decode().split("\0")
        names = [Path(name) for name in listed if name]
    except (OSError, subprocess.CalledProcessError):
        names = [
            path.relative_to(repo) for path in repo.rglob("*")
            if path.is_file() and not LOCAL_DIRS.intersection(path.relative_to(repo).parts)
            and path.suffix != ".pyc" and not any(part.endswith(".egg-info") for part in path.parts)
        ]
    # A file deleted in the working tree but not yet in the index is still listed by git.
    return sorted(name for name in names if (repo / name).is_file())


def build_wheel(source: Path, out: Path) -> Path:
    """`pip wheel` the project in `source` offline, with this environment's setuptools, into `out`."""
    command = [
        sys.executable, "-m", "pip", "wheel", str(source),
        "--no-deps", "--no-build-isolation", "--no-index", "--disable-pip-version-check", "-q", "-w", str(out),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"wheel build failed ({' '.join(command)}):\n{done.stdout}\n{done.stderr}")
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.fixture(scope="session")
def source_files() -> list[Path]:
    return clone_files(REPO)


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory, source_files: list[Path]) -> zipfile.ZipFile:
    # Build from a copy so that build/ and *.egg-info never land in the shared working tree.
    source = tmp_path_factory.mktemp("wheel-source")
    for name in source_files:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    path = build_wheel(source, tmp_path_factory.mktemp("wheel"))
    with zipfile.ZipFile(path) as archive:
        yield archive
