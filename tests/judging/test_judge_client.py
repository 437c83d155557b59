"""JudgeClient against a real HTTP server on 127.0.0.1: wire format, concurrency, retries, resume."""

from __future__ import annotations

import base64
import hashlib
import logging
import time

import pytest

from clinhallu_tasks.judging import JudgeRequest, JudgeUnavailableError, VerdictFormatError
from tests.support.judge_server import FakeJudgeServer, closed_port_url

from .conftest import SECRET, echo_responder, parse_echo, text_request

PNG = b"\x89PNG\r\n\x1a\n" + b"fake-png-bytes"
JPEG = b"\xff\xd8\xff\xe0" + b"fake-jpeg-bytes"


def test_request_wire_format(server, make_client, tmp_path):
    png = tmp_path / "a.png"
    png.write_bytes(PNG)
    jpeg = tmp_path / "named-wrongly.png"  # the bytes, not the name, decide the MIME type
    jpeg.write_bytes(JPEG)
    request = JudgeRequest(messages=[
        {"role": "system", "content": "sys"},
        {"role": "user", "content": [
            {"type": "image_file", "path": str(png)},
            {"type": "image_file", "path": str(jpeg)},
            {"type": "text", "text": "look"},
        ]},
    ])
    client = make_client(server.base_url)
    [outcome] = client.judge_many([request], parse_echo)
    assert outcome.ok and outcome.value == {"echo": "look", "images": 2}
    [record] = server.records
    assert record.path == "/v1/chat/completions"
    assert record.model == "fake-judge"
    assert record.temperature == 0.01
    assert record.max_tokens == 4096
    assert record.authorization == f"Bearer {SECRET}"
    # The official judge request: top_p 0.9 and thinking switched off (vLLM/SGLang field).
    assert record.body_keys == ["chat_template_kwargs", "max_tokens", "messages", "model", "temperature", "top_p"]
    assert record.image_sha256s == [hashlib.sha256(PNG).hexdigest(), hashlib.sha256(JPEG).hexdigest()]


def test_data_urls_carry_the_sniffed_mime_type(tmp_path, make_client):
    seen = []

    def capture(body):
        for part in body["messages"][-1]["content"]:
            if part["type"] == "image_url":
                head, _, data = part["image_url"]["url"].partition(",")
                seen.append((head, base64.b64decode(data)))
        return echo_responder(body)

    jpeg = tmp_path / "x.png"
    jpeg.write_bytes(JPEG)
    with FakeJudgeServer(capture) as fake:
        request = JudgeRequest(messages=[{"role": "user", "content": [
            {"type": "image_file", "path": str(jpeg)}, {"type": "text", "text": "t"}]}])
        make_client(fake.base_url).judge_many([request], parse_echo)
    assert seen == [("data:image/jpeg;base64", JPEG)]


def test_no_authorization_header_without_a_key(server, make_client):
    make_client(server.base_url, api_key=None).judge_many([text_request("x")], parse_echo)
    assert server.records[0].authorization is None


def test_extra_body_is_sent(server, make_client):
    client = make_client(server.base_url, extra_body={"seed": 7}, thinking="omit")
    client.judge_many([text_request("x")], parse_echo)
    assert "seed" in server.records[0].body_keys and "chat_template_kwargs" not in server.records[0].body_keys


def test_outcomes_keep_request_order_and_duplicates_share_one_call(server, make_client):
    texts = [f"q{i % 7}" for i in range(30)]
    outcomes = make_client(server.base_url).judge_many([text_request(t) for t in texts], parse_echo)
    assert [o.value["echo"] for o in outcomes] == texts
    assert server.received == 7


def test_concurrent_and_bounded(make_client):
    with FakeJudgeServer(echo_responder, latency=0.2) as fake:
        client = make_client(fake.base_url, concurrency=8)
        start = time.perf_counter()
        outcomes = client.judge_many([text_request(f"q{i}") for i in range(32)], parse_echo)
        elapsed = time.perf_counter() - start
    assert all(o.ok for o in outcomes)
    # One at a time would take 32 x 0.2 = 6.4 s; 8 at a time about 0.8 s.
    assert elapsed < 3.0
    assert 2 <= fake.max_in_flight <= 8


