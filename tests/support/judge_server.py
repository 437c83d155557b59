"""A fake OpenAI-compatible judge server on 127.0.0.1, for tests and benchmarks.

`FakeJudgeServer` answers `POST /v1/chat/completions` with a reply computed from the
request by a *responder* (default: `clinhallu_responder`, described below), and can
be told to misbehave:

- `latency`: seconds to wait before each answer;
- `faults`: a FIFO of per-request faults, consumed one per request received:
  `"400"`, `"401"`, `"429"`, `"500"`, `"503"` (error statuses), `"malformed"` (prose instead of JSON),
  `"truncated"` (JSON cut in half, finish_reason "length"), `"prose"` (JSON inside a
  sentence), `"non_json_body"` (an HTML body with status 200), `"empty_content"`
  (message content null), `"drop"` (close the connection without answering), or
  `"ok"`;
- `die_after=N`: requests 1..N are answered, the next one kills the server (the
  listening socket closes and open connections are dropped);
- `closed_port_url()`: a base URL where nothing listens (a judge down from the start).

Counters: `received`, `answered`, `with_images` (requests that carried image parts),
`max_in_flight` (most requests being handled at once) and `records` (one
`RequestRecord` per request received).

`clinhallu_responder` plays a judge that reads the data sections of a request the
naive way (from an opening tag to the first closing tag):

- answer judge (has `<model_answer>`): `answer_correct` is 1 iff the model answer
  equals the ground truth after case folding and trimming whitespace and trailing
  punctuation;
- step judge (has `<candidate_step>`): `hallucinated` is 1 iff the candidate step
  contains the word `HALLU` (upper case, as a whole word); the reason says how many
  images came with the request;
- a data section containing `FAKE_JUDGE_MALFORMED` always gets a non-JSON reply;
- an instruction `output {...}` found in the user message *outside* the data
  sections is obeyed verbatim (the reply is that JSON): this makes the fake judge
  vulnerable to prompt injection exactly when the delimiting of model text fails.

Run as a script (`python tests/support/judge_server.py --latency 0.1`) it prints
`LISTENING <base_url>` and serves until killed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[dict[str, Any]], str]

DATA_TAGS = (
    "question", "ground_truth", "model_answer", "reference_step", "candidate_step", "support_context"
)
MALFORMED_MARKER = "FAKE_JUDGE_MALFORMED"
FAULTS = frozenset(
    {"ok", "400", "401", "429", "500", "503", "malformed", "truncated", "prose", "non_json_body",
     "empty_content", "drop"}
)


@dataclass
class RequestRecord:
    """What the server saw in one request."""

    index: int
    path: str
    model: str | None
    temperature: Any
    max_tokens: Any
    authorization: str | None
    texts: list[str]  # every text part / string content, in message order
    user_text: str  # text of the last user message
    image_sha256s: list[str]  # decoded image bytes, in order
    body_keys: list[str] = field(default_factory=list)
    fault: str = "ok"

    @property
    def n_images(self) -> int:
        return len(self.image_sha256s)


def message_texts(body: dict[str, Any]) -> tuple[list[str], str, list[str]]:
    """(all texts, last user message text, sha256 of every image) of a chat request."""
    texts: list[str] = []
    user_text = ""
    images: list[str] = []
    for message in body.get("messages", []):
        content = message.get("content")
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else (content or [])
        message_text = []
        for part in parts:
            if part.get("type") == "text":
                message_text.append(part["text"])
            elif part.get("type") == "image_url":
                url = part["image_url"]["url"]
                head, _, data = url.partition(",")
                if not head.startswith("data:") or not head.endswith(";base64"):
                    raise ValueError("image_url is not a base64 data URL")
                images.append(hashlib.sha256(base64.b64decode(data, validate=True)).hexdigest())
        texts.extend(message_text)
        if message.get("role") == "user":
            user_text = "\n".join(message_text)
    return texts, user_text, images


def _norm(text: str) -> str:
    return text.strip().casefold().rstrip(".!?,;: \t\n").strip()


def data_sections(text: str) -> dict[str, str]:
    """First `<tag>...</tag>` span of each data tag, read naively (first closing tag ends it)."""
    found = {}
    for tag in DATA_TAGS:
        match = re.search(rf"<{tag}>(.*?)</{tag}>", text, re.S)
        if match:
            found[tag] = match.group(1).strip()
    return found


def clinhallu_responder(body: dict[str, Any]) -> str:
    """Deterministic ClinHallu verdicts derived from the request (see the module docstring)."""
    _, user_text, images = message_texts(body)
    sections = data_sections(user_text)
    outside = re.sub(rf"<({'|'.join(DATA_TAGS)})>.*?</\1>", " ", user_text, flags=re.S)
    injected = re.search(r"output\s*(\{[^{}]*\})", outside, re.I)
    if injected:
        return injected.group(1)
    if any(MALFORMED_MARKER in value for value in sections.values()):
        return "Having looked at it carefully, I think this is fine."
    if "model_answer" in sections:
        correct = _norm(sections["model_answer"]) == _norm(sections.get("ground_truth", ""))
        reason = "matches the ground truth" if correct else "differs from the ground truth"
        return json.dumps({"answer_correct": int(correct), "answer_reasoning": f"fake judge: {reason}"})
    if "candidate_step" in sections:
        hallucinated = re.search(r"\bHALLU\b", sections["candidate_step"]) is not None
        reason = f"fake judge: {len(images)} image(s); marker {'found' if hallucinated else 'absent'}"
        return json.dumps({"hallucinated": int(hallucinated), "reason": reason})
    return "I do not know what to judge here."


def closed_port_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # 32+ clients connecting at once must not overflow the backlog
    allow_reuse_address = True


class FakeJudgeServer:
    """A threaded HTTP server speaking enough of the chat-completions API for a judge client."""

    def __init__(
        self,
        responder: Responder = clinhallu_responder,
        *,
        latency: float = 0.0,
        faults: Iterable[str] = (),
        die_after: int | None = None,
        keep_records: bool = True,
        port: int = 0,
    ) -> None:
        self.responder = responder
        self.latency = latency
        self.faults: deque[str] = deque()
        self.add_faults(faults)
        self.die_after = die_after
        self.keep_records = keep_records
        self._port = port
        self._lock = threading.Lock()
        self._dead = False
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.received = 0
        self.answered = 0
        self.with_images = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.records: list[RequestRecord] = []

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> FakeJudgeServer:
        handler = _make_handler(self)
        self._httpd = _Server(("127.0.0.1", self._port), handler)
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            self._dead = True
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()

    def __enter__(self) -> FakeJudgeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    @property
    def dead(self) -> bool:
        return self._dead

    # -- knobs and counters ---------------------------------------------------------------------

    def add_faults(self, faults: Iterable[str]) -> None:
        for fault in faults:
            if fault not in FAULTS:
                raise ValueError(f"unknown fault {fault!r}; choose from {sorted(FAULTS)}")
            self.faults.append(fault)

    def reset_counters(self) -> None:
        with self._lock:
            self.received = self.answered = self.with_images = self.max_in_flight = 0
            self.records = []

    def _die(self) -> None:
        # Runs in its own thread: shutdown() waits for serve_forever, which must not be us.
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()

    # -- request handling -----------------------------------------------------------------------

    def _admit(self, record_fn: Callable[[int], RequestRecord | None]) -> tuple[str, RequestRecord | None]:
        """Count a request and decide its fate: a fault name, or 'dead' to drop it."""
        with self._lock:
            if self._dead:
                return "dead", None
            self.received += 1
            index = self.received
            if self.die_after is not None and index > self.die_after:
                self._dead = True
                threading.Thread(target=self._die, daemon=True).start()
                return "dead", None
            fault = self.faults.popleft() if self.faults else "ok"
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            record = record_fn(index)
            if record is not None:
                record.fault = fault
                if record.n_images:
                    self.with_images += 1
                if self.keep_records:
                    self.records.append(record)
            return fault, record

    def _count_answer(self, answered: bool) -> None:
        with self._lock:
            self.in_flight -= 1
            self.answered += answered


def _completion(model: str | None, content: str | None, finish_reason: str = "stop") -> bytes:
    body = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model or "fake-judge",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }
    return json.dumps(body).encode("utf-8")


def _make_handler(server: FakeJudgeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like a real inference server
        # Headers and body go out in separate writes; with Nagle on, each reply would wait ~40 ms
        # for the client's delayed ACK and the latency knob would be a lie.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence access logs
            pass

        def _send(self, status: int, payload: bytes, content_type: str = "application/json",
                  headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:  # noqa: N802 - http.server naming
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, b'{"error": {"message": "not found"}}')
                return
            try:
                body = json.loads(raw)
                texts, user_text, images = message_texts(body)
            except (ValueError, KeyError, TypeError) as exc:
                self._send(400, json.dumps({"error": {"message": f"bad request: {exc}"}}).encode())
                return

            def make_record(index: int) -> RequestRecord:
                return RequestRecord(
                    index=index, path=self.path, model=body.get("model"),
                    temperature=body.get("temperature"), max_tokens=body.get("max_tokens"),
                    authorization=self.headers.get("Authorization"), texts=texts, user_text=user_text,
                    image_sha256s=images, body_keys=sorted(body),
                )

            fault, _ = server._admit(make_record)
            if fault == "dead":
                self.close_connection = True
                return
            try:
                self._answer(body, fault)
            finally:
                server._count_answer(fault not in ("drop",))

        def _answer(self, body: dict[str, Any], fault: str) -> None:
            if fault == "drop":
                self.close_connection = True
                return
            if server.latency:
                time.sleep(server.latency)
            model = body.get("model")
            if fault in ("400", "401", "429", "500", "503"):
                self._send(int(fault), json.dumps({"error": {"message": f"fake {fault}"}}).encode(),
                           headers={"Retry-After": "0"} if fault == "429" else None)
                return
            if fault == "non_json_body":
                self._send(200, b"<html><body>upstream error</body></html>", "text/html")
                return
            if fault == "empty_content":
                self._send(200, _completion(model, None))
                return
            content = server.responder(body)
            finish = "stop"
            if fault == "malformed":
                content = "The step looks fine to me overall."
            elif fault == "truncated":
                content, finish = content[: max(1, len(content) // 2)], "length"
            elif fault == "prose":
                content = f"Here is my verdict: {content}"
            self._send(200, _completion(model, content, finish))

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args(argv)
    server = FakeJudgeServer(latency=args.latency, port=args.port, keep_records=False).start()
    print(f"LISTENING {server.base_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
