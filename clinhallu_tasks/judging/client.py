"""Concurrent, retrying, cached client for an OpenAI-compatible chat-completions judge.

Judges (the benchmark-specific modules) build `JudgeRequest`s and a `parse` function;
this module sends them and returns a `JudgeOutcome` for each. `submit` returns a future
at once and may be called from many threads; `judge_many` is built on it. Every call
of one client shares one bound on requests in flight (`concurrency`), spread over the
replicas listed in the base URL; identical requests in flight are asked once.

What the endpoint offers is learnt once per client: a refusal of the thinking switch or
of the JSON schema (HTTP 400/422 naming the field) turns it off for the rest of the run.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import mimetypes
import queue
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, InvalidStateError, as_completed
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
from tqdm.auto import tqdm

from ..errors import ClinHalluTasksError
from .cache import CachedVerdict, VerdictCache, key_from_digest, messages_digest
from .config import ENV_EXTRA_BODY, ENV_THINKING, JudgeConfig, sends_thinking_switch

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Statuses worth retrying: rate limiting, request timeout, and server-side trouble.
_RETRY_STATUSES = frozenset({408, 409, 425, 429}) | frozenset(range(500, 600))
# Statuses that will fail every request alike: stop at once instead of recording thousands of failures.
_FATAL_STATUSES = {
    401: "authentication failed",
    403: "access denied",
    404: "not found (wrong URL or model name?)",
}
# A refusal of an optional field: a validation error whose text names the field.
_REFUSAL_STATUSES = frozenset({400, 422})
_THINKING_MARKERS = ("chat_template_kwargs", "enable_thinking")
_SCHEMA_MARKERS = ("response_format", "json_schema", "json schema", "structured output")
_ERROR_TEXT_LIMIT = 300
_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"


class VerdictFormatError(ClinHalluTasksError, ValueError):
    """The judge's reply is not in the expected format (raised by a judge's `parse`)."""


class JudgeUnavailableError(ClinHalluTasksError, RuntimeError):
    """No judge endpoint could be used; the verdicts received so far are in the cache.

    `url` names the endpoint(s), comma-separated; never the key.
    """

    def __init__(self, message: str, *, url: str, saved: int, total: int, reason: str = "") -> None:
        super().__init__(message)
        self.url = url
        self.saved = saved
        self.total = total
        self.reason = reason


@dataclass(frozen=True)
class JudgeRequest:
    """One chat-completions conversation for the judge.

    `messages` are `{"role": ..., "content": str | [part, ...]}`; a part is
    `{"type": "text", "text": ...}` or `{"type": "image_file", "path": "/abs/file.png"}`.
    `schema`, when given, is the JSON schema of the verdict: endpoints that offer structured
    output are asked to follow it (`response_format`), the others get the plain request.
    """

    messages: Sequence[Mapping[str, Any]]
    schema: Mapping[str, Any] | None = None
    schema_name: str = "verdict"


@dataclass(frozen=True)
class TokenUsage:
    """Tokens the endpoint reported (`usage`) for producing one verdict, over all its asks."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens)


NO_TOKENS = TokenUsage()


@dataclass
class JudgeOutcome(Generic[T]):
    """The verdict for one request (`value`), or why there is none (`error`).

    `raw` is the reply as received; `thinking_removed` says a thinking block was cut off its
    front before parsing. `usage` is what producing the verdict cost (for a cached verdict, what
    it cost when first asked; `new_usage` is then zero). `attempts` counts HTTP requests sent.
    """

    value: T | None = None
    raw: str | None = None
    from_cache: bool = False
    error: str | None = None
    attempts: int = 0
    usage: TokenUsage | None = None
    thinking_removed: bool = False
    structured: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.value is not None

    @property
    def new_usage(self) -> TokenUsage:
        """Tokens spent by this run on this verdict."""
        return NO_TOKENS if self.from_cache or self.usage is None else self.usage


