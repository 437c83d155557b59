"""VLMEvalKit is an optional extra: its tests skip without it, except in CI, which installs it
(requirements/ci.txt) and must therefore run them."""

from __future__ import annotations

import importlib.util
import os

import pytest


@pytest.fixture(scope="session")
def vlmeval_installed() -> None:
    if importlib.util.find_spec("vlmeval") is not None:
        return
    if os.environ.get("CI"):
        pytest.fail("CI installs ms-vlmeval (requirements/ci.txt), yet `vlmeval` is not importable")
    pytest.skip("VLMEvalKit is not installed (pip install clinhallu-tasks[vlmeval])")


@pytest.fixture(scope="session")
def wordnet() -> str:
    """WordNet for MedHallTune's METEOR (scripts/setup.sh installs it into .venv/nltk_data)."""
    from clinhallu_tasks.metrics.text_similarity import MetricAssetError, ensure_wordnet

    try:
        return ensure_wordnet()
    except MetricAssetError as error:
        pytest.fail(str(error))
