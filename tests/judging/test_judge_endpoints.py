"""JudgeClient against vLLM- and OpenAI-like endpoints: thinking switch, structured output, replicas,
token accounting and the non-blocking `submit`."""

from __future__ import annotations

import json
import logging
import threading
import time

import httpx
import pytest

from clinhallu_tasks.judging import JudgeRequest, JudgeUnavailableError, VerdictFormatError
from clinhallu_tasks.judging.client import strip_thinking
from tests.support.judge_server import closed_port_url

from .conftest import SECRET
from .fake_endpoint import FakeEndpoint, count_prompt_tokens

SCHEMA = {"type": "object", "properties": {"echo": {"type": "string"}}, "required": ["echo"],
          "additionalProperties": False}


def parse(text: str) -> str:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise VerdictFormatError("not JSON") from None
    if not isinstance(data, dict) or set(data) != {"echo"}:
        raise VerdictFormatError("wrong keys")
    return data["echo"]


def ask(text: str, schema: dict | None = None) -> JudgeRequest:
    return JudgeRequest(messages=[{"role": "system", "content": "judge strictly"},
                                  {"role": "user", "content": text}], schema=schema)


def asks(n: int, schema: dict | None = None) -> list[JudgeRequest]:
    return [ask(f"question {i}", schema) for i in range(n)]


# ---------------------------------------------------------------- thinking switch


def test_thinking_switch_is_sent_to_a_vllm_like_endpoint(make_client):
    with FakeEndpoint(thinks=True) as vllm:
        [outcome] = make_client(vllm.base_url).judge_many([ask("q")], parse)
    assert vllm.bodies[0]["chat_template_kwargs"] == {"enable_thinking": False}
    assert outcome.ok and not outcome.thinking_removed  # thinking was off: nothing to remove


def test_refused_thinking_switch_is_dropped_once_for_the_run(make_client, caplog):
    with FakeEndpoint(unknown_fields="reject") as strict, caplog.at_level(logging.WARNING):
        client = make_client(strict.base_url, concurrency=1)
        outcomes = client.judge_many(asks(6), parse)
    assert all(o.ok for o in outcomes)
    assert strict.refused == 1 and strict.answered == 6
    assert all("chat_template_kwargs" not in body for body in strict.bodies[1:])
    assert caplog.text.count("refuses the thinking switch") == 1


def test_explicit_thinking_off_refused_stops_the_run_naming_the_variable(make_client):
    with FakeEndpoint(unknown_fields="reject") as strict, pytest.raises(JudgeUnavailableError) as error:
        make_client(strict.base_url, thinking="off").judge_many(asks(4), parse)
    assert "CLINHALLU_JUDGE_THINKING" in str(error.value)
    assert strict.refused <= 4 and strict.answered == 0