@dataclass(frozen=True)
class JudgeStats:
    """What judging cost, for one label or the whole client (`label` None).

    `requests` verdicts were asked for: `cache_hits` came from the cache, `shared` rode on an
    identical request in flight, the rest took `calls` HTTP requests (retries and `reasks` after
    a malformed verdict included). `wall_s` is the time at least one request was in flight.
    """

    label: str | None
    requests: int = 0
    cache_hits: int = 0
    shared: int = 0
    calls: int = 0
    reasks: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0
    cost_usd: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class _Tally:
    """Mutable counters behind a `JudgeStats`; only touched under the client's stats lock."""

    requests: int = 0
    cache_hits: int = 0
    shared: int = 0
    calls: int = 0
    reasks: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0
    active: int = 0
    busy_since: float = 0.0


class _Unavailable(Exception):
    """Internal: no endpoint is left (or every request would be refused alike)."""


class _EndpointDown(Exception):
    """Internal: one endpoint failed past its retry budget (`sent` requests spent on it)."""

    def __init__(self, reason: str, sent: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sent = sent


class _Refused(Exception):
    """Internal: the endpoint refused an optional field; the client no longer sends it."""


@dataclass
class _Endpoint:
    url: str  # .../chat/completions
    in_flight: int = 0
    down_reason: str | None = None


@dataclass
class _Job:
    request: JudgeRequest
    parse: Callable[[str], Any]
    label: str | None
    digest: str
    key: str
    future: Future[JudgeOutcome[Any]]
    followers: list[tuple[Future[JudgeOutcome[Any]], str | None]] = field(default_factory=list)


def strip_thinking(text: str) -> tuple[str, bool]:
    """Cut a thinking block off the front of a reply: `(rest, removed)`.

    `<think>...</think>` at the start goes; so does everything up to a `</think>` that has no
    opening tag (chat templates that open the block in the prompt). An unclosed block stays,
    so the strict parse rejects it.
    """
    stripped = text.lstrip()
    if stripped.startswith(_THINK_OPEN):
        end = stripped.find(_THINK_CLOSE)
        if end < 0:
            return text, False
        return stripped[end + len(_THINK_CLOSE) :].lstrip(), True
    end = text.find(_THINK_CLOSE)
    if end >= 0 and _THINK_OPEN not in text[:end]:
        return text[end + len(_THINK_CLOSE) :].lstrip(), True
    return text, False


def _sniff_mime(data: bytes, path: str) -> str:
    # File names in medical datasets are not always honest about the format.
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"BM"):
        return "image/bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    guessed, _ = mimetypes.guess_type(path)
    return guessed or "application/octet-stream"


def _wire_content(content: Any) -> Any:
    """Message content as sent: image files become base64 data URLs."""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if part.get("type") == "image_file":
            with open(part["path"], "rb") as handle:
                data = handle.read()
            url = f"data:{_sniff_mime(data, part['path'])};base64,{base64.b64encode(data).decode('ascii')}"
            parts.append({"type": "image_url", "image_url": {"url": url}})
        else:
            parts.append({"type": "text", "text": part["text"]})
    return parts



def _parse_reply(text: str, parse: Callable[[str], T]) -> tuple[T, bool]:
    """`parse` applied to the reply with its thinking block removed: (value, removed)."""
    answer, removed = strip_thinking(text)
    return parse(answer), removed


