"""Persistent verdict cache: one sqlite file shared by threads and processes.

Rows hold the judge's raw reply text, and the tokens the endpoint reported for it,
under a key computed from the judge model and the full request content (see
`request_key`), so the same question asked of the same judge with the same decoding
settings is answered from disk. The endpoint URL and the API key are never part of a row.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

# Bump when the key layout changes so old rows are simply never hit again.
# 2: messages hashed apart from the decoding settings, which now say what was sent.
KEY_VERSION = 2
# Well under SQLite's host-parameter limit on every version still in use.
_LOOKUP_CHUNK = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS verdicts (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    reply TEXT NOT NULL,
    label TEXT,
    created REAL NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER
)
"""
# Files written before usage was recorded lack these columns; they are added on open.
_ADDED_COLUMNS = (("prompt_tokens", "INTEGER"), ("completion_tokens", "INTEGER"))


@dataclass(frozen=True)
class CachedVerdict:
    """A cached reply and the tokens the endpoint reported for it (None: not reported)."""

    reply: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@lru_cache(maxsize=1 << 16)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    # size and mtime are part of the memo key so an edited file is hashed again.
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes, memoized by (path, size, mtime)."""
    resolved = os.path.abspath(os.fspath(path))
    stat = os.stat(resolved)
    return _file_sha256(resolved, stat.st_size, stat.st_mtime_ns)


def _keyed_content(content: Any) -> Any:
    """Message content with image files replaced by the hash of their bytes."""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        kind = part.get("type")
        if kind == "image_file":
            parts.append({"type": "image_sha256", "sha256": file_sha256(part["path"])})
        elif kind == "text":
            parts.append({"type": "text", "text": part["text"]})
        else:
            raise ValueError(f"unsupported message part type {kind!r} (use 'text' or 'image_file')")
    return parts


def messages_digest(messages: Sequence[Mapping[str, Any]]) -> str:
    """sha256 over the messages with image files replaced by the hash of their bytes.

    Raises OSError when an attached image cannot be read.
    """
    keyed = [{"role": m["role"], "content": _keyed_content(m["content"])} for m in messages]
    blob = json.dumps(keyed, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def key_from_digest(model: str, digest: str, decoding: Mapping[str, Any]) -> str:
    """Cache key from a `messages_digest`: cheap to derive for several decoding variants."""
    payload = {"v": KEY_VERSION, "model": model, "messages": digest, "decoding": decoding}
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def request_key(model: str, messages: Sequence[Mapping[str, Any]], decoding: Mapping[str, Any]) -> str:
    """Cache key: sha256 over judge model, messages (image bytes hashed) and decoding settings.

    Raises OSError when an attached image cannot be read.
    """
    return key_from_digest(model, messages_digest(messages), decoding)


class VerdictCache:
    """sqlite-backed map from request key to the judge's reply text.

    WAL mode and a busy timeout let several processes (e.g. evaluation ranks) and
    threads share one file; each write commits on its own so a killed run keeps
    every verdict it received.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # check_same_thread=False: one connection, serialised by our own lock.
            self._conn = sqlite3.connect(
                str(self.path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() == "wal":
                # Safe with WAL: a crash may lose the last commits, never corrupt the file.
                self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute(_SCHEMA)
            present = {row[1] for row in self._conn.execute("PRAGMA table_info(verdicts)")}
            for column, kind in _ADDED_COLUMNS:
                if column not in present:
                    self._conn.execute(f"ALTER TABLE verdicts ADD COLUMN {column} {kind}")
        except (OSError, sqlite3.Error) as exc:
            raise OSError(f"cannot open the judge cache at {self.path}: {exc}") from exc
        self._lock = threading.Lock()

    def get_many(self, keys: Iterable[str]) -> dict[str, str]:
        """Replies for the keys that are cached (batched lookups)."""
        return {key: entry.reply for key, entry in self.get_entries(keys).items()}

    def get_entries(self, keys: Iterable[str]) -> dict[str, CachedVerdict]:
        """Replies and their token counts for the keys that are cached (batched lookups)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, CachedVerdict] = {}
        with self._lock:
            for start in range(0, len(wanted), _LOOKUP_CHUNK):
                chunk = wanted[start : start + _LOOKUP_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT key, reply, prompt_tokens, completion_tokens FROM verdicts WHERE key IN ({marks})",
                    chunk,
                )
                found.update((key, CachedVerdict(reply, prompt, completion)) for key, reply, prompt, completion in rows)
        return found

    def get(self, key: str) -> str | None:
        return self.get_many([key]).get(key)

    def put(
        self, key: str, reply: str, *, model: str, label: str | None = None,
        prompt_tokens: int | None = None, completion_tokens: int | None = None,
    ) -> None:
        """Store one reply now (its own transaction), with the tokens the endpoint reported."""
        self.put_many([(key, CachedVerdict(reply, prompt_tokens, completion_tokens))], model=model, label=label)

    def put_many(
        self, items: Iterable[tuple[str, str | CachedVerdict]], *, model: str, label: str | None = None
    ) -> None:
        """Store several replies (text, or `CachedVerdict` with token counts) in one transaction."""
        now = time.time()
        rows = []
        for key, item in items:
            entry = item if isinstance(item, CachedVerdict) else CachedVerdict(item)
            rows.append((key, model, entry.reply, label, now, entry.prompt_tokens, entry.completion_tokens))
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO verdicts"
                    " (key, model, reply, label, created, prompt_tokens, completion_tokens)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def delete(self, key: str) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM verdicts WHERE key = ?", (key,))

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> VerdictCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
