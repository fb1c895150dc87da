"""Tests for ``webgen.agent.fake_server``: scripts, routing, streaming, recording and shutdown."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from webgen.agent.fake_server import FakeLLMServer, ScriptError, load_script

SCRIPT = """
- model: coder
  match: "pricing.*table"
  reply: "PRICING"
- model: coder
  reply: "ONCE"
- model: judge
  times: -1
  reply:
    content: {score: 4}
    usage: {prompt_tokens: 7, completion_tokens: 3}
"""


def ask(server: FakeLLMServer, model: str, text: str) -> str | None:
    sdk = openai.OpenAI(base_url=server.base_url, api_key="sk-local", max_retries=0, timeout=5)
    answer = sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": text}])
    return answer.choices[0].message.content


def test_yaml_script_routes_by_model_match_and_times(tmp_path: Path) -> None:
    path = tmp_path / "script.yaml"
    path.write_text(SCRIPT)
    with FakeLLMServer(path) as server:
        assert ask(server, "coder", "a pricing\npage with a table") == "PRICING"
        assert ask(server, "coder", "a pricing page with a table") == "ONCE"
        for _ in range(3):
            assert json.loads(ask(server, "judge", "grade it") or "") == {"score": 4}
        with pytest.raises(openai.APIStatusError) as info:
            ask(server, "coder", "another page")
        assert info.value.status_code == 418
        assert "no scripted reply for model='coder'" in str(info.value) and "another page" in str(info.value)
        assert [r.rule for r in server.requests] == [0, 1, 2, 2, 2, None]


def test_script_errors_name_the_rule(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"reply": "ok"}, {"reply": {"content": "x", "stauts": 500}}]))
    with pytest.raises(ScriptError, match=r"bad\.json: rule 1:.*stauts"):
        load_script(bad)
    bad.write_text(json.dumps({"rules": [{"reply": "ok"}, {"reply": "ok"}, {"match": "(", "reply": "x"}]}))
    with pytest.raises(ScriptError, match="rule 2:.*bad regex"):
        load_script(bad)
    with pytest.raises(ScriptError, match="rule 0:.*times"):
        FakeLLMServer([{"times": 0, "reply": "x"}])
    with pytest.raises(ScriptError, match="expected a list"):
        FakeLLMServer({"reply": "x"})


def test_streaming_sends_scripted_text() -> None:
    text = "<boltArtifact>" + "streamed tokens " * 10 + "</boltArtifact>"
    with FakeLLMServer([{"reply": text}]) as server:
        sdk = openai.OpenAI(base_url=server.base_url, api_key="sk-local", max_retries=0, timeout=5)
        chunks = list(
            sdk.chat.completions.create(
                model="coder",
                messages=[{"role": "user", "content": "go"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == len(text) // 4
        assert server.requests[0].stream


def test_models_recording_and_reset_over_http() -> None:
    with FakeLLMServer([{"model": "judge", "reply": "4"}, {"model": "gui", "reply": "{}"}]) as server:
        sdk = openai.OpenAI(base_url=server.base_url, api_key="sk-local", max_retries=0, timeout=5)
        assert sorted(m.id for m in sdk.models.list()) == ["gui", "judge"]
        assert ask(server, "judge", "grade") == "4"
        root = server.base_url.removesuffix("/v1")
        recorded = httpx.get(f"{root}/_fake/requests").json()
        assert [r["path"] for r in recorded] == ["/v1/models", "/v1/chat/completions"]
        assert recorded[1]["model"] == "judge" and recorded[1]["messages"][0]["content"] == "grade"
        assert httpx.post(f"{root}/_fake/reset").json() == {"rules": 2}
        assert server.requests == []
        assert ask(server, "judge", "grade again") == "4"


def test_python_reset_loads_a_new_script() -> None:
    with FakeLLMServer([{"reply": "first"}]) as server:
        assert ask(server, "coder", "x") == "first"
        server.reset([{"reply": "second"}])
        assert ask(server, "coder", "x") == "second"


def test_only_loopback_hosts() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FakeLLMServer([], host="0.0.0.0")
    with pytest.raises(ValueError, match="loopback"):
        FakeLLMServer([], host="example.com")


def test_stop_is_prompt_with_a_hanging_request() -> None:
    server = FakeLLMServer([{"reply": {"hang": True}}]).start()
    errors: list[Exception] = []

    def call() -> None:
        try:
            ask(server, "coder", "hello")
        except Exception as error:  # the abandoned request answers 503 or drops the connection
            errors.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    while not server.requests:
        time.sleep(0.01)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 3
    caller.join(timeout=5)
    assert errors and not caller.is_alive()


def test_delay_then_answer() -> None:
    with FakeLLMServer([{"reply": {"content": "late", "delay_s": 0.3}}]) as server:
        started = time.monotonic()
        assert ask(server, "coder", "x") == "late"
        assert time.monotonic() - started >= 0.3


def test_serve_entry_point_runs_until_interrupted(tmp_path: Path) -> None:
    script = tmp_path / "script.yaml"
    script.write_text(SCRIPT)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = f"from pathlib import Path; from webgen.agent.fake_server import serve; serve(Path({str(script)!r}), {port})"
    process = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = f"http://127.0.0.1:{port}/v1/models"
        deadline = time.monotonic() + 15
        while True:
            try:
                assert [m["id"] for m in httpx.get(url).json()["data"]] == ["coder", "judge"]
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def post(server: FakeLLMServer, text: str = "x", **body: object) -> httpx.Response:
    payload = {"model": "coder", "messages": [{"role": "user", "content": text}], **body}
    return httpx.post(f"{server.base_url}/chat/completions", json=payload, timeout=5)


def test_raw_body_with_status_and_content_type() -> None:
    bad_bytes = b'{"choices": "\xff\xfe"}'
    script = [
        {"match": "html", "reply": {"raw": "<html>oops</html>", "status": 200, "content_type": "text/html"}},
        {"match": "bytes", "reply": {"raw_b64": base64.b64encode(bad_bytes).decode(), "status": 502}},
        {"match": "header", "reply": {"raw": "plain", "headers": {"Content-Type": "text/plain", "X-Up": "1"}}},
    ]
    with FakeLLMServer(script) as server:
        page = post(server, "html")
        assert page.status_code == 200 and page.headers["content-type"] == "text/html"
        assert page.content == b"<html>oops</html>"
        raw = post(server, "bytes")
        assert raw.status_code == 502 and raw.headers["content-type"] == "application/json"
        assert raw.content == bad_bytes and raw.headers["content-length"] == str(len(bad_bytes))
        plain = post(server, "header")
        assert plain.headers["content-type"] == "text/plain" and plain.headers["x-up"] == "1"
        assert [r.status for r in server.requests] == [200, 502, 200]


def test_truncate_sends_a_short_well_formed_answer() -> None:
    with FakeLLMServer([{"times": 2, "reply": {"content": "hello world", "truncate": 25}}]) as server:
        cut = post(server)
        assert cut.status_code == 200 and len(cut.content) == 25 and cut.headers["content-length"] == "25"
        assert cut.content.startswith(b'{"id": "chatcmpl-fake-')
        with pytest.raises(json.JSONDecodeError):
            json.loads(cut.content)


def test_drop_connection_closes_mid_body(capfd: pytest.CaptureFixture[str]) -> None:
    with FakeLLMServer(
        [{"times": -1, "reply": {"content": "hello world", "truncate": 10, "drop_connection": True}}]
    ) as s:
        for _ in range(2):
            with pytest.raises(httpx.RemoteProtocolError, match="received 10 bytes"):
                post(s)
        assert len(s.requests) == 2
    assert "Exception in ASGI application" not in capfd.readouterr().err


def test_cycle_rotates_replies_and_counts_uses() -> None:
    script = """
