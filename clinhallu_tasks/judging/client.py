"""Concurrent, retrying, cached client for an OpenAI-compatible chat-completions judge.

Judges (the benchmark-specific modules) build `JudgeRequest`s and a `parse`
function; this module sends them, at most `concurrency` at a time, and returns one
`JudgeOutcome` per request in the same order.
"""

from __future__ import annotations

import base64
import logging
import mimetypes
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx
from tqdm.auto import tqdm

from .cache import VerdictCache, request_key
from .config import JudgeConfig

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
_ERROR_TEXT_LIMIT = 300


class VerdictFormatError(ValueError):
    """The judge's reply is not in the expected format (raised by a judge's `parse`)."""


class JudgeUnavailableError(RuntimeError):
    """The judge endpoint could not be used; the verdicts received so far are in the cache."""

    def __init__(self, message: str, *, url: str, saved: int, total: int) -> None:
        super().__init__(message)
        self.url = url
        self.saved = saved
        self.total = total


@dataclass(frozen=True)
class JudgeRequest:
    """One chat-completions conversation for the judge.

    `messages` are `{"role": ..., "content": str | [part, ...]}`; a part is
    `{"type": "text", "text": ...}` or `{"type": "image_file", "path": "/abs/file.png"}`.
    """

    messages: Sequence[Mapping[str, Any]]


@dataclass
class JudgeOutcome(Generic[T]):
    """The verdict for one request (`value`), or why there is none (`error`)."""

    value: T | None = None
    raw: str | None = None
    from_cache: bool = False
    error: str | None = None
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None and self.value is not None


@dataclass
class _Stats:
    """Progress-bar counters; only the thread running judge_many touches them."""

    done: int = 0
    failures: int = 0
    cached: int = 0


class _Unavailable(Exception):
    """Internal: the endpoint failed past the retry budget (or refuses every request)."""


class _Aborted(Exception):
    """Internal: another request found the endpoint unavailable; stop quietly."""


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


