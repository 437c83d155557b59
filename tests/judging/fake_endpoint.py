"""A fake judge endpoint on 127.0.0.1 that behaves like vLLM or OpenAI where the client depends on it.

- `usage`: every answer reports `prompt_tokens` (whitespace-separated words of every text part, plus
  `IMAGE_TOKENS` per image) and `completion_tokens` (words of the reply), like a real server's
  tokenizer counts; the server keeps the totals it reported.
- `schema="honour"` accepts `response_format: {"type": "json_schema", ...}` (vLLM with structured
  outputs); `schema="refuse"` answers it with HTTP 400 and vLLM's error body (a request validation
  error naming `response_format`).
- `unknown_fields="reject"` answers any field outside OpenAI's chat-completions API (such as
  `chat_template_kwargs`) with OpenAI's HTTP 400 "Unrecognized request argument supplied"; vLLM's
  default, `"accept"`, takes them.
- `thinks=True` plays a Qwen3-style model: unless `chat_template_kwargs.enable_thinking` is false, the
  reply starts with a `<think>...</think>` block (`open_tag=False`: the template opened it in the
  prompt, so the reply only closes it).
- `capacity`: most requests generated at once (a replica's batch); more wait their turn.
- `kill()`: stop listening and drop every connection, mid-run.

Run as a script (`python tests/judging/fake_endpoint.py --latency 0.1 --capacity 8`) it prints
`LISTENING <base_url>` and serves until killed.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[dict[str, Any]], str]

IMAGE_TOKENS = 256
# Top-level fields of OpenAI's chat-completions request that the client may send.
OPENAI_FIELDS = frozenset({
    "model", "messages", "temperature", "top_p", "max_tokens", "max_completion_tokens", "n", "stream",
    "stop", "seed", "response_format", "presence_penalty", "frequency_penalty", "logprobs", "user",
})


def user_text(body: dict[str, Any]) -> str:
    """Text of the last user message."""
    text = ""
    for message in body.get("messages", []):
        content = message.get("content")
        if message.get("role") == "user":
            parts = [content] if isinstance(content, str) else [p.get("text", "") for p in content or []]
            text = "\n".join(parts)
    return text


def verdict_responder(body: dict[str, Any]) -> str:
    """`{"echo": <last user text>}`: each verdict is tied to its request."""
    return json.dumps({"echo": user_text(body)})


def count_prompt_tokens(body: dict[str, Any]) -> int:
    tokens = 0
    for message in body.get("messages", []):
        content = message.get("content")
        for part in [{"type": "text", "text": content}] if isinstance(content, str) else content or []:
            tokens += len(part.get("text", "").split()) if part.get("type") == "text" else IMAGE_TOKENS
    return tokens


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True


class FakeEndpoint:
    """A threaded chat-completions server; see the module docstring for its behaviours."""

    def __init__(
        self,
        responder: Responder = verdict_responder,
        *,
        latency: float = 0.0,
        capacity: int | None = None,
        schema: str = "honour",
        unknown_fields: str = "accept",
        thinks: bool = False,
        open_tag: bool = True,
        port: int = 0,
    ) -> None:
        if schema not in ("honour", "refuse") or unknown_fields not in ("accept", "reject"):
            raise ValueError("schema is honour|refuse, unknown_fields is accept|reject")
        self.responder = responder
        self.latency = latency
        self.schema = schema
        self.unknown_fields = unknown_fields
        self.thinks = thinks
        self.open_tag = open_tag
        self._slots = threading.BoundedSemaphore(capacity) if capacity else None
        self._port = port
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self.dead = False
        self.received = 0
        self.answered = 0
        self.refused = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.bodies: list[dict[str, Any]] = []
        self.usages: list[tuple[int, int]] = []  # per answered request, in answer order

    def start(self) -> FakeEndpoint:
        self._httpd = _Server(("127.0.0.1", self._port), _make_handler(self))
        self._port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def kill(self) -> None:
        """Stop listening; requests arriving on open connections are dropped unanswered."""
        with self._lock:
            self.dead = True
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            threading.Thread(target=lambda: (httpd.shutdown(), httpd.server_close()), daemon=True).start()

    def __enter__(self) -> FakeEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    def reply(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """(status, JSON body) for one request, as vLLM or OpenAI would answer it."""
        unknown = sorted(set(body) - OPENAI_FIELDS)
        if self.unknown_fields == "reject" and unknown:
            return 400, {"error": {"message": f"Unrecognized request argument supplied: {unknown[0]}",
                                   "type": "invalid_request_error", "param": None, "code": None}}
        if self.schema == "refuse" and "response_format" in body:
            message = ("1 validation error for ChatCompletionRequest\nresponse_format.type\n  Input should be "
                       "'text' or 'json_object' [type=literal_error, input_value='json_schema']")
            return 400, {"error": {"message": message, "type": "BadRequestError", "param": None, "code": 400}}
        content = self.responder(body)
        thinking_off = (body.get("chat_template_kwargs") or {}).get("enable_thinking") is False
        if self.thinks and not thinking_off:
            block = "The user wants a verdict.\nLet me compare the two texts carefully.\n</think>\n\n"
            content = ("<think>\n" if self.open_tag else "") + block + content
        usage = (count_prompt_tokens(body), len(content.split()))
        with self._lock:
            self.prompt_tokens += usage[0]
            self.completion_tokens += usage[1]
            self.usages.append(usage)
        return 200, {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
        }


def _make_handler(server: FakeEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like a real inference server
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence access logs
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server naming
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            with server._lock:
                if server.dead:
                    self.close_connection = True
                    return
                server.received += 1
                server.bodies.append(body)
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
            try:
                if server._slots is not None:
                    server._slots.acquire()
                try:
                    time.sleep(server.latency)
                    status, payload = server.reply(body)
                finally:
                    if server._slots is not None:
                        server._slots.release()
                if server.dead:  # killed while generating: the connection just drops
                    self.close_connection = True
                    return
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                with server._lock:
                    server.answered += status == 200
                    server.refused += status != 200
            finally:
                with server._lock:
                    server.in_flight -= 1

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--capacity", type=int, default=None)
    args = parser.parse_args(argv)
    server = FakeEndpoint(latency=args.latency, capacity=args.capacity).start()
    print(f"LISTENING {server.base_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
