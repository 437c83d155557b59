"""Keep secrets out of everything the run prints or writes.

lmms-eval's `--model_args` may carry an API key (`api_key=...`), and a `base_url` may carry
credentials (`https://user:token@host/v1`, `?api_key=...`). lmms-eval echoes `model_args` in
its own CLI; driven through its Python API it may still log them (a model backend warning
about its arguments, an HTTP error quoting a URL). So the run masks:

- in what it writes (protocol-run.json): each secret value of `model_args`, structurally;
- in everything that reaches stdout/stderr (prints, tqdm, Python logging, loguru): every
  secret value found in `model_args` and in sensitive environment variables, as plain text.

Pure: no framework import; the lmms-eval side installs the masking (runner/lmms_driver.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TextIO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"

# A parameter or variable whose value is a credential: api_key, openai_api_key, key, hf_token,
# client_secret, password, ... (by the end of its name, case-insensitive).
_SENSITIVE_NAME = re.compile(r"(?i)(^|_)(api_?key|key|token|secret|password|passwd|credentials?|auth)$")
# `name=value` in free text where the name is sensitive: the last line of defence for values
# we could not know in advance (lmms-eval's own redaction pattern, widened to `key=`).
_ASSIGNMENT = re.compile(r"(?i)\b(\w*(?:api_?key|key|token|secret|password|passwd))=([^,\s&'\"()]+)")
# The shortest value we mask as free text: shorter ones ("1", "true") would mask innocent words.
_MIN_SECRET_LENGTH = 6


def is_sensitive_name(name: str) -> bool:
    return _SENSITIVE_NAME.search(name.strip()) is not None


def split_model_args(model_args: str) -> list[tuple[str, str | None]]:
    """`k=v,k2=v2` as lmms-eval reads it (split on commas, then on the first `=`); None: no `=`."""
    pairs: list[tuple[str, str | None]] = []
    for piece in model_args.split(","):
        if not piece.strip():
            continue
        key, sep, value = piece.partition("=")
        pairs.append((key.strip(), value if sep else None))
    return pairs


def _url_secrets(value: str) -> list[str]:
    """Credentials inside a URL: the user-info part and sensitive query values."""
    parts = urlsplit(value)
    if not parts.scheme or not parts.netloc:
        return []
    found = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        found += [piece for piece in userinfo.split(":") if piece]
    found += [v for k, v in parse_qsl(parts.query, keep_blank_values=False) if is_sensitive_name(k)]
    return found


def mask_url(value: str) -> str:
    parts = urlsplit(value)
    if not parts.scheme or not parts.netloc:
        return value
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if is_sensitive_name(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def mask_model_args(model_args: str) -> str:
    """`model_args` with every secret value replaced by ***: safe to print, write and compare."""
    masked = []
    for key, value in split_model_args(model_args):
        if value is None:
            masked.append(key)
        elif is_sensitive_name(key):
            masked.append(f"{key}={MASK}")
        else:
            masked.append(f"{key}={mask_url(value)}")
    return ",".join(masked)


def secret_values(model_args: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret string to mask in free text: from `model_args` and sensitive variables."""
    found: list[str] = []
    for key, value in split_model_args(model_args):
        if value is None:
            continue
        if is_sensitive_name(key):
            found.append(value)
        found += _url_secrets(value)
    for name, value in (environ or {}).items():
        if is_sensitive_name(name):
            found.append(value)
    unique = {value.strip() for value in found if len(value.strip()) >= _MIN_SECRET_LENGTH}
    return sorted(unique, key=len, reverse=True)  # longest first: a secret containing another


class Masker:
    """Replaces known secret values, and any `secret_name=value`, with ***."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = tuple(sorted(set(secrets), key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return _ASSIGNMENT.sub(lambda m: f"{m.group(1)}={MASK}", text)


class MaskingStream:
    """A text stream that masks what is written to it before passing it on.

    Masks per write: tqdm and print write whole lines or short pieces, and a secret is a
    single token that nothing we run writes in two pieces.
    """

    def __init__(self, stream: TextIO, masker: Masker) -> None:
        self._stream = stream
        self._masker = masker

    def write(self, text: str) -> int:
        self._stream.write(self._masker(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str):  # isatty, fileno, encoding, ...: the wrapped stream's
        return getattr(self._stream, name)


__all__ = [
    "MASK",
    "Masker",
    "MaskingStream",
    "is_sensitive_name",
    "mask_model_args",
    "mask_url",
    "secret_values",
    "split_model_args",
]