- model: coder
  cycle: [{status: 503}, "ok"]
- model: judge
  times: -1
  cycle: ["a", "b", "c"]
"""
    with FakeLLMServer(load_script_text(script)) as server:
        assert post(server).status_code == 503
        assert ask(server, "coder", "x") == "ok"
        with pytest.raises(openai.APIStatusError, match="no scripted reply"):
            ask(server, "coder", "x")  # times defaults to the cycle's length: each reply once
        assert [ask(server, "judge", "x") for _ in range(7)] == list("abcabca")
        server.reset()
        assert post(server).status_code == 503


def test_new_reply_fields_are_validated() -> None:
    with pytest.raises(ScriptError, match="raw or raw_b64"):
        FakeLLMServer([{"reply": {"raw": "x", "raw_b64": "eA=="}}])
    with pytest.raises(ScriptError, match="leave content out"):
        FakeLLMServer([{"reply": {"raw": "x", "content": "y"}}])
    with pytest.raises(ScriptError, match="not base64"):
        FakeLLMServer([{"reply": {"raw_b64": "not base64!"}}])
    with pytest.raises(ScriptError, match="truncate"):
        FakeLLMServer([{"reply": {"content": "x", "truncate": -1}}])
    with pytest.raises(ScriptError, match="exactly one"):
        FakeLLMServer([{"reply": "x", "cycle": ["y"]}])
    with pytest.raises(ScriptError, match="exactly one"):
        FakeLLMServer([{"model": "coder"}])
    with pytest.raises(ScriptError, match="at least one"):
        FakeLLMServer([{"cycle": []}])


def load_script_text(text: str) -> list[Any]:
    return yaml.safe_load(text)