def test_second_run_is_served_from_the_cache(server, make_client):
    requests = [text_request(f"q{i}") for i in range(20)]
    first = make_client(server.base_url).judge_many(requests, parse_echo)
    assert server.received == 20 and not any(o.from_cache for o in first)
    # A new client (as in a new process) on the same cache, another URL and another key.
    with FakeJudgeServer(echo_responder) as other:
        second = make_client(other.base_url, api_key="another-key").judge_many(requests, parse_echo)
        assert other.received == 0
    assert all(o.from_cache and o.ok for o in second)
    assert [o.value for o in second] == [o.value for o in first]


@pytest.mark.parametrize(
    "change",
    [{"model": "other-judge"}, {"temperature": 0.5}, {"top_p": 0.5}, {"max_tokens": 99}, {"extra_body": {"seed": 1}},
     {"thinking": "omit"}],
)
def test_cache_key_covers_model_and_decoding(server, make_client, change):
    requests = [text_request("same")]
    make_client(server.base_url).judge_many(requests, parse_echo)
    make_client(server.base_url, **change).judge_many(requests, parse_echo)
    assert server.received == 2


def test_cache_key_follows_image_bytes_not_paths(server, make_client, tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(PNG)
    b.write_bytes(PNG)

    def request(path):
        return JudgeRequest(messages=[{"role": "user", "content": [
            {"type": "image_file", "path": str(path)}, {"type": "text", "text": "t"}]}])

    client = make_client(server.base_url)
    client.judge_many([request(a)], parse_echo)
    assert client.judge_many([request(b)], parse_echo)[0].from_cache  # same bytes elsewhere: a hit
    time.sleep(0.01)
    a.write_bytes(PNG + b"changed")  # same path, new bytes: a miss
    assert not client.judge_many([request(a)], parse_echo)[0].from_cache
    assert server.received == 2


def test_unreadable_image_is_a_failed_outcome_not_a_crash(server, make_client, tmp_path):
    request = JudgeRequest(messages=[{"role": "user", "content": [
        {"type": "image_file", "path": str(tmp_path / "missing.png")}, {"type": "text", "text": "t"}]}])
    [outcome] = make_client(server.base_url).judge_many([request], parse_echo)
    assert not outcome.ok and "cannot build the request" in outcome.error
    assert server.received == 0


@pytest.mark.parametrize("faults", [["429"], ["500", "503"], ["drop"], ["429", "500", "drop", "503"]])
def test_transient_failures_are_retried(server, make_client, faults):
    server.add_faults(faults)
    [outcome] = make_client(server.base_url).judge_many([text_request("x")], parse_echo)
    assert outcome.ok and outcome.attempts == len(faults) + 1
    assert server.received == len(faults) + 1


@pytest.mark.parametrize("fault", ["malformed", "truncated", "prose", "non_json_body", "empty_content"])
def test_malformed_reply_is_asked_again_and_not_cached(server, make_client, fault):
    server.add_faults([fault])
    client = make_client(server.base_url)
    [outcome] = client.judge_many([text_request("x")], parse_echo)
    assert outcome.ok and outcome.value["echo"] == "x" and outcome.attempts == 2
    assert server.received == 2
    assert client.judge_many([text_request("x")], parse_echo)[0].from_cache


def test_persistently_malformed_reply_becomes_a_counted_failure(server, make_client):
    server.add_faults(["malformed", "truncated", "prose"])  # format_retries=2: three asks in all
    client = make_client(server.base_url, concurrency=1)  # the faults go to the first request
    outcomes = client.judge_many([text_request("bad"), text_request("good")], parse_echo)
    bad, good = outcomes
    assert good.ok
    assert not bad.ok and bad.value is None and "malformed verdict" in bad.error and "3 asks" in bad.error
    assert bad.raw is not None
    assert server.received == 4
    stats = client.stats()
    assert (stats.requests, stats.calls, stats.reasks, stats.failures) == (2, 4, 2, 1)
    # Not cached: a rerun asks again (and now gets a good reply).
    again = client.judge_many([text_request("bad")], parse_echo)[0]
    assert again.ok and not again.from_cache


def test_a_request_the_server_refuses_is_a_failure_not_an_outage(server, make_client):
    server.add_faults(["400"])
    outcomes = make_client(server.base_url).judge_many([text_request("a")], parse_echo)
    assert not outcomes[0].ok and "HTTP 400" in outcomes[0].error
    assert server.received == 1


def test_authentication_failure_stops_at_once(server, make_client):
    server.add_faults(["401"])
    with pytest.raises(JudgeUnavailableError) as error:
        make_client(server.base_url, concurrency=1).judge_many([text_request("a")], parse_echo)
    assert "401" in str(error.value) and server.base_url in str(error.value)
    assert SECRET not in str(error.value)


def test_judge_down_from_the_start(make_client, caplog):
    url = closed_port_url()
    client = make_client(url, max_retries=3)
    start = time.perf_counter()
    with caplog.at_level(logging.DEBUG), pytest.raises(JudgeUnavailableError) as error:
        client.judge_many([text_request(f"q{i}") for i in range(10)], parse_echo)
    assert time.perf_counter() - start < 5
    message = str(error.value)
    assert f"{url}/chat/completions" in message
    assert "0 of 10 verdicts" in message and "rerun" in message
    assert error.value.saved == 0 and error.value.total == 10
    assert SECRET not in message and SECRET not in caplog.text


def test_server_dying_halfway_then_rerun_asks_only_for_the_missing(make_client):
    requests = [text_request(f"q{i}") for i in range(40)]
    with FakeJudgeServer(echo_responder, die_after=15, latency=0.01) as dying:
        client = make_client(dying.base_url, concurrency=4, max_retries=2)
        with pytest.raises(JudgeUnavailableError) as error:
            client.judge_many(requests, parse_echo)
        assert dying.answered == 15
    assert error.value.saved == 15
    assert "15 of 40 verdicts" in str(error.value)
    with FakeJudgeServer(echo_responder) as fresh:
        outcomes = make_client(fresh.base_url).judge_many(requests, parse_echo)
        assert fresh.received == 25
    assert all(o.ok for o in outcomes)
    assert sum(o.from_cache for o in outcomes) == 15
    assert [o.value["echo"] for o in outcomes] == [f"q{i}" for i in range(40)]


def test_cached_rows_a_stricter_parser_rejects_are_asked_again(server, make_client):
    client = make_client(server.base_url)
    client.judge_many([text_request("x")], parse_echo)

    def stricter(text):
        data = parse_echo(text)
        if server.received < 2:
            raise VerdictFormatError("old row")
        return data

    [outcome] = client.judge_many([text_request("x")], stricter)
    assert outcome.ok and not outcome.from_cache
    assert server.received == 2


def test_empty_batch(server, make_client):
    assert make_client(server.base_url).judge_many([], parse_echo) == []
    assert server.received == 0


def test_the_key_is_written_nowhere(server, make_client, tmp_path, caplog, capsys):
    server.add_faults(["malformed", "500", "400"])
    with caplog.at_level(logging.DEBUG):
        client = make_client(server.base_url)
        outcomes = client.judge_many([text_request(f"q{i}") for i in range(5)], parse_echo)
        client.close()
    assert server.records[0].authorization == f"Bearer {SECRET}"  # it was used...
    blobs = [repr(o) for o in outcomes] + [caplog.text, *capsys.readouterr()]
    blobs += [p.read_bytes().decode("latin-1") for p in (tmp_path / "cache").iterdir()]
    assert all(SECRET not in blob for blob in blobs)  # ...and kept nowhere