def test_thinking_switch_never_goes_to_openai(tmp_path):
    # api.openai.com cannot be served locally: the HTTP layer is replaced, our client is not.
    from clinhallu_tasks.judging import JudgeClient, JudgeConfig

    bodies = []

    def openai(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        unknown = set(body) - {"model", "messages", "temperature", "top_p", "max_tokens", "response_format"}
        if unknown:
            return httpx.Response(400, json={"error": {"message": f"Unrecognized request argument supplied: "
                                                                  f"{sorted(unknown)[0]}"}})
        return httpx.Response(200, json={"choices": [{"message": {"content": json.dumps({"echo": "ok"})}}],
                                         "usage": {"prompt_tokens": 3, "completion_tokens": 2}})

    config = JudgeConfig(base_url="https://api.openai.com/v1", model="gpt-4o", api_key=SECRET,
                         cache_path=tmp_path / "c.sqlite3", retry_backoff=0.001)
    with JudgeClient(config, transport=httpx.MockTransport(openai), progress=False) as client:
        outcomes = client.judge_many(asks(3), parse)
    assert all(o.ok for o in outcomes)
    assert bodies and all("chat_template_kwargs" not in body for body in bodies)


@pytest.mark.parametrize("open_tag", [True, False])
def test_qwen_style_thinking_block_is_removed_before_the_strict_parse(make_client, open_tag):
    with FakeEndpoint(thinks=True, open_tag=open_tag) as qwen:
        client = make_client(qwen.base_url, thinking="omit")  # the endpoint's default: thinking on
        [outcome] = client.judge_many([ask("q")], parse)
        [again] = make_client(qwen.base_url, thinking="omit").judge_many([ask("q")], parse)
    assert outcome.ok and outcome.value == "q" and outcome.thinking_removed
    assert "</think>" in outcome.raw  # the reply is kept as received
    assert again.from_cache and again.value == "q" and again.thinking_removed


def test_strip_thinking_leaves_other_replies_alone():
    assert strip_thinking('{"a": 1}') == ('{"a": 1}', False)
    assert strip_thinking("<think>\nstill thinking") == ("<think>\nstill thinking", False)  # unclosed
    assert strip_thinking('<think>x</think>\n{"a": 1}') == ('{"a": 1}', True)
    assert strip_thinking('x\n</think>\n\n{"a": 1}') == ('{"a": 1}', True)
    assert strip_thinking('{"a": "<think>"} </think>') == ('{"a": "<think>"} </think>', False)


# ---------------------------------------------------------------- structured output


def test_schema_is_sent_to_an_endpoint_that_honours_it(make_client):
    with FakeEndpoint() as vllm:
        [outcome] = make_client(vllm.base_url).judge_many([ask("q", SCHEMA)], parse)
    assert vllm.bodies[0]["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "verdict", "schema": SCHEMA, "strict": True}}
    assert outcome.ok and outcome.structured


def test_refused_schema_falls_back_to_the_plain_request_once(make_client, caplog):
    with FakeEndpoint(schema="refuse") as old_vllm, caplog.at_level(logging.WARNING):
        client = make_client(old_vllm.base_url, concurrency=1)
        outcomes = client.judge_many(asks(6, SCHEMA), parse)
    assert all(o.ok and not o.structured for o in outcomes)
    assert old_vllm.refused == 1 and old_vllm.answered == 6
    assert all("response_format" not in body for body in old_vllm.bodies[1:])
    assert caplog.text.count("refuses structured output") == 1


def test_concurrent_requests_during_the_refusal_all_arrive(make_client):
    with FakeEndpoint(schema="refuse", latency=0.05) as old_vllm:
        outcomes = make_client(old_vllm.base_url, concurrency=8).judge_many(asks(40, SCHEMA), parse)
    assert all(o.ok for o in outcomes)
    assert old_vllm.answered == 40 and old_vllm.refused <= 8  # only those already in flight


def test_cache_key_covers_structured_output_and_the_schema(make_client):
    with FakeEndpoint() as vllm:
        make_client(vllm.base_url).judge_many([ask("q", SCHEMA)], parse)
        assert make_client(vllm.base_url).judge_many([ask("q", SCHEMA)], parse)[0].from_cache
        make_client(vllm.base_url, structured_output="off").judge_many([ask("q", SCHEMA)], parse)
        other = {**SCHEMA, "properties": {"echo": {"type": "string", "maxLength": 9}}}
        make_client(vllm.base_url).judge_many([ask("q", other)], parse)
    assert vllm.received == 3


def test_after_a_fallback_a_rerun_finds_the_plain_verdicts(make_client):
    with FakeEndpoint(schema="refuse") as old_vllm:
        make_client(old_vllm.base_url, concurrency=1).judge_many(asks(5, SCHEMA), parse)
        first = old_vllm.received
        again = make_client(old_vllm.base_url, concurrency=1).judge_many(asks(5, SCHEMA), parse)
    assert all(o.ok for o in again)
    assert old_vllm.received - first == 1  # one refusal teaches the new client; the rest is cached


# ---------------------------------------------------------------- replicas


def test_two_replicas_share_the_load(make_client):
    with FakeEndpoint(latency=0.02) as a, FakeEndpoint(latency=0.02) as b:
        outcomes = make_client(f"{a.base_url}, {b.base_url}", concurrency=4).judge_many(asks(60), parse)
    assert all(o.ok for o in outcomes)
    assert a.answered + b.answered == 60 and min(a.answered, b.answered) >= 15


def test_a_replica_killed_mid_run_loses_no_verdict(make_client, caplog):
    with FakeEndpoint(latency=0.01) as a, FakeEndpoint(latency=0.01) as b, caplog.at_level(logging.WARNING):
        client = make_client(f"{a.base_url},{b.base_url}", concurrency=6, max_retries=2)
        killer = threading.Timer(0.15, a.kill)
        killer.start()
        outcomes = client.judge_many(asks(120), parse)
        killer.join()
    assert all(o.ok for o in outcomes)
    assert [o.value for o in outcomes] == [f"question {i}" for i in range(120)]
    assert a.answered > 0 and b.answered > 0
    assert client.capabilities()["endpoints_up"] == [f"{b.base_url}/chat/completions"]
    assert "taken out of rotation" in caplog.text


def test_run_fails_only_when_no_replica_is_left(make_client):
    first, second = closed_port_url(), closed_port_url()
    with pytest.raises(JudgeUnavailableError) as error:
        make_client(f"{first} {second}", max_retries=1).judge_many(asks(5), parse)
    assert first in str(error.value) and second in str(error.value)
    assert SECRET not in str(error.value)
    assert "0 of 5 verdicts" in str(error.value)


# ---------------------------------------------------------------- cost accounting


def test_token_counts_equal_what_the_server_reported(make_client):
    with FakeEndpoint() as vllm:
        client = make_client(vllm.base_url, price_input=2.0, price_output=10.0)
        outcomes = client.judge_many(asks(10), parse, label="task_a/acc")
        stats = client.stats("task_a/acc")
    assert (stats.prompt_tokens, stats.completion_tokens) == (vllm.prompt_tokens, vllm.completion_tokens)
    assert sum(o.usage.prompt_tokens for o in outcomes) == vllm.prompt_tokens
    assert outcomes[0].usage.prompt_tokens == count_prompt_tokens(vllm.bodies[0])
    assert (stats.requests, stats.calls, stats.cache_hits, stats.failures) == (10, 10, 0, 0)
    assert stats.cost_usd == pytest.approx((2.0 * vllm.prompt_tokens + 10.0 * vllm.completion_tokens) / 1e6)
    assert stats.wall_s > 0


def test_cached_verdicts_cost_nothing_new_but_keep_their_usage(make_client):
    with FakeEndpoint() as vllm:
        first = make_client(vllm.base_url).judge_many(asks(4), parse)
        client = make_client(vllm.base_url)
        again = client.judge_many(asks(4), parse, label="rerun")
    stats = client.stats("rerun")
    assert (stats.cache_hits, stats.calls, stats.prompt_tokens, stats.completion_tokens) == (4, 0, 0, 0)
    assert [o.usage for o in again] == [o.usage for o in first]
    assert all(o.new_usage.total_tokens == 0 for o in again)


def test_reasks_and_their_tokens_are_counted(make_client):
    replies = iter(["not a verdict at all", json.dumps({"echo": "q"})])
    with FakeEndpoint(lambda body: next(replies)) as vllm:
        client = make_client(vllm.base_url)
        [outcome] = client.judge_many([ask("q")], parse, label="x")
    stats = client.stats("x")
    assert outcome.ok and outcome.attempts == 2 and stats.reasks == 1 and stats.calls == 2
    assert outcome.usage.completion_tokens == vllm.completion_tokens == stats.completion_tokens


def test_labels_are_counted_apart_and_summed(make_client):
    with FakeEndpoint() as vllm:
        client = make_client(vllm.base_url)
        client.judge_many(asks(3), parse, label="a")
        client.judge_many([ask("other")], parse, label="b")
    assert client.labels() == ["a", "b"]
    assert (client.stats("a").calls, client.stats("b").calls, client.stats().calls) == (3, 1, 4)
    assert client.stats().prompt_tokens == vllm.prompt_tokens


# ---------------------------------------------------------------- submit


def test_submit_from_many_threads_shares_one_bound_and_asks_identical_requests_once(make_client):
    with FakeEndpoint(latency=0.05) as vllm:
        client = make_client(vllm.base_url, concurrency=4)
        futures: list = []
        lock = threading.Lock()

        def evaluate(thread: int) -> None:
            for i in range(10):  # every thread asks the same 10 questions
                future = client.submit(ask(f"question {i}"), parse, label=f"t{thread}")
                with lock:
                    futures.append((i, future))

        threads = [threading.Thread(target=evaluate, args=(t,)) for t in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        results = [(i, future.result(timeout=30)) for i, future in futures]
    assert all(outcome.ok and outcome.value == f"question {i}" for i, outcome in results)
    assert vllm.max_in_flight <= 4
    assert vllm.answered == 10  # asked once each, whether shared in flight or found in the cache
    total = client.stats()
    assert total.requests == 50 and total.calls == 10 and total.shared + total.cache_hits == 40


def test_submit_reports_an_unreachable_judge_through_the_future(make_client):
    future = make_client(closed_port_url(), max_retries=0).submit(ask("q"), parse)
    with pytest.raises(JudgeUnavailableError):
        future.result(timeout=30)


def test_cancelled_requests_are_not_sent(make_client):
    with FakeEndpoint(latency=0.2) as vllm:
        client = make_client(vllm.base_url, concurrency=1)
        futures = [client.submit(ask(f"q{i}"), parse, label="c") for i in range(5)]
        assert all(future.cancel() for future in futures[1:])  # still queued behind the first
        assert futures[0].result(timeout=10).ok
        time.sleep(0.3)  # time enough for the worker to reach the cancelled ones
    assert vllm.received == 1
    assert client.stats("c").calls == 1
