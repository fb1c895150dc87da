"""Tests for ``webgen.core.llm``: the OpenAI client over real HTTP against the scripted fake server."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from webgen.agent.fake_server import FakeLLMServer
from webgen.core.llm import (
    BudgetExceeded,
    EmptyCompletion,
    EndpointUnavailable,
    LLMClient,
    LLMError,
    LLMHTTPError,
    Message,
    OpenAIClient,
    TokenBudget,
    Usage,
    image_part,
    text_part,
)
from webgen.core.settings import ModelEndpoint

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
USER = [{"role": "user", "content": "make a landing page"}]


def client(server: FakeLLMServer | str, model: str = "coder", **kwargs: Any) -> OpenAIClient:
    options = {"timeout_s": kwargs.pop("timeout_s", 5.0), "max_retries": kwargs.pop("max_retries", 3)}
    options |= {k: kwargs.pop(k) for k in ("connect_retries", "timeout_retries") if k in kwargs}
    url = server if isinstance(server, str) else server.base_url
    endpoint = ModelEndpoint(base_url=url, model=model, **options)
    return OpenAIClient(endpoint, backoff_s=kwargs.pop("backoff_s", 0.01), **kwargs)


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_complete_returns_text_usage_and_running_totals(fake: Callable[[Any], FakeLLMServer]) -> None:
    server = fake(
        [{"times": -1, "reply": {"content": "Sure!", "usage": {"prompt_tokens": 10, "completion_tokens": 5}}}]
    )
    llm = client(server)
    assert isinstance(llm, LLMClient)
    first = llm.complete(USER, temperature=0.2, max_tokens=64)
    llm.complete([Message(role="user", content="again")])
    assert first.text == "Sure!" and first.model == "coder" and first.finish_reason == "stop"
    assert first.usage == Usage(prompt_tokens=10, completion_tokens=5) and not first.usage_estimated
    assert first.attempts == 1 and first.latency_s > 0
    assert llm.usage == Usage(prompt_tokens=20, completion_tokens=10) and llm.calls == 2
    assert server.requests[0].params == {"temperature": 0.2, "max_tokens": 64}


def test_image_parts_arrive_as_data_urls(fake: Callable[[Any], FakeLLMServer]) -> None:
    server = fake([{"reply": "a blue header"}])
    message = Message(role="user", content=[text_part("describe"), image_part(PNG)])
    assert client(server).complete([message]).text == "a blue header"
    parts = server.requests[-1].messages[0]["content"]
    assert parts[0] == {"type": "text", "text": "describe"}
    url = parts[1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == PNG


def test_default_usage_counts_characters(fake: Callable[[Any], FakeLLMServer]) -> None:
    server = fake([{"reply": "x" * 40}])
    done = client(server).complete([{"role": "user", "content": "y" * 80}])
    assert done.usage == Usage(prompt_tokens=20, completion_tokens=10)


def test_missing_usage_is_estimated(fake: Callable[[Any], FakeLLMServer]) -> None:
    server = fake([{"reply": {"content": "z" * 20, "usage": False}}])
    done = client(server).complete([{"role": "system", "content": "s" * 8}, {"role": "user", "content": "u" * 32}])
    assert done.usage_estimated
    assert done.usage == Usage(prompt_tokens=10, completion_tokens=5)


def test_5xx_is_retried_until_success(fake: Callable[[Any], FakeLLMServer], caplog: pytest.LogCaptureFixture) -> None:
    server = fake([{"times": 2, "reply": {"status": 500, "content": "boom"}}, {"reply": "finally"}])
    with caplog.at_level(logging.WARNING, logger="webgen.core.llm"):
        done = client(server).complete(USER)
    assert done.text == "finally" and done.attempts == 3
    assert [r.status for r in server.requests] == [500, 500, 200]
    assert sum("HTTP 500" in r.getMessage() for r in caplog.records) == 2


def test_429_honours_retry_after(fake: Callable[[Any], FakeLLMServer]) -> None:
    server = fake([{"reply": {"status": 429, "headers": {"Retry-After": "0.3"}}}, {"reply": "ok"}])
    done = client(server).complete(USER)
    assert done.text == "ok" and done.attempts == 2 and done.latency_s >= 0.3


def test_other_4xx_fails_at_once(fake: Callable[[Any], FakeLLMServer]) -> None:
    server = fake([{"times": -1, "reply": {"status": 400, "content": "context too long"}}])
    with pytest.raises(LLMHTTPError) as info:
        client(server).complete(USER)
    assert info.value.status == 400 and info.value.attempts == 1
    assert "context too long" in str(info.value)
    assert len(server.requests) == 1


def test_5xx_after_all_retries_is_http_error(fake: Callable[[Any], FakeLLMServer]) -> None:
    server = fake([{"times": -1, "reply": {"status": 503, "content": "overloaded"}}])
    with pytest.raises(LLMHTTPError) as info:
        client(server, max_retries=2).complete(USER)
    assert info.value.status == 503 and info.value.attempts == 3 and len(server.requests) == 3


def test_no_rule_is_http_error_with_server_message(fake: Callable[[Any], FakeLLMServer]) -> None:
    server = fake([{"model": "judge", "reply": "4/5"}])
    with pytest.raises(LLMHTTPError) as info:
        client(server, model="coder").complete(USER)
    assert info.value.attempts == 1
    assert "no scripted reply" in info.value.body and "coder" in info.value.body
    assert "make a landing page" in info.value.body


@pytest.mark.slow
def test_hanging_endpoint_times_out_as_unavailable(fake: Callable[[Any], FakeLLMServer]) -> None:
    server = fake([{"times": -1, "reply": {"hang": True}}])
    started = time.monotonic()
    with pytest.raises(EndpointUnavailable) as info:
        client(server, timeout_s=1.0, max_retries=3, timeout_retries=1).complete(USER)
    assert time.monotonic() - started < 8
    assert server.base_url in str(info.value) and "1s timeout" in str(info.value)
    assert info.value.kind == "timeout" and "WEBGEN_CODER__TIMEOUT_S" in str(info.value)
    assert info.value.attempts == 2 and info.value.waited_s >= 2
    assert len(server.requests) == 2


def test_a_timeout_is_not_retried_by_default(fake: Callable[[Any], FakeLLMServer]) -> None:
    server = fake([{"times": -1, "reply": {"hang": True}}])
    with pytest.raises(EndpointUnavailable) as info:
        client(server, timeout_s=0.5, max_retries=3, role="judge").complete(USER)
    assert info.value.attempts == 1 and info.value.kind == "timeout" and len(server.requests) == 1
    assert str(info.value).startswith(f"judge endpoint {server.base_url} is unavailable (no answer within")


def test_closed_port_is_unavailable() -> None:
    url = closed_port_url()
    with pytest.raises(EndpointUnavailable) as info:
        client(url, connect_retries=1, role="coder").complete(USER)
    assert info.value.attempts == 2 and info.value.kind == "refused"
    message = str(info.value)
    assert message.startswith(
        f"coder endpoint {url} is unreachable (connection refused): unavailable after 2 attempt(s)"
    )
    assert "is the server running? check WEBGEN_CODER__BASE_URL" in message and "\n" not in message
    assert isinstance(info.value, LLMError)


def test_refused_fails_fast_with_default_settings() -> None:
    """The real defaults (a generous bound: a busy 2-core machine must not flake)."""
    url = closed_port_url()
    llm = OpenAIClient(ModelEndpoint(base_url=url, model="coder"), role="coder")
    started = time.monotonic()
    with pytest.raises(EndpointUnavailable) as info:
        llm.complete(USER)
    assert time.monotonic() - started < 10
    assert info.value.kind == "refused" and info.value.attempts == 3


def test_default_endpoint_limits() -> None:
    endpoint = ModelEndpoint()
    assert endpoint.timeout_s == 300 and endpoint.connect_timeout_s == 5
    assert (endpoint.max_retries, endpoint.connect_retries, endpoint.timeout_retries) == (3, 2, 0)
    assert OpenAIClient(endpoint).allowances == {"connect": 3, "timeout": 1, "answer": 4}


def test_empty_content_is_an_error(fake: Callable[[Any], FakeLLMServer]) -> None:
    server = fake([{"reply": {"content": None, "finish_reason": "length"}}])
    llm = client(server)
    with pytest.raises(EmptyCompletion, match="finish_reason=length"):
        llm.complete(USER)
    assert llm.calls == 1


def test_spent_budget_stops_calls_before_sending(fake: Callable[[Any], FakeLLMServer]) -> None:
    usage = {"prompt_tokens": 20, "completion_tokens": 15}
    server = fake([{"times": -1, "reply": {"content": "ok", "usage": usage}}])
    budget = TokenBudget(max_tokens=30)
    coder, judge = client(server, budget=budget), client(server, model="judge", budget=budget)
    coder.complete(USER)
    assert budget.spent == 35 and budget.remaining == 0
    with pytest.raises(BudgetExceeded, match="35 of 30"):
        judge.complete(USER)
    assert len(server.requests) == 1 and judge.calls == 0


def test_budget_is_thread_safe() -> None:
    budget = TokenBudget(max_tokens=None)
    workers = [
        threading.Thread(
            target=lambda: [budget.charge(Usage(prompt_tokens=1, completion_tokens=1)) for _ in range(500)]
        )
        for _ in range(8)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert budget.spent == 8000
    budget.check()


def test_json_schema_response_format_and_dict_reply(fake: Callable[[Any], FakeLLMServer]) -> None:
    action = {"thinking": "", "next_goal": "click", "action": [{"click": {"index": 2}}]}
    server = fake([{"model": "gui", "match": "browser_state", "reply": {"content": action}}])
    properties = {f"field_{i}": {"type": "string", "description": "d" * 200} for i in range(80)}
    schema = {"name": "agent_output", "strict": True, "schema": {"type": "object", "properties": properties}}
    done = client(server, model="gui").complete(
        [{"role": "user", "content": "<browser_state>[2]<button>Go</button></browser_state>"}],
        response_format={"type": "json_schema", "json_schema": schema},
    )
    assert json.loads(done.text) == action
    recorded = server.requests[-1].response_format
    assert recorded is not None and recorded["type"] == "json_schema"
    assert recorded["json_schema"]["name"] == "agent_output"


def test_stream_kwarg_is_refused(fake: Callable[[Any], FakeLLMServer]) -> None:
    server = fake([{"reply": "x"}])
    with pytest.raises(ValueError, match="stream"):
        client(server).complete(USER, stream=True)
    assert server.requests == []
