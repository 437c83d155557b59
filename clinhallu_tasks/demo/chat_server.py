"""A minimal OpenAI-compatible chat-completions server on 127.0.0.1, in a background thread.

`ChatServer(respond)` answers `POST /v1/chat/completions` with `respond(body)`, the
reply text for the request body (a dict). It stands in for a model or a judge in the
demo and in tests: nothing leaves the machine, and the port is picked by the OS.

    with ChatServer(lambda body: "hello") as server:
        server.base_url      # "http://127.0.0.1:<port>/v1"
        server.requests      # the request bodies received, in order
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Respond = Callable[[dict[str, Any]], str]

COMPLETIONS_PATH = "/v1/chat/completions"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # A judge client opens dozens of connections at once; the default backlog (5) would refuse some.
    request_queue_size = 128


def message_text(body: dict[str, Any], *, role: str | None = None) -> str:
    """The text of a chat request's messages (of one `role` when given), joined by newlines."""
    texts: list[str] = []
    for message in body.get("messages") or []:
        if role is not None and message.get("role") != role:
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
            continue
        texts.extend(part.get("text", "") for part in content or [] if part.get("type") == "text")
    return "\n".join(texts)


def image_count(body: dict[str, Any]) -> int:
    """How many image parts a chat request carries."""
    return sum(
        1
        for message in body.get("messages") or []
        if not isinstance(message.get("content"), str)
        for part in message.get("content") or []
        if part.get("type") == "image_url"
    )


def completion(body: dict[str, Any], content: str) -> dict[str, Any]:
    """A chat-completion response for `content`; token counts are word counts (clients log them)."""
    prompt_tokens = len(message_text(body).split())
    completion_tokens = len(content.split())
    return {
        "id": f"chatcmpl-local-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model") or "local",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class ChatServer:
    """Context manager serving `respond(body) -> reply text` at `base_url` until it exits.

    A request that is not JSON gets 400, another path 404, and an exception in `respond`
    500 (its message is kept in `errors`); the server keeps running in every case.
    """

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.requests: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> ChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's name)
                pass  # one line per request would drown the output of the run being served

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                if self.path.rstrip("/") != COMPLETIONS_PATH:
                    self._send(404, {"error": {"message": f"no route {self.path}; POST {COMPLETIONS_PATH}"}})
                    return
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                    if not isinstance(body, dict):
                        raise ValueError("the body is not a JSON object")
                except ValueError as exc:
                    self._send(400, {"error": {"message": f"bad request: {exc}"}})
                    return
                with server._lock:
                    server.requests.append(body)
                try:
                    reply = server.respond(body)
                except Exception as exc:  # a bug in a responder must not kill the server thread
                    with server._lock:
                        server.errors.append(f"{type(exc).__name__}: {exc}")
                    self._send(500, {"error": {"message": f"{type(exc).__name__}: {exc}"}})
                    return
                self._send(200, completion(body, reply))

        return Handler
