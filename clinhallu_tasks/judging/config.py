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

from ..errors import ClinHalluTasksError

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
ENV_TOP_P = "CLINHALLU_JUDGE_TOP_P"
ENV_THINKING = "CLINHALLU_JUDGE_THINKING"
ENV_STRUCTURED = "CLINHALLU_JUDGE_STRUCTURED_OUTPUT"
ENV_PRICE_INPUT = "CLINHALLU_JUDGE_PRICE_INPUT"
ENV_PRICE_OUTPUT = "CLINHALLU_JUDGE_PRICE_OUTPUT"

DEFAULT_CONCURRENCY = 32
DEFAULT_TIMEOUT = 180.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_FORMAT_RETRIES = 2
DEFAULT_RETRY_BACKOFF = 1.0
# The official judge request: temperature 0.01, top_p 0.9, up to 4,096 tokens, thinking off.
DEFAULT_TEMPERATURE = 0.01
DEFAULT_TOP_P = 0.9
DEFAULT_MAX_TOKENS = 4096
# How thinking is switched off: `auto` sends `chat_template_kwargs: {"enable_thinking": false}` (vLLM,
# SGLang) unless the host is OpenAI's, and stops sending it once the endpoint refuses the field; `off`
# always sends it; `omit` never does (the endpoint's default applies).
THINKING_MODES = ("auto", "off", "omit")
# Structured output: `auto` asks for the request's JSON schema (`response_format`) until the endpoint
# refuses it; `off` never asks.
STRUCTURED_MODES = ("auto", "off")
# Hosts that refuse unknown request fields: the thinking switch is never sent to them under `auto`.
STRICT_FIELD_HOSTS = frozenset({"api.openai.com"})
CACHE_FILE_NAME = "judge_cache.sqlite3"
_CACHE_FILE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
# Fields that the client itself sets; letting extra_body override them would make
# the cache key lie about what was sent.
_RESERVED_BODY_KEYS = frozenset(
    {"model", "messages", "temperature", "top_p", "max_tokens", "stream", "n", "response_format"}
)

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


def _optional_price(env: Mapping[str, str], name: str) -> float | None:
    if _get(env, name) is None:
        return None
    return _float_setting(env, name, 0.0, positive=False)