class JudgeClient:
    """Sends judge requests concurrently over one or more replicas, with retries and a persistent cache."""

    def __init__(
        self,
        config: JudgeConfig,
        *,
        cache: VerdictCache | None = None,
        transport: httpx.BaseTransport | None = None,
        progress: bool = True,
    ) -> None:
        self.config = config
        self.cache = cache if cache is not None else VerdictCache(config.cache_path)
        self._owns_cache = cache is None
        self.progress = progress
        headers = {"Content-Type": "application/json"}
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key}"
        self._http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(config.timeout, connect=min(config.timeout, 30.0)),
            limits=httpx.Limits(
                max_connections=config.concurrency, max_keepalive_connections=config.concurrency
            ),
            transport=transport,
        )
        self._decoding = config.decoding()
        self._endpoints = [_Endpoint(f"{url}/chat/completions") for url in config.base_urls]
        self._turn = 0  # round-robin among equally loaded endpoints
        self._lock = threading.Lock()  # endpoints, capabilities, in-flight map, workers
        self._stop = threading.Event()  # set when no endpoint is left or the client closes
        self._unavailable: str | None = None
        # What the endpoint turned out to accept; each flips at most once per client.
        user_kwargs = "chat_template_kwargs" in config.extra_body
        self._thinking_switch = not user_kwargs and all(
            sends_thinking_switch(config.thinking, url) for url in config.base_urls
        )
        self._thinking_droppable = config.thinking == "auto"
        self._schema_ok = config.structured_output == "auto"
        self._in_flight: dict[tuple[str, Any], _Job] = {}
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._stats_lock = threading.Lock()
        self._tallies: dict[str | None, _Tally] = {None: _Tally()}
        self._saved = 0

    # -- public API -------------------------------------------------------------------------------

    def request_key(self, request: JudgeRequest) -> str:
        """The cache key of a request as this client would send it now (OSError if an image is unreadable)."""
        return self._key(request, messages_digest(request.messages))

    def submit(
        self, request: JudgeRequest, parse: Callable[[str], T], *, label: str | None = None
    ) -> Future[JudgeOutcome[T]]:
        """Judge one request without waiting: cache first, else queued for the endpoint.

        Safe to call from many threads at once; all share `concurrency`. An identical request
        (same key, same `parse`) already in flight is not asked again. The future's result
        raises `JudgeUnavailableError` when no endpoint is left.
        """
        self._begin(label)
        return self._submit(request, parse, label)

    def _submit(
        self, request: JudgeRequest, parse: Callable[[str], T], label: str | None,
        keyed: tuple[str, str] | None = None,
    ) -> Future[JudgeOutcome[T]]:
        """`submit` for a request already counted by `_begin`; `keyed` (digest, key) skips the cache lookup."""
        future: Future[JudgeOutcome[T]] = Future()
        if keyed is None:
            try:
                digest = messages_digest(request.messages)
                key = self._key(request, digest)
            except (OSError, KeyError, TypeError, ValueError) as exc:
                error = JudgeOutcome[T](error=f"cannot build the request: {self._redact(str(exc))}")
                self._finish(future, label, error)
                return future
            cached = self._from_cache(key, parse, self._structured(request))
            if cached is not None:
                self._finish(future, label, cached)
                return future
        else:
            digest, key = keyed
        unavailable, leader = None, None
        with self._lock:
            if self._unavailable is not None or self._stop.is_set():
                unavailable = self._unavailable or "the client is closed"
            else:
                leader = self._in_flight.get((key, parse))
                if leader is not None:
                    leader.followers.append((future, label))
                else:
                    job = _Job(request, parse, label, digest, key, future)
                    self._in_flight[(key, parse)] = job
                    self._start_workers()
                    self._jobs.put(job)
        if unavailable is not None:
            self._fail(future, label, unavailable)
        elif leader is not None:
            self._count(label, shared=1)
        return future

    def judge_many(
        self,
        requests: Sequence[JudgeRequest],
        parse: Callable[[str], T],
        *,
        desc: str = "judge",
        label: str | None = None,
    ) -> list[JudgeOutcome[T]]:
        """Judge every request (cache first, then the endpoint); outcomes in request order.

        A reply that `parse` rejects with `VerdictFormatError` is asked again up to
        `format_retries` times and then becomes a failed outcome. Raises
        `JudgeUnavailableError` when no endpoint is left; everything received until
        then is already cached, so a rerun resumes. `label` (default `desc`) names the
        counters in `stats`.
        """
        label = desc if label is None else label
        outcomes: list[JudgeOutcome[T] | None] = [None] * len(requests)
        by_key: dict[str, list[int]] = {}
        digests: dict[str, str] = {}
        for index, request in enumerate(requests):
            self._begin(label)
            try:
                digest = messages_digest(request.messages)
                key = self._key(request, digest)
            except (OSError, KeyError, TypeError, ValueError) as exc:
                error = JudgeOutcome[T](error=f"cannot build the request: {self._redact(str(exc))}")
                outcomes[index] = error
                self._settle(label, error)
                continue
            digests.setdefault(key, digest)
            by_key.setdefault(key, []).append(index)

        # One batched lookup: a fully cached rerun of thousands of verdicts takes seconds.
        cached = self.cache.get_entries(by_key)
        pending: dict[Future[JudgeOutcome[T]], str] = {}
        for key, indices in by_key.items():
            outcome = self._cached_outcome(cached.get(key), parse, self._structured(requests[indices[0]]))
            if outcome is None:
                pending[self._submit(requests[indices[0]], parse, label, (digests[key], key))] = key
                self._count(label, shared=len(indices) - 1)
                continue
            for index in indices:
                outcomes[index] = outcome
                self._settle(label, outcome)

        done = sum(o is not None for o in outcomes)
        failed = sum(o is not None and not o.ok for o in outcomes)
        bar = tqdm(
            total=len(requests), initial=done, desc=desc, unit="verdict",
            disable=not self.progress or not requests, dynamic_ncols=True, mininterval=0.5,
        )
        bar.set_postfix(failed=failed, cached=done - failed, refresh=False)
        unavailable: JudgeUnavailableError | None = None
        try:
            for future in as_completed(pending):
                key = pending[future]
                try:
                    outcome = future.result()
                except JudgeUnavailableError as exc:
                    unavailable = unavailable or exc
                    continue
                indices = by_key[key]
                if len(indices) > 1:
                    self._settle_followers(label, outcome, len(indices) - 1)
                for index in indices:
                    outcomes[index] = outcome
                failed += 0 if outcome.ok else len(indices)
                bar.update(len(indices))
                bar.set_postfix(failed=failed, refresh=False)
        except BaseException:
            # Ctrl-C: requests not yet sent are dropped; replies in flight are still cached.
            for future in pending:
                future.cancel()
            raise
        finally:
            bar.close()
        if unavailable is not None:
            for indices in by_key.values():
                if outcomes[indices[0]] is None:  # the leader's failure is counted; its duplicates end here
                    self._end(label, times=len(indices) - 1)
            firsts = [outcomes[indices[0]] for indices in by_key.values()]
            saved = sum(1 for outcome in firsts if outcome is not None and outcome.ok)
            reason = unavailable.reason
            raise JudgeUnavailableError(
                f"the judge at {self.config.chat_completions_url} is unavailable: {reason}. "
                f"{saved} of {len(by_key)} verdicts of '{desc}' are saved in the cache "
                f"({self.config.cache_path}); rerun the same command to resume from there.",
                url=self.config.chat_completions_url,
                saved=saved,
                total=len(by_key),
                reason=reason,
            ) from None
        return [o if o is not None else JudgeOutcome(error="not judged") for o in outcomes]

    def stats(self, label: str | None = None) -> JudgeStats:
        """A snapshot of the counters of one label, or of the whole client (`label` None)."""
        with self._stats_lock:
            tally = self._tallies.get(label, _Tally())
            wall = tally.wall_s + (time.monotonic() - tally.busy_since if tally.active else 0.0)
            counts = {name: getattr(tally, name) for name in JudgeStats.__dataclass_fields__
                      if name not in ("label", "wall_s", "cost_usd")}
        cost = None
        if self.config.price_input is not None or self.config.price_output is not None:
            cost = (counts["prompt_tokens"] * (self.config.price_input or 0.0)
                    + counts["completion_tokens"] * (self.config.price_output or 0.0)) / 1e6
        return JudgeStats(label=label, wall_s=wall, cost_usd=cost, **counts)

    def labels(self) -> list[str]:
        """Labels that have counters, in the order they were first used."""
        with self._stats_lock:
            return [label for label in self._tallies if label is not None]

    def capabilities(self) -> dict[str, Any]:
        """What this client sends now, and which endpoints are still in rotation (for provenance)."""
        with self._lock:
            return {
                "thinking_switch": self._thinking_switch,
                "structured_output": self._schema_ok,
                "endpoints_up": [e.url for e in self._endpoints if e.down_reason is None],
                "endpoints_down": {e.url: e.down_reason for e in self._endpoints if e.down_reason is not None},
            }

    def close(self) -> None:
        """Stop the workers (requests still queued fail as unavailable) and release the cache."""
        self._stop.set()
        with self._lock:
            workers, self._workers = self._workers, []
            for _ in workers:
                self._jobs.put(None)
        # A worker waiting on a slow reply is a daemon: do not sit out its timeout here.
        deadline = time.monotonic() + 5.0
        for worker in workers:
            worker.join(timeout=max(0.0, deadline - time.monotonic()))
        self._http.close()
        if self._owns_cache:
            self.cache.close()

    def __enter__(self) -> JudgeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- keys and the cache -----------------------------------------------------------------------

    def _wire_options(self, request: JudgeRequest) -> dict[str, Any]:
        """Body fields besides model and messages, as they would be sent now."""
        options: dict[str, Any] = {
            **self.config.extra_body,
            "temperature": self.config.temperature,
            "top_p": self.config.top_p,
            "max_tokens": self.config.max_tokens,
        }
        if self._thinking_switch:
            options["chat_template_kwargs"] = {"enable_thinking": False}
        if request.schema is not None and self._schema_ok:
            options["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name, "schema": dict(request.schema), "strict": True},
            }
        return options

    def _key(self, request: JudgeRequest, digest: str, options: Mapping[str, Any] | None = None) -> str:
        """The key of the request as sent with `options` (default: what would be sent now)."""
        options = self._wire_options(request) if options is None else options
        decoding = {
            **self._decoding,
            # What was sent, not what was configured: a dropped field changes the reply.
            "thinking_switch": "chat_template_kwargs" in options and "chat_template_kwargs" not in self._decoding[
                "extra_body"],
            "response_format": options.get("response_format"),
        }
        return key_from_digest(self.config.model, digest, decoding)

    def _structured(self, request: JudgeRequest) -> bool:
        return request.schema is not None and self._schema_ok

    def _cached_outcome(
        self, entry: CachedVerdict | None, parse: Callable[[str], T], structured: bool
    ) -> JudgeOutcome[T] | None:
        if entry is None:
            return None
        try:
            value, removed = _parse_reply(entry.reply, parse)
        except VerdictFormatError:
            return None  # a row a stricter parser no longer accepts: ask the judge again
        usage = None
        if entry.prompt_tokens is not None or entry.completion_tokens is not None:
            usage = TokenUsage(entry.prompt_tokens or 0, entry.completion_tokens or 0)
        return JudgeOutcome(value=value, raw=entry.reply, from_cache=True, usage=usage, thinking_removed=removed,
                            structured=structured)

    def _from_cache(self, key: str, parse: Callable[[str], T], structured: bool) -> JudgeOutcome[T] | None:
        return self._cached_outcome(self.cache.get_entries([key]).get(key), parse, structured)

    # -- workers ----------------------------------------------------------------------------------

    def _start_workers(self) -> None:
        """Start the pool on first use (caller holds `_lock`); daemon threads never hold up exit."""
        while len(self._workers) < self.config.concurrency:
            worker = threading.Thread(target=self._work, name=f"judge-{len(self._workers)}", daemon=True)
            worker.start()
            self._workers.append(worker)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            with self._lock:
                abandoned = job.future.cancelled() and not job.followers
                if abandoned:
                    self._in_flight.pop((job.key, job.parse), None)
            if abandoned:
                self._end(job.label)
                continue
            try:
                outcome: JudgeOutcome[Any] | None = self._judge(job)
                problem = None
            except _Unavailable as exc:
                outcome, problem = None, str(exc)
            except Exception as exc:  # never let a worker die with a future unresolved
                logger.exception("judge worker failed")
                outcome, problem = JudgeOutcome(error=f"internal error: {type(exc).__name__}"), None
            with self._lock:
                self._in_flight.pop((job.key, job.parse), None)
                followers, job.followers = job.followers, []
                if problem is not None:
                    problem = self._unavailable or problem
            for future, label in [(job.future, job.label), *followers]:
                if outcome is None:
                    self._fail(future, label, problem or "")
                else:
                    self._finish(future, label, outcome)

    def _judge(self, job: _Job) -> JudgeOutcome[Any]:
        """Ask until a reply parses (bounded); the cache is checked again whenever the wire form changes."""
        if self._stop.is_set():
            raise _Unavailable(self._unavailable or "the client is closed")
        try:
            messages = [{"role": m["role"], "content": _wire_content(m["content"])}
                        for m in job.request.messages]
        except OSError as exc:
            return JudgeOutcome(error=f"cannot read an attached image: {exc}")
        attempts, asks = 0, 0
        usage = NO_TOKENS
        reported = False
        last_problem, last_raw = "", None
        while asks <= self.config.format_retries:
            options = self._wire_options(job.request)
            key = self._key(job.request, job.digest, options)
            if key != job.key:  # the client learnt to send less since the job was keyed
                cached = self._from_cache(key, job.parse, "response_format" in options)
                if cached is not None:
                    return cached
            body = {**options, "model": self.config.model, "messages": messages}
            try:
                text, used, call_usage, rejected = self._exchange(body, job.label)
            except _Refused:
                attempts += 1
                continue  # the same ask again, without the refused field
            attempts += used
            if call_usage is not None:
                usage, reported = usage + call_usage, True
            if rejected is not None:
                return JudgeOutcome(error=rejected, attempts=attempts, usage=usage if reported else None)
            asks += 1
            last_raw = text
            if text is None:
                last_problem = "the reply has no message content"
            else:
                try:
                    value, removed = _parse_reply(text, job.parse)
                except VerdictFormatError as exc:
                    last_problem = f"malformed verdict: {exc}"
                    logger.debug("judge reply rejected (%s); asking again", exc)
                else:
                    outcome = JudgeOutcome(
                        value=value, raw=text, attempts=attempts, usage=usage if reported else None,
                        thinking_removed=removed, structured="response_format" in options,
                    )
                    self._save(key, text, job.label, usage if reported else None)
                    return outcome
            if asks <= self.config.format_retries:
                self._count(job.label, reasks=1)
        return JudgeOutcome(
            raw=last_raw,
            error=f"{last_problem} (after {self.config.format_retries + 1} asks)",
            attempts=attempts,
            usage=usage if reported else None,
        )

    def _save(self, key: str, reply: str, label: str | None, usage: TokenUsage | None) -> None:
        """Cache a verdict as it arrives, so a run killed now keeps it; a cache that cannot be
        written costs the resume, not the verdict."""
        try:
            self.cache.put(key, reply, model=self.config.model, label=label,
                           prompt_tokens=usage.prompt_tokens if usage else None,
                           completion_tokens=usage.completion_tokens if usage else None)
        except (OSError, sqlite3.Error) as exc:
            logger.error("could not save a judge verdict in %s: %s", self.config.cache_path, exc)
            return
        with self._stats_lock:
            self._saved += 1

    # -- endpoints --------------------------------------------------------------------------------

    def _exchange(
        self, body: dict[str, Any], label: str | None
    ) -> tuple[str | None, int, TokenUsage | None, str | None]:
        """One successful exchange with some endpoint: (text, requests sent, usage, per-request rejection).

        An endpoint that fails past its retries leaves the rotation and the request moves on;
        `_Unavailable` when none is left.
        """
        used = 0
        while True:
            endpoint = self._pick()
            try:
                text, sent, usage, rejected = self._post(endpoint, body, label)
                return text, used + sent, usage, rejected
            except _EndpointDown as exc:
                used += exc.sent
                self._retire(endpoint, exc.reason)
            finally:
                with self._lock:
                    endpoint.in_flight -= 1

    def _pick(self) -> _Endpoint:
        with self._lock:
            if self._unavailable is not None or self._stop.is_set():
                raise _Unavailable(self._unavailable or "the client is closed")
            up = [e for e in self._endpoints if e.down_reason is None]
            self._turn += 1
            rotated = up[self._turn % len(up):] + up[: self._turn % len(up)]
            chosen = min(rotated, key=lambda e: e.in_flight)
            chosen.in_flight += 1
            return chosen

    def _retire(self, endpoint: _Endpoint, reason: str) -> None:
        with self._lock:
            if endpoint.down_reason is not None:
                return
            endpoint.down_reason = reason
            left = [e.url for e in self._endpoints if e.down_reason is None]
            if not left:
                self._unavailable = "; ".join(
                    f"{e.url}: {e.down_reason}" if len(self._endpoints) > 1 else str(e.down_reason)
                    for e in self._endpoints
                )
                self._stop.set()
        if left:
            logger.warning("judge endpoint %s taken out of rotation (%s); %d left: %s",
                           endpoint.url, reason, len(left), ", ".join(left))

    def _give_up(self, reason: str) -> None:
        with self._lock:
            if self._unavailable is None:
                self._unavailable = reason
            self._stop.set()
        raise _Unavailable(reason)

    def _post(
        self, endpoint: _Endpoint, body: dict[str, Any], label: str | None
    ) -> tuple[str | None, int, TokenUsage | None, str | None]:
        """Send `body` to one endpoint, retrying transient failures; raises `_EndpointDown` past the budget."""
        problem = ""
        for attempt in range(self.config.max_retries + 1):
            if self._stop.is_set():
                raise _Unavailable(self._unavailable or "the client is closed")
            if endpoint.down_reason is not None:  # another request found it dead: move on now
                raise _EndpointDown(endpoint.down_reason, attempt)
            retry_after: float | None = None
            self._count(label, calls=1)
            try:
                response = self._http.post(endpoint.url, json=body)
            except httpx.TimeoutException:
                problem = f"timed out after {self.config.timeout:g} s"
            except httpx.TransportError as exc:
                problem = f"connection failed ({type(exc).__name__})"
            else:
                status = response.status_code
                if status == 200:
                    text, usage = self._read_completion(response)
                    if usage is not None:
                        self._count(label, prompt_tokens=usage.prompt_tokens,
                                    completion_tokens=usage.completion_tokens)
                    return text, attempt + 1, usage, None
                detail = self._redact(response.text[:_ERROR_TEXT_LIMIT])
                if status in _FATAL_STATUSES:
                    self._give_up(f"HTTP {status}, {_FATAL_STATUSES[status]}: {detail}")
                if status in _REFUSAL_STATUSES:
                    self._learn_refusal(body, response.text, detail)
                if status not in _RETRY_STATUSES:
                    # This request alone is refused (e.g. too long): a failed verdict, not an outage.
                    return None, attempt + 1, None, f"HTTP {status} from the judge: {detail}"
                problem = f"HTTP {status}"
                retry_after = self._retry_after(response)
            if attempt < self.config.max_retries:
                delay = min(self.config.retry_backoff_max, self.config.retry_backoff * 2**attempt)
                delay *= random.uniform(0.5, 1.5)  # jitter: keep the workers from retrying in lockstep
                if retry_after is not None:
                    delay = max(delay, min(retry_after, self.config.retry_backoff_max))
                logger.debug("judge request to %s failed (%s); retry %d in %.2f s",
                             endpoint.url, problem, attempt + 1, delay)
                if self._stop.wait(delay):
                    raise _Unavailable(self._unavailable or "the client is closed")
        raise _EndpointDown(f"{problem} ({self.config.max_retries + 1} attempts)", self.config.max_retries + 1)

    def _learn_refusal(self, body: Mapping[str, Any], text: str, detail: str) -> None:
        """A 400/422 naming a field we chose to send: stop sending it (once per client), else return."""
        lowered = text.lower()
        thinking = "chat_template_kwargs" in body and any(m in lowered for m in _THINKING_MARKERS)
        schema = "response_format" in body and any(m in lowered for m in _SCHEMA_MARKERS)
        if not (thinking or schema):
            return
        if thinking and not (self._thinking_droppable and "chat_template_kwargs" not in self.config.extra_body):
            self._give_up(
                f"the endpoint refuses the thinking switch (chat_template_kwargs): {detail}; set "
                f"{ENV_THINKING}=auto or omit, and take it out of {ENV_EXTRA_BODY}"
            )
        with self._lock:
            newly = []
            if thinking and self._thinking_switch:
                self._thinking_switch = False
                newly.append("the thinking switch (chat_template_kwargs)")
            if schema and self._schema_ok:
                self._schema_ok = False
                newly.append("structured output (response_format json_schema)")
        if newly:
            logger.warning("the judge endpoint refuses %s; sending requests without it from now on (%s)",
                           " and ".join(newly), detail)
        raise _Refused()

    @staticmethod
    def _retry_after(response: httpx.Response) -> float | None:
        try:
            return max(0.0, float(response.headers["retry-after"]))
        except (KeyError, ValueError):
            return None

    @staticmethod
    def _read_completion(response: httpx.Response) -> tuple[str | None, TokenUsage | None]:
        # A 200 whose body is not a chat completion counts like a malformed verdict.
        try:
            data = response.json()
        except ValueError:
            return None, None
        usage = None
        reported = data.get("usage") if isinstance(data, dict) else None
        if isinstance(reported, dict):
            prompt, completion = reported.get("prompt_tokens"), reported.get("completion_tokens")
            if isinstance(prompt, int) or isinstance(completion, int):
                usage = TokenUsage(prompt if isinstance(prompt, int) else 0,
                                   completion if isinstance(completion, int) else 0)
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            return None, usage
        return (content if isinstance(content, str) else None), usage

    # -- accounting -------------------------------------------------------------------------------

    def _tally_pair(self, label: str | None) -> tuple[_Tally, ...]:
        if label is None:
            return (self._tallies[None],)
        return self._tallies[None], self._tallies.setdefault(label, _Tally())

    def _count(self, label: str | None, **deltas: int) -> None:
        with self._stats_lock:
            for tally in self._tally_pair(label):
                for name, delta in deltas.items():
                    setattr(tally, name, getattr(tally, name) + delta)

    def _begin(self, label: str | None) -> None:
        now = time.monotonic()
        with self._stats_lock:
            for tally in self._tally_pair(label):
                tally.requests += 1
                if tally.active == 0:
                    tally.busy_since = now
                tally.active += 1

    def _end(self, label: str | None, times: int = 1) -> None:
        now = time.monotonic()
        with self._stats_lock:
            for tally in self._tally_pair(label):
                for _ in range(times):
                    tally.active -= 1
                    if tally.active == 0:
                        tally.wall_s += now - tally.busy_since

    def _settle(self, label: str | None, outcome: JudgeOutcome[Any]) -> None:
        """Count one request's outcome and mark it no longer in flight."""
        self._count(label, cache_hits=int(outcome.from_cache), failures=int(not outcome.ok))
        self._end(label)

    def _settle_followers(self, label: str | None, outcome: JudgeOutcome[Any], count: int) -> None:
        self._count(label, failures=count * int(not outcome.ok))
        self._end(label, times=count)

    def _finish(self, future: Future[JudgeOutcome[T]], label: str | None, outcome: JudgeOutcome[T]) -> None:
        self._settle(label, outcome)
        with contextlib.suppress(InvalidStateError):  # the caller cancelled it; the verdict is cached anyway
            future.set_result(outcome)

    def _fail(self, future: Future[Any], label: str | None, reason: str) -> None:
        self._end(label)
        with self._stats_lock:
            saved = self._saved
            total = self._tallies[None].requests
        error = JudgeUnavailableError(
            f"the judge at {self.config.chat_completions_url} is unavailable: {reason}. {saved} verdicts of "
            f"this run are saved in the cache ({self.config.cache_path}); rerun to resume from there.",
            url=self.config.chat_completions_url, saved=saved, total=total, reason=reason,
        )
        with contextlib.suppress(InvalidStateError):
            future.set_exception(error)

    def _redact(self, text: str) -> str:
        key = self.config.api_key
        return text.replace(key, "[redacted]") if key else text
