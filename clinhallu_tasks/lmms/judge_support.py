"""Judge plumbing the lmms-eval aggregations of both benchmarks share.

One client per process (its cache and connection pool are reused across tasks), one
log line when no judge is configured, and the judgments file beside lmms-eval's results.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from clinhallu_tasks.judging import JudgeClient, JudgeConfig, JudgeUnavailableError

logger = logging.getLogger("clinhallu_tasks")

_lock = threading.Lock()
_client: JudgeClient | None = None
_client_config: JudgeConfig | None = None
_warned_no_judge = False
_unavailable: JudgeUnavailableError | None = None
_started_files: set[Path] = set()


def judge_client() -> JudgeClient | None:
    """The process-wide judge client, or None when no judge is configured (logged once)
    or the judge already proved unreachable in this process (no point retrying per metric)."""
    global _client, _client_config, _warned_no_judge
    config = JudgeConfig.from_env()
    with _lock:
        if _unavailable is not None:
            logger.error("Judge unreachable earlier in this run; judge metric reported as None.")
            return None
        if config is None:
            if not _warned_no_judge:
                _warned_no_judge = True
                logger.warning(
                    "No judge configured: judge metrics are reported as None. Set "
                    "CLINHALLU_JUDGE_BASE_URL and CLINHALLU_JUDGE_MODEL (and CLINHALLU_JUDGE_API_KEY "
                    "if the endpoint needs one) to enable them."
                )
            return None
        if _client is None or config != _client_config:
            _client, _client_config = JudgeClient(config), config
        return _client


def judge_unavailable(error: JudgeUnavailableError, metric: str) -> None:
    """Remember that the judge is down and say what happened, how to resume, and what survives."""
    global _unavailable
    with _lock:
        _unavailable = error
    logger.error(
        "%s: %s. The judge metrics of this run are None; every other metric is kept. "
        "Verdicts already received are cached: rerun the same command to resume.",
        metric,
        error,
    )


def results_dir(args: Any) -> Path | None:
    """The folder lmms-eval writes its results file into for this run, if it writes one."""
    output_path = getattr(args, "output_path", None)
    if not output_path:
        return None
    folder = Path(output_path)
    try:  # lmms-eval names the folder after the model, the way its tracker does
        from lmms_eval.loggers.evaluation_tracker import GeneralConfigTracker
        from lmms_eval.utils import sanitize_model_name

        model_name = GeneralConfigTracker._get_model_name(getattr(args, "model_args", "") or "")
        folder = folder / sanitize_model_name(model_name)
    except (ImportError, AttributeError) as exc:  # an lmms-eval that moved these: keep the plain path
        logger.debug("could not derive lmms-eval's model folder: %s", exc)
    return folder


def write_judgments(args: Any, task: str, metric: str, judgments: Iterable[Mapping[str, Any]]) -> Path | None:
    """Write one metric's verdicts to `judgments_<task>.jsonl` beside the results.

    The first metric of a task written in this process starts the file afresh, later
    ones append, so a rerun replaces the old verdicts instead of doubling them.
    """
    folder = results_dir(args)
    if folder is None:
        return None
    path = folder / f"judgments_{task}.jsonl"
    with _lock:
        mode = "a" if path in _started_files else "w"
        _started_files.add(path)
        folder.mkdir(parents=True, exist_ok=True)
        with path.open(mode, encoding="utf-8") as handle:
            for judgment in judgments:
                handle.write(json.dumps({"task": task, "metric": metric, **judgment}, ensure_ascii=False))
                handle.write("\n")
    return path
