"""Judge configuration, read from `CLINHALLU_JUDGE_*` environment variables.

The judge is configured separately from the model under test, so that a run can
evaluate one endpoint while judging with another.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

ENV_BASE_URL = "CLINHALLU_JUDGE_BASE_URL"
ENV_MODEL = "CLINHALLU_JUDGE_MODEL"
ENV_API_KEY = "CLINHALLU_JUDGE_API_KEY"
ENV_CACHE = "CLINHALLU_JUDGE_CACHE"
ENV_CONCURRENCY = "CLINHALLU_JUDGE_CONCURRENCY"
ENV_TIMEOUT = "CLINHALLU_JUDGE_TIMEOUT"
ENV_MAX_RETRIES = "CLINHALLU_JUDGE_MAX_RETRIES"
ENV_FORMAT_RETRIES = "CLINHALLU_JUDGE_FORMAT_RETRIES"
ENV_RETRY_BACKOFF = "CLINHALLU_JUDGE_RETRY_BACKOFF"
ENV_TEMPERATURE = "CLINHALLU_JUDGE_TEMPERATURE"
ENV_MAX_TOKENS = "CLINHALLU_JUDGE_MAX_TOKENS"
ENV_EXTRA_BODY = "CLINHALLU_JUDGE_EXTRA_BODY"

DEFAULT_CONCURRENCY = 32
DEFAULT_TIMEOUT = 180.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_FORMAT_RETRIES = 2
DEFAULT_RETRY_BACKOFF = 1.0
DEFAULT_TEMPERATURE = 0.01  # the protocol's judge temperature
DEFAULT_MAX_TOKENS = 2048
CACHE_FILE_NAME = "judge_cache.sqlite3"
_CACHE_FILE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
# Fields that the client itself sets; letting extra_body override them would make
# the cache key lie about what was sent.
_RESERVED_BODY_KEYS = frozenset({"model", "messages", "temperature", "max_tokens", "stream", "n"})

def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value.strip() if value is not None and value.strip() != "" else None


def _int_setting(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise JudgeConfigError(f"{name} must be an integer >= {minimum}, got {raw!r}")
    return value


def _float_setting(env: Mapping[str, str], name: str, default: float, *, positive: bool) -> float:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    # NaN fails both comparisons, so it is rejected too.
    if not (value > 0 if positive else value >= 0) or math.isinf(value):
        raise JudgeConfigError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {raw!r}")
    return value


class JudgeConfigError(ValueError):
    """An invalid judge setting; the message names the variable (never a secret value)."""


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`$XDG_CACHE_HOME/clinhallu-tasks`, else `~/.cache/clinhallu-tasks`."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "clinhallu-tasks"


def resolve_cache_path(
    value: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None
) -> Path:
    """Map the user's cache setting (a folder, or a file the cache owns) to the sqlite file.

    An existing directory, or a path without a database suffix, is a folder that
    gets `judge_cache.sqlite3`; an existing file or a `.sqlite/.sqlite3/.db` path
    is used as the database itself.
    """
    if value is None or str(value) == "":
        return default_cache_dir(environ) / CACHE_FILE_NAME
    path = Path(os.path.expanduser(str(value)))
    if path.is_dir():
        return path / CACHE_FILE_NAME
    if path.is_file() or path.suffix.lower() in _CACHE_FILE_SUFFIXES:
        return path
    return path / CACHE_FILE_NAME


def normalize_base_url(url: str, variable: str = ENV_BASE_URL) -> str:
    """Strip trailing slashes and a pasted `/chat/completions`; require http(s)."""
    url = url.strip().rstrip("/")
    if url.endswith("/chat/completions"):
        url = url[: -len("/chat/completions")]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise JudgeConfigError(f"{variable} must be an http(s) URL such as http://host:8000/v1, got {url!r}")
    if parts.username or parts.password:
        # Credentials in the URL would end up in logs and error messages.
        raise JudgeConfigError(f"{variable} must not contain credentials; use {ENV_API_KEY} for the key")
    return url


@dataclass(frozen=True)
class JudgeConfig:
    """Where the judge is, how to call it, and where verdicts are cached.

    `api_key` is excluded from repr and never written anywhere by this package.
    """

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    cache_path: Path = field(default_factory=lambda: resolve_cache_path(None))
    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    format_retries: int = DEFAULT_FORMAT_RETRIES
    retry_backoff: float = DEFAULT_RETRY_BACKOFF
    retry_backoff_max: float = 30.0
    temperature: float = DEFAULT_TEMPERATURE
    max_tokens: int = DEFAULT_MAX_TOKENS
    # Extra JSON fields merged into each request body (e.g. to switch a model's thinking mode off).
    extra_body: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", normalize_base_url(self.base_url, "base_url"))
        object.__setattr__(self, "cache_path", Path(self.cache_path))
        if not self.model.strip():
            raise JudgeConfigError("model must be a non-empty string")
        if self.concurrency < 1:
            raise JudgeConfigError("concurrency must be >= 1")
        if self.timeout <= 0:
            raise JudgeConfigError("timeout must be > 0")
        if self.max_retries < 0 or self.format_retries < 0:
            raise JudgeConfigError("max_retries and format_retries must be >= 0")
        if self.retry_backoff < 0 or self.retry_backoff_max < 0:
            raise JudgeConfigError("retry_backoff must be >= 0")
        if self.temperature < 0:
            raise JudgeConfigError("temperature must be >= 0")
        if self.max_tokens < 1:
            raise JudgeConfigError("max_tokens must be >= 1")
        reserved = _RESERVED_BODY_KEYS.intersection(self.extra_body)
        if reserved:
            raise JudgeConfigError(f"extra_body must not set {sorted(reserved)}")

    @property
    def chat_completions_url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def decoding(self) -> dict[str, Any]:
        """Everything besides the messages that shapes the reply (part of the cache key)."""
        return {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "extra_body": dict(self.extra_body),
        }

    def provenance(self) -> dict[str, Any]:
        """JSON-ready description for results files; says whether a key was set, never the key."""
        return {
            "base_url": self.base_url,
            "model": self.model,
            "api_key_set": bool(self.api_key),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "extra_body": dict(self.extra_body),
            "max_retries": self.max_retries,
            "format_retries": self.format_retries,
            "concurrency": self.concurrency,
            "cache_path": str(self.cache_path),
        }

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> JudgeConfig | None:
        """Build the config from `CLINHALLU_JUDGE_*`; None when base URL or model is unset."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            return _get(env, name)

        base_url, model = get(ENV_BASE_URL), get(ENV_MODEL)
        if base_url is None or model is None:
            if base_url is not None or model is not None:
                missing = ENV_MODEL if model is None else ENV_BASE_URL
                logger.warning("%s is not set: LLM judging is disabled (set both %s and %s)",
                               missing, ENV_BASE_URL, ENV_MODEL)
            return None

        extra_raw = get(ENV_EXTRA_BODY)
        extra: dict[str, Any] = {}
        if extra_raw is not None:
            try:
                extra = json.loads(extra_raw)
            except json.JSONDecodeError:
                raise JudgeConfigError(f"{ENV_EXTRA_BODY} must be a JSON object") from None
            if not isinstance(extra, dict):
                raise JudgeConfigError(f"{ENV_EXTRA_BODY} must be a JSON object")
            reserved = _RESERVED_BODY_KEYS.intersection(extra)
            if reserved:
                raise JudgeConfigError(f"{ENV_EXTRA_BODY} must not set {sorted(reserved)}")

        base_url = normalize_base_url(base_url, ENV_BASE_URL)
        return cls(
            base_url=base_url,
            model=model,
            api_key=get(ENV_API_KEY),
            cache_path=resolve_cache_path(get(ENV_CACHE), env),
            concurrency=_int_setting(env, ENV_CONCURRENCY, DEFAULT_CONCURRENCY, minimum=1),
            timeout=_float_setting(env, ENV_TIMEOUT, DEFAULT_TIMEOUT, positive=True),
            max_retries=_int_setting(env, ENV_MAX_RETRIES, DEFAULT_MAX_RETRIES, minimum=0),
            format_retries=_int_setting(env, ENV_FORMAT_RETRIES, DEFAULT_FORMAT_RETRIES, minimum=0),
            retry_backoff=_float_setting(env, ENV_RETRY_BACKOFF, DEFAULT_RETRY_BACKOFF, positive=False),
            temperature=_float_setting(env, ENV_TEMPERATURE, DEFAULT_TEMPERATURE, positive=False),
            max_tokens=_int_setting(env, ENV_MAX_TOKENS, DEFAULT_MAX_TOKENS, minimum=1),
            extra_body=extra,
        )
