"""Fixtures for the judge-infrastructure tests: a fake judge on 127.0.0.1 and clients for it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from clinhallu_tasks.judging import JudgeClient, JudgeConfig, JudgeRequest, VerdictFormatError
from tests.support.judge_server import FakeJudgeServer, message_texts

SECRET = "sk-test-DO-NOT-LEAK-4242"


def echo_responder(body: dict[str, Any]) -> str:
    """Reply with the last user message, so each verdict is tied to its request."""
    _, user_text, images = message_texts(body)
    return json.dumps({"echo": user_text, "images": len(images)})


def parse_echo(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise VerdictFormatError("not JSON") from None
    if not isinstance(data, dict) or set(data) != {"echo", "images"}:
        raise VerdictFormatError("wrong keys")
    return data


def text_request(text: str) -> JudgeRequest:
    return JudgeRequest(messages=[{"role": "system", "content": "judge"}, {"role": "user", "content": text}])


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch):
    # The fake judge is on 127.0.0.1: a proxy from the environment must not sit in between.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[FakeJudgeServer]:
    with FakeJudgeServer(echo_responder) as fake:
        yield fake


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., JudgeClient]]:
    """Build clients on one shared cache file; every client is closed after the test."""
    made: list[JudgeClient] = []

    def make(base_url: str, **overrides: Any) -> JudgeClient:
        settings: dict[str, Any] = {
            "model": "fake-judge",
            "api_key": SECRET,
            "cache_path": tmp_path / "cache" / "judge.sqlite3",
            "retry_backoff": 0.001,
            "retry_backoff_max": 0.01,
            "timeout": 5.0,
        }
        settings.update(overrides)
        client = JudgeClient(JudgeConfig(base_url=base_url, **settings), progress=False)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
