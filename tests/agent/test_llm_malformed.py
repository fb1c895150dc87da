"""``OpenAIClient`` against bad answers, for real over HTTP from the fake server: every transport or format
failure is one typed :class:`LLMError` with a one-line message naming the endpoint, and nothing else."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import openai
import pytest

from webgen.agent.fake_server import FakeLLMServer
from webgen.core.llm import (
    EmptyCompletion,
    EndpointUnavailable,
    LLMError,
    LLMHTTPError,
    MalformedResponse,
    OpenAIClient,
)
from webgen.core.llm_wire import Wire
from webgen.core.settings import ModelEndpoint

USER = [{"role": "user", "content": "make a landing page"}]
SECRET = "sk-test-secret-0123456789"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def client(server: FakeLLMServer, **options: Any) -> OpenAIClient:
    options.setdefault("timeout_s", 5.0)
    endpoint = ModelEndpoint(base_url=server.base_url, model="coder", api_key=SECRET, **options)
    return OpenAIClient(endpoint, role="coder", backoff_s=0.01)


# (reply, error type, kind of the error, words in its message, retried?)
BAD_ANSWERS: dict[str, tuple[dict[str, Any], type[LLMError], str, str, bool]] = {
    "html as json": ({"raw": "<html>\n<b>oops</b></html>"}, MalformedResponse, "", "body is not JSON", True),
    "html page": (
        {"raw": "<html><body>502 Bad Gateway</body></html>", "content_type": "text/html"},
        MalformedResponse,
        "",
        "'text/html'",
        True,
    ),
    "truncated json": ({"content": "hello", "truncate": 40}, MalformedResponse, "", "truncated", True),
    "invalid utf-8": (
        {"raw_b64": b64(b'{"choices": [{"message": {"content": "caf\xe9"}}]}')},
        MalformedResponse,
        "",
        "not valid UTF-8",
        True,
    ),
    "empty body": ({"raw": ""}, MalformedResponse, "", "empty body", True),
    "json array": ({"raw": "[1, 2]"}, MalformedResponse, "", "list, not an object", True),
    "no choices": ({"raw": '{"id": "x", "object": "chat.completion"}'}, MalformedResponse, "", "no 'choices'", True),
    "error object with 200": (
        {"raw": '{"error": {"message": "model is loading"}}'},
        MalformedResponse,
        "",
        "model is loading",
        True,
    ),
    "choices not a list": ({"raw": '{"choices": {"0": 1}}'}, MalformedResponse, "", "not a list", True),
    "choice not an object": ({"raw": '{"choices": ["hi"]}'}, MalformedResponse, "", "choices[0] is str", True),
    "message not an object": (
        {"raw": '{"choices": [{"message": "hi"}]}'},
        MalformedResponse,
        "",
        "message is str",
        True,
    ),
    "content a number": (
        {"raw": '{"choices": [{"message": {"content": 42}}]}'},
        MalformedResponse,
        "",
        "content is int, not a string",
        True,
    ),
    "content a list": (
        {"raw": '{"choices": [{"message": {"content": ["a"]}}]}'},
        MalformedResponse,
        "",
        "content is list",
        True,
    ),
    "empty choices": ({"raw": '{"choices": []}'}, EmptyCompletion, "", "no choices", False),
    "null message": (
        {"raw": '{"choices": [{"message": null, "finish_reason": "stop"}]}'},
        EmptyCompletion,
        "",
        "null message",
        False,
    ),
    "null content": ({"content": None, "finish_reason": "length"}, EmptyCompletion, "", "finish_reason=length", False),
    "dropped mid-body": (
        {"content": "hello", "truncate": 30, "drop_connection": True},
        EndpointUnavailable,
        "reset",
        "connection closed before the answer was complete",
        True,
    ),
    "dropped after headers": (
        {"content": "hello", "drop_connection": True},
        EndpointUnavailable,
        "reset",
        "received 0 bytes",
        True,
    ),
    "http error with html": (
        {"raw": "<html>\n<h1>Service Unavailable</h1>\n</html>", "status": 503, "content_type": "text/html"},
        LLMHTTPError,
        "",
        "Service Unavailable",
        True,
    ),
    "http error with invalid utf-8": (
        {"raw_b64": b64(b"\xff\xfe\x00bad"), "status": 400},
        LLMHTTPError,
        "",
        "400",
        False,
    ),
}


@pytest.mark.parametrize("case", list(BAD_ANSWERS))
def test_every_bad_answer_is_one_typed_error(fake: Callable[[Any], FakeLLMServer], case: str) -> None:
    reply, error_type, kind, words, retried = BAD_ANSWERS[case]
    server = fake([{"times": -1, "reply": reply}])
    llm = client(server, max_retries=2, connect_retries=1)
    with pytest.raises(LLMError) as info:
        llm.complete(USER)
    error = info.value
    assert type(error) is error_type, f"{case}: {type(error).__name__}: {error}"
    message = str(error)
    assert message.startswith(f"coder endpoint {server.base_url} "), message
    assert "\n" not in message and "\r" not in message and "\x00" not in message
    assert SECRET not in message
    assert words in message, message
    if kind:
        assert getattr(error, "kind", None) == kind
    allowed = 2 if error_type is EndpointUnavailable else 3
    assert len(server.requests) == (allowed if retried else 1)
    if hasattr(error, "attempts"):
        assert error.attempts == len(server.requests)


def test_malformed_response_carries_status_type_and_a_short_excerpt(fake: Callable[[Any], FakeLLMServer]) -> None:
    page = "<html>" + "<p>\x00secret " + SECRET + "</p>\n" * 500 + "</html>"
    server = fake([{"times": -1, "reply": {"raw": page, "status": 200, "content_type": "text/html; charset=utf-8"}}])
    with pytest.raises(MalformedResponse) as info:
        client(server, max_retries=0).complete(USER)
    error = info.value
    assert error.url == server.base_url and error.status == 200 and error.role == "coder"
    assert error.content_type == "text/html; charset=utf-8" and error.attempts == 1
    assert error.excerpt.startswith("<html><p> secret ***</p>") and len(error.excerpt) <= 303
    assert len(str(error)) < 600


def test_lone_surrogates_and_nul_are_made_safe(fake: Callable[[Any], FakeLLMServer]) -> None:
    body = r'{"choices": [{"message": {"content": "a\ud800b\u0000c\ud83d\ude00"}, "finish_reason": "stop"}]}'
    server = fake([{"reply": {"raw": body}}, {"reply": {"content": "x\ud800y\x00z"}}])
    llm = client(server)
    assert llm.complete(USER).text == "a\ufffdbc\U0001f600"
    done = llm.complete(USER)
    assert done.text == "x\ufffdyz"
    done.text.encode("utf-8")


def test_malformed_then_good_succeeds_within_the_retries(fake: Callable[[Any], FakeLLMServer]) -> None:
    server = fake([{"cycle": [{"raw": "<html>proxy</html>"}, {"content": "hi", "truncate": 20}, "finally"]}])
    done = client(server, max_retries=2).complete(USER)
    assert done.text == "finally" and done.attempts == 3 and len(server.requests) == 3


def test_flapping_endpoint_succeeds_within_the_retry_limit(fake: Callable[[Any], FakeLLMServer]) -> None:
    server = fake([{"times": -1, "cycle": [{"status": 503}, {"status": 503}, "ok"]}])
    llm = client(server, max_retries=2)
    for _ in range(2):
        done = llm.complete(USER)
        assert done.text == "ok" and done.attempts == 3
    assert [r.status for r in server.requests] == [503, 503, 200] * 2
    server.reset()
    with pytest.raises(LLMHTTPError) as info:
        client(server, max_retries=1).complete(USER)
    assert info.value.status == 503 and info.value.attempts == 2


def test_each_failure_kind_has_its_own_allowance(fake: Callable[[Any], FakeLLMServer]) -> None:
    """A drop (connect allowance) does not use up the 5xx allowance, and the other way round."""
    cycle = [{"status": 502}, {"content": "x", "drop_connection": True}, {"status": 502}, "ok"]
    server = fake([{"cycle": cycle}])
    done = client(server, max_retries=2, connect_retries=1).complete(USER)
    assert done.text == "ok" and done.attempts == 4


def test_sdk_exceptions_from_bad_bodies_map_to_typed_errors(fake: Callable[[Any], FakeLLMServer]) -> None:
    """What the ``openai`` SDK itself does with these bodies (it is not asked to parse them in the client,
    but its exceptions are mapped all the same): each real exception becomes a typed error."""
    server = fake(
        [
            {"match": "html-json", "reply": {"raw": "<html>oops</html>"}},
            {"match": "html-page", "reply": {"raw": "<html>oops</html>", "content_type": "text/html"}},
            {"match": "bad-bytes", "reply": {"raw_b64": b64(b'{"choices": "\xff"}')}},
        ]
    )
    wire = Wire(server.base_url, "coder", 5.0, 5.0)
    loose = openai.OpenAI(base_url=server.base_url, api_key="sk-local", max_retries=0, timeout=5)
    strict = openai.OpenAI(
        base_url=server.base_url, api_key="sk-local", max_retries=0, timeout=5, _strict_response_validation=True
    )

    def ask(sdk: openai.OpenAI, text: str) -> Any:
        return sdk.chat.completions.create(model="coder", messages=[{"role": "user", "content": text}])

    with pytest.raises(json.JSONDecodeError) as decode:
        ask(loose, "html-json")
    assert isinstance(wire.transport_failure(decode.value).error(1, 0.0), MalformedResponse)
    assert isinstance(ask(loose, "html-page"), str)  # the SDK hands back the page as text
    server.reset()
    with pytest.raises(openai.APIResponseValidationError) as invalid:
        ask(strict, "html-page")
    mapped = wire.transport_failure(invalid.value).error(1, 0.0)
    assert isinstance(mapped, MalformedResponse) and mapped.status == 200 and "oops" in mapped.excerpt
    with pytest.raises(ValueError) as undecodable:  # UnicodeDecodeError or JSONDecodeError, by SDK version
        ask(loose, "bad-bytes")
    assert isinstance(wire.transport_failure(undecodable.value).error(1, 0.0), MalformedResponse)
    unknown = wire.transport_failure(RuntimeError("surprise")).error(2, 1.0)
    assert type(unknown) is LLMError and str(unknown).startswith(f"coder endpoint {server.base_url}")
