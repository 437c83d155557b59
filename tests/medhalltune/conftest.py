"""Fixtures for the MedHallTune tests: the shipped release files, WordNet, stand-in data roots."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def shipped_dir() -> Path:
    """The released annotation files: MEDHALLTUNE_CONFORMANCE_DIR, else ../shared/data/medhalltune."""
    value = os.environ.get("MEDHALLTUNE_CONFORMANCE_DIR", "").strip()
    return Path(value) if value else REPO.parent / "shared" / "data" / "medhalltune"


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    folder = shipped_dir()
    if not (folder / "val_positive_qa-filtered.jsonl").is_file():
        pytest.skip(f"released MedHallTune files not found in {folder} (set MEDHALLTUNE_CONFORMANCE_DIR)")
    return folder


@pytest.fixture(scope="session")
def wordnet() -> str:
    """WordNet loaded for METEOR; a missing corpus fails with the instructions to install it.

    scripts/setup.sh installs it into .venv/nltk_data, which NLTK searches by itself.
    """
    from clinhallu_tasks.metrics.text_similarity import MetricAssetError, ensure_wordnet

    try:
        return ensure_wordnet()
    except MetricAssetError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def sample_maker() -> ModuleType:
    """scripts/make_medhalltune_sample.py as a module (it writes data roots with stand-in images)."""
    path = REPO / "scripts" / "make_medhalltune_sample.py"
    spec = importlib.util.spec_from_file_location("make_medhalltune_sample", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def full_root(tmp_path: Path, conformance_dir: Path, sample_maker: ModuleType) -> Path:
    """A complete data root: every released row, with generated stand-in images."""
    # Not named like a task: lmms-eval reads a --tasks name that is a folder in its cwd as a path.
    return sample_maker.write_data_root(conformance_dir, tmp_path / "released_root")