class JudgeClient:
    """Sends judge requests concurrently, with retries and a persistent cache."""

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

    # -- public API -------------------------------------------------------------------------------

    def request_key(self, request: JudgeRequest) -> str:
        """The cache key of a request for this judge (raises OSError if an image is unreadable)."""
        return request_key(self.config.model, request.messages, self._decoding)

    def judge_many(
        self,
        requests: Sequence[JudgeRequest],
        parse: Callable[[str], T],
        *,
        desc: str = "judge",
    ) -> list[JudgeOutcome[T]]:
        """Judge every request (cache first, then the endpoint); outcomes in request order.

        A reply that `parse` rejects with `VerdictFormatError` is asked again up to
        `format_retries` times and then becomes a failed outcome. Raises
        `JudgeUnavailableError` when the endpoint stays unreachable; everything
        received until then is already cached, so a rerun resumes.
        """
        outcomes: list[JudgeOutcome[T] | None] = [None] * len(requests)
        by_key: dict[str, list[int]] = {}
        for index, request in enumerate(requests):
            try:
                key = self.request_key(request)
            except (OSError, KeyError, TypeError, ValueError) as exc:
                outcomes[index] = JudgeOutcome(error=f"cannot build the request: {self._redact(str(exc))}")
                continue
            by_key.setdefault(key, []).append(index)

        cached = self.cache.get_many(by_key)
        pending: list[str] = []
        for key, indices in by_key.items():
            reply = cached.get(key)
            if reply is not None:
                try:
                    value = parse(reply)
                except VerdictFormatError:
                    # A row a stricter parser no longer accepts: ask the judge again.
                    pending.append(key)
                    continue
                for index in indices:
                    outcomes[index] = JudgeOutcome(value=value, raw=reply, from_cache=True)
            else:
                pending.append(key)

        # The bar counts requests (duplicates share one call); cached ones start it off.
        cached_count = sum(1 for o in outcomes if o is not None and o.from_cache)
        failed_early = sum(1 for o in outcomes if o is not None and not o.ok)
        stats = _Stats(cached=cached_count, failures=failed_early)
        bar = tqdm(
            total=len(requests), initial=cached_count + failed_early, desc=desc, unit="verdict",
            disable=not self.progress or not requests, dynamic_ncols=True, mininterval=0.5,
        )
        bar.set_postfix(failed=stats.failures, cached=stats.cached, refresh=False)
        try:
            if pending:
                self._send_all(requests, by_key, pending, parse, outcomes, stats, bar, desc)
        finally:
            bar.close()
        return [o if o is not None else JudgeOutcome(error="not judged") for o in outcomes]

    def close(self) -> None:
        self._http.close()
        if self._owns_cache:
            self.cache.close()

    def __enter__(self) -> JudgeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sending ----------------------------------------------------------------------------------

    def _send_all(
        self,
        requests: Sequence[JudgeRequest],
        by_key: dict[str, list[int]],
        pending: list[str],
        parse: Callable[[str], T],
        outcomes: list[JudgeOutcome[T] | None],
        stats: _Stats,
        bar: Any,
        desc: str,
    ) -> None:
        stop = threading.Event()
        unavailable: list[str] = []
        total = len(by_key)
        # Bounded submission keeps memory flat for tens of thousands of requests.
        queue = iter(pending)
        in_flight: dict[Future[JudgeOutcome[T]], str] = {}
        executor = ThreadPoolExecutor(max_workers=self.config.concurrency, thread_name_prefix="judge")
        finished_normally = False
        try:
            def submit_next() -> bool:
                key = next(queue, None)
                if key is None:
                    return False
                request = requests[by_key[key][0]]
                in_flight[executor.submit(self._judge_one, request, parse, stop)] = key
                return True

            for _ in range(self.config.concurrency * 2):
                if not submit_next():
                    break
            while in_flight:
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    key = in_flight.pop(future)
                    try:
                        outcome = future.result()
                    except _Unavailable as exc:
                        unavailable.append(str(exc))
                        stop.set()
                        continue
                    except _Aborted:
                        continue
                    if outcome.ok and outcome.raw is not None:
                        # Saved as it arrives: a run killed now keeps this verdict.
                        self.cache.put(key, outcome.raw, model=self.config.model, label=desc)
                    else:
                        stats.failures += len(by_key[key])
                    stats.done += 1
                    for index in by_key[key]:
                        outcomes[index] = outcome
                    bar.update(len(by_key[key]))
                    bar.set_postfix(failed=stats.failures, cached=stats.cached, refresh=False)
                    if not stop.is_set():
                        submit_next()
            finished_normally = True
        finally:
            stop.set()
            # On Ctrl-C or an error, do not sit waiting for replies in flight (each may take up to
            # the timeout); workers in backoff see `stop` and end at once.
            executor.shutdown(wait=finished_normally, cancel_futures=True)
        if unavailable:
            firsts = (outcomes[indices[0]] for indices in by_key.values())
            saved = sum(1 for outcome in firsts if outcome is not None and outcome.ok)
            raise JudgeUnavailableError(
                f"the judge at {self.config.chat_completions_url} is unavailable: {unavailable[0]}. "
                f"{saved} of {total} verdicts of '{desc}' are saved in the cache ({self.config.cache_path}); "
                "rerun the same command to resume from there.",
                url=self.config.chat_completions_url,
                saved=saved,
                total=total,
            )

    def _judge_one(
        self, request: JudgeRequest, parse: Callable[[str], T], stop: threading.Event
    ) -> JudgeOutcome[T]:
        """Ask until a reply parses (bounded), retrying transport failures on the way."""
        try:
            messages = [{"role": m["role"], "content": _wire_content(m["content"])} for m in request.messages]
            body = {
                **self._decoding["extra_body"],
                "model": self.config.model,
                "messages": messages,
                "temperature": self.config.temperature,
                "max_tokens": self.config.max_tokens,
            }
        except OSError as exc:
            return JudgeOutcome(error=f"cannot read an attached image: {exc}")
        attempts = 0
        last_problem = ""
        last_raw: str | None = None
        for _ in range(self.config.format_retries + 1):
            text, used, rejected = self._post(body, stop)
            attempts += used
            if rejected is not None:
                return JudgeOutcome(error=rejected, attempts=attempts)
            last_raw = text
            if text is None:
                last_problem = "the reply has no message content"
                continue
            try:
                return JudgeOutcome(value=parse(text), raw=text, attempts=attempts)
            except VerdictFormatError as exc:
                last_problem = f"malformed verdict: {exc}"
                logger.debug("judge reply rejected (%s); asking again", exc)
        return JudgeOutcome(
            raw=last_raw,
            error=f"{last_problem} (after {self.config.format_retries + 1} asks)",
            attempts=attempts,
        )

    def _post(self, body: dict[str, Any], stop: threading.Event) -> tuple[str | None, int, str | None]:
        """One successful HTTP exchange: (message text, attempts used, per-request rejection).

        Raises `_Unavailable` once transport failures outlast the retry budget.
        """
        url = self.config.chat_completions_url
        problem = ""
        for attempt in range(self.config.max_retries + 1):
            if stop.is_set():
                raise _Aborted()
            retry_after: float | None = None
            try:
                response = self._http.post(url, json=body)
            except httpx.TimeoutException:
                problem = f"timed out after {self.config.timeout:g} s"
            except httpx.TransportError as exc:
                problem = f"connection failed ({type(exc).__name__})"
            else:
                status = response.status_code
                if status == 200:
                    return self._message_text(response), attempt + 1, None
                detail = self._redact(response.text[:_ERROR_TEXT_LIMIT])
                if status in _FATAL_STATUSES:
                    raise _Unavailable(f"HTTP {status}, {_FATAL_STATUSES[status]}: {detail}")
                if status not in _RETRY_STATUSES:
                    # This request alone is refused (e.g. too long): a failed verdict, not an outage.
                    return None, attempt + 1, f"HTTP {status} from the judge: {detail}"
                problem = f"HTTP {status}"
                retry_after = self._retry_after(response)
            if attempt < self.config.max_retries:
                delay = min(self.config.retry_backoff_max, self.config.retry_backoff * 2**attempt)
                delay *= random.uniform(0.5, 1.5)  # jitter: keep 32 workers from retrying in lockstep
                if retry_after is not None:
                    delay = max(delay, min(retry_after, self.config.retry_backoff_max))
                logger.debug("judge request failed (%s); retry %d in %.2f s", problem, attempt + 1, delay)
                if stop.wait(delay):
                    raise _Aborted()
        raise _Unavailable(f"{problem} ({self.config.max_retries + 1} attempts)")

    @staticmethod
    def _retry_after(response: httpx.Response) -> float | None:
        try:
            return max(0.0, float(response.headers["retry-after"]))
        except (KeyError, ValueError):
            return None

    @staticmethod
    def _message_text(response: httpx.Response) -> str | None:
        # A 200 whose body is not a chat completion counts like a malformed verdict.
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            return None
        return content if isinstance(content, str) else None

    def _redact(self, text: str) -> str:
        key = self.config.api_key
        return text.replace(key, "[redacted]") if key else text
