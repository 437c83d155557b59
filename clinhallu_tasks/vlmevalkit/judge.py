"""VLMEvalKit's judge arguments, read as our judge settings (no VLMEvalKit import).

VLMEvalKit hands `dataset.evaluate(pred_file, **judge_kwargs)` what its command line says about
the judge: `--judge NAME` as `model`, ms-vlmeval's `--judge-base-url URL` as `api_base` (with
`/chat/completions` appended), `--judge-key` as `key`, and every field of `--judge-args JSON`.
Those that name the judge override the `CLINHALLU_JUDGE_*` variables for this evaluation; the
run-loop defaults it always adds (`nproc`, `retry`, `timeout`, `verbose`) are left out, so the
variables keep governing concurrency, retries and timeouts (their meaning differs from ours).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from clinhallu_tasks.errors import SettingsError
from clinhallu_tasks.judging.config import (
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_EXTRA_BODY,
    ENV_MAX_TOKENS,
    ENV_MODEL,
    ENV_TEMPERATURE,
    ENV_TOP_P,
)

logger = logging.getLogger("clinhallu_tasks")

# judge_kwargs field -> the variable it stands for
JUDGE_FIELDS: Mapping[str, str] = {
    "model": ENV_MODEL,
    "api_base": ENV_BASE_URL,
    "key": ENV_API_KEY,
    "temperature": ENV_TEMPERATURE,
    "top_p": ENV_TOP_P,
    "max_tokens": ENV_MAX_TOKENS,
    "extra_body": ENV_EXTRA_BODY,
}
# Fields VLMEvalKit's run loop adds to every evaluation whatever the user asked for.
RUN_LOOP_FIELDS = frozenset({"nproc", "verbose", "retry", "timeout", "use_verifier", "use_vllm"})

KEY_OPTION = "--judge-key"
ARGS_OPTION = "--judge-args"


def judge_environment(judge_kwargs: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` with the judge that `judge_kwargs` names in place of the `CLINHALLU_JUDGE_*` one.

    SettingsError when a judge model is named but no endpoint is known for it.
    """
    merged = dict(environ)
    ignored = sorted(set(judge_kwargs) - set(JUDGE_FIELDS) - RUN_LOOP_FIELDS)
    if ignored:
        logger.warning("VLMEvalKit judge arguments %s are not ClinHallu judge settings and are ignored "
                       "(see the CLINHALLU_JUDGE_* variables)", ", ".join(ignored))
    for field, variable in JUDGE_FIELDS.items():
        value = judge_kwargs.get(field)
        if value is None or value == "":
            continue
        merged[variable] = json.dumps(value) if isinstance(value, Mapping) else str(value)
    if merged.get(ENV_MODEL, "").strip() and not merged.get(ENV_BASE_URL, "").strip():
        raise SettingsError(
            f"judge model {merged[ENV_MODEL]!r} has no endpoint: pass --judge-base-url URL (ms-vlmeval), "
            f"--judge-args '{{\"api_base\": \"http://host:port/v1\"}}', or set {ENV_BASE_URL}"
        )
    return merged


def withhold_judge_key(argv: Sequence[str]) -> tuple[list[str], str | None]:
    """`argv` without the judge key, and the key.

    VLMEvalKit logs its judge arguments and writes its command line into status.json, so the key
    given as `--judge-key KEY` or as `"key"` in `--judge-args` is taken out before it sees them.
    """
    kept: list[str] = []
    key: str | None = None
    arguments = iter(argv)
    for argument in arguments:
        if argument == KEY_OPTION:
            key = next(arguments, None)
            continue
        if argument.startswith(KEY_OPTION + "="):
            key = argument.split("=", 1)[1]
            continue
        if argument == ARGS_OPTION or argument.startswith(ARGS_OPTION + "="):
            value = argument.split("=", 1)[1] if "=" in argument else next(arguments, None)
            if value is None:
                kept.append(argument)
                continue
            value, args_key = _without_key(value)
            key = key if args_key is None else args_key
            kept.extend([ARGS_OPTION, value])
            continue
        kept.append(argument)
    return kept, key


def _without_key(judge_args: str) -> tuple[str, str | None]:
    try:
        parsed = json.loads(judge_args)
    except json.JSONDecodeError:
        return judge_args, None  # VLMEvalKit reports it; nothing of ours to take out
    if not isinstance(parsed, dict) or "key" not in parsed:
        return judge_args, None
    key = parsed.pop("key")
    return json.dumps(parsed), None if key is None else str(key)


__all__ = ["JUDGE_FIELDS", "RUN_LOOP_FIELDS", "judge_environment", "withhold_judge_key"]
