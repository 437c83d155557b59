"""Judge infrastructure: configuration, a concurrent cached HTTP client, and its cache.

Knows nothing of any benchmark: judges elsewhere build `JudgeRequest`s and parse replies.
"""

from .cache import CachedVerdict, VerdictCache, file_sha256, request_key
from .client import (
    JudgeClient,
    JudgeOutcome,
    JudgeRequest,
    JudgeStats,
    JudgeUnavailableError,
    TokenUsage,
    VerdictFormatError,
    strip_thinking,
)
from .config import JudgeConfig, JudgeConfigError, default_cache_dir, resolve_cache_path

__all__ = [
    "CachedVerdict",
    "JudgeClient",
    "JudgeConfig",
    "JudgeConfigError",
    "JudgeOutcome",
    "JudgeRequest",
    "JudgeStats",
    "JudgeUnavailableError",
    "TokenUsage",
    "VerdictCache",
    "VerdictFormatError",
    "default_cache_dir",
    "file_sha256",
    "request_key",
    "resolve_cache_path",
    "strip_thinking",
]