def _choice_setting(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    raw = _get(env, name)
    if raw is None:
        return choices[0]
    if raw.lower() not in choices:
        raise JudgeConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw.lower()


class JudgeConfigError(ClinHalluTasksError, ValueError):
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


def _hide_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return parts._replace(netloc="[credentials]@" + parts.netloc.rsplit("@", 1)[-1]).geturl()


def normalize_base_url(url: str, variable: str = ENV_BASE_URL) -> str:
    """Strip trailing slashes and a pasted `/chat/completions`; require http(s)."""
    url = url.strip().rstrip("/")
    if url.endswith("/chat/completions"):
        url = url[: -len("/chat/completions")]
    try:
        parts = urlsplit(url)
        credentials = bool(parts.username or parts.password)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # an unparsable port or bracketed host
        raise JudgeConfigError(f"{variable} is not a valid URL: {_hide_credentials(url)!r}") from None
    if credentials:
        # Credentials in the URL would end up in logs and error messages.
        raise JudgeConfigError(f"{variable} must not contain credentials; use {ENV_API_KEY} for the key")
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise JudgeConfigError(f"{variable} must be an http(s) URL such as http://host:8000/v1, got {url!r}")
    return url


def split_base_urls(value: str, variable: str = ENV_BASE_URL) -> tuple[str, ...]:
    """One or several base URLs (comma or whitespace separated): replicas of one judge model."""
    urls = tuple(normalize_base_url(u, variable) for u in value.replace(",", " ").split())
    if not urls:
        raise JudgeConfigError(f"{variable} names no URL")
    duplicates = sorted({u for u in urls if urls.count(u) > 1})
    if duplicates:
        raise JudgeConfigError(f"{variable} lists {duplicates} more than once")
    return urls


def sends_thinking_switch(mode: str, url: str) -> bool:
    """Whether requests to `url` start out carrying the thinking switch under `mode`."""
    if mode == "omit":
        return False
    if mode == "auto":
        return (urlsplit(url).hostname or "").lower() not in STRICT_FIELD_HOSTS
    return True


@dataclass(frozen=True)
class JudgeConfig:
    """Where the judge is, how to call it, and where verdicts are cached.

    `base_url` may list several replicas of one judge model, comma-separated; `base_urls`
    holds them apart. `api_key` is excluded from repr and never written anywhere by this package.
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
    top_p: float = DEFAULT_TOP_P
    max_tokens: int = DEFAULT_MAX_TOKENS
    thinking: str = THINKING_MODES[0]
    structured_output: str = STRUCTURED_MODES[0]
    # Extra JSON fields merged into each request body.
    extra_body: Mapping[str, Any] = field(default_factory=dict, hash=False)
    # Optional USD prices per million prompt / completion tokens, for the cost estimate.
    price_input: float | None = None
    price_output: float | None = None

    def __post_init__(self) -> None:
        urls = split_base_urls(self.base_url, "base_url")
        object.__setattr__(self, "base_url", ",".join(urls))
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
        if not 0 < self.top_p <= 1:
            raise JudgeConfigError("top_p must be in (0, 1]")
        if self.max_tokens < 1:
            raise JudgeConfigError("max_tokens must be >= 1")
        if self.thinking not in THINKING_MODES:
            raise JudgeConfigError(f"thinking must be one of {THINKING_MODES}")
        if self.structured_output not in STRUCTURED_MODES:
            raise JudgeConfigError(f"structured_output must be one of {STRUCTURED_MODES}")
        for name in ("price_input", "price_output"):
            price = getattr(self, name)
            if price is not None and not (price >= 0 and math.isfinite(price)):
                raise JudgeConfigError(f"{name} must be a finite number >= 0")
        reserved = _RESERVED_BODY_KEYS.intersection(self.extra_body)
        if reserved:
            raise JudgeConfigError(f"extra_body must not set {sorted(reserved)}")

    @property
    def base_urls(self) -> tuple[str, ...]:
        return tuple(self.base_url.split(","))

    @property
    def chat_completions_url(self) -> str:
        """The endpoint's URL (several, comma-separated, when replicas are listed)."""
        return ",".join(f"{url}/chat/completions" for url in self.base_urls)

    def decoding(self) -> dict[str, Any]:
        """The configured settings besides the messages that shape the reply (part of the cache key).

        The client adds what it actually sent of the thinking switch and the schema.
        """
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
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
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "thinking": self.thinking,
            "structured_output": self.structured_output,
            "extra_body": dict(self.extra_body),
            "max_retries": self.max_retries,
            "format_retries": self.format_retries,
            "concurrency": self.concurrency,
            "cache_path": str(self.cache_path),
        }

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> JudgeConfig | None:
        """Build the config from `CLINHALLU_JUDGE_*`; None when base URL or model is unset.

        Every setting is checked here, so a task can call this when it loads and fail before
        any generation; a `JudgeConfigError` names the variable, never a secret value.
        """
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
            except json.JSONDecodeError as exc:
                # Position only: the value itself may hold something private.
                raise JudgeConfigError(
                    f"{ENV_EXTRA_BODY} must be a JSON object (invalid JSON at line {exc.lineno}, "
                    f"column {exc.colno}: {exc.msg})"
                ) from None
            if not isinstance(extra, dict):
                raise JudgeConfigError(f"{ENV_EXTRA_BODY} must be a JSON object")
            reserved = _RESERVED_BODY_KEYS.intersection(extra)
            if reserved:
                raise JudgeConfigError(f"{ENV_EXTRA_BODY} must not set {sorted(reserved)}")

        urls = split_base_urls(base_url, ENV_BASE_URL)
        top_p = _float_setting(env, ENV_TOP_P, DEFAULT_TOP_P, positive=True)
        if top_p > 1:
            raise JudgeConfigError(f"{ENV_TOP_P} must be a number in (0, 1], got {get(ENV_TOP_P)!r}")
        return cls(
            base_url=",".join(urls),
            model=model,
            api_key=get(ENV_API_KEY),
            cache_path=resolve_cache_path(get(ENV_CACHE), env),
            concurrency=_int_setting(env, ENV_CONCURRENCY, DEFAULT_CONCURRENCY, minimum=1),
            timeout=_float_setting(env, ENV_TIMEOUT, DEFAULT_TIMEOUT, positive=True),
            max_retries=_int_setting(env, ENV_MAX_RETRIES, DEFAULT_MAX_RETRIES, minimum=0),
            format_retries=_int_setting(env, ENV_FORMAT_RETRIES, DEFAULT_FORMAT_RETRIES, minimum=0),
            retry_backoff=_float_setting(env, ENV_RETRY_BACKOFF, DEFAULT_RETRY_BACKOFF, positive=False),
            temperature=_float_setting(env, ENV_TEMPERATURE, DEFAULT_TEMPERATURE, positive=False),
            top_p=top_p,
            max_tokens=_int_setting(env, ENV_MAX_TOKENS, DEFAULT_MAX_TOKENS, minimum=1),
            thinking=_choice_setting(env, ENV_THINKING, THINKING_MODES),
            structured_output=_choice_setting(env, ENV_STRUCTURED, STRUCTURED_MODES),
            extra_body=extra,
            price_input=_optional_price(env, ENV_PRICE_INPUT),
            price_output=_optional_price(env, ENV_PRICE_OUTPUT),
        )
