"""BrowserUseAgent against a real Chromium and a hand-written page; only the model is faked (FakeLLMServer).

browser-use numbers the page's elements in the prompt ("[3]<button id=add />"); the numbers come from
Chromium's DOM node ids, so the scripts carry one rule per possible index, each `match`ing the prompt.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import descendants, own_processes
from webgen.agent.fake_server import FakeLLMServer, message_text
from webgen.core.settings import ModelEndpoint
from webgen.feedback.gui.browser_use import BrowserUseAgent
from webgen.feedback.gui.types import GUITestResult
from webgen.feedback.site.server import StaticServer

pytestmark = [pytest.mark.browser]

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Echo</title></head>
<body>
<h1>Echo</h1>
<input id="box" type="text" placeholder="Type here">
<button id="add" onclick="var p = document.createElement('p');
  p.textContent = 'Echo: ' + document.getElementById('box').value;
  document.getElementById('out').appendChild(p)">Add</button>
<div id="out"></div>
<a href="/about">About</a>
</body></html>
"""
INSTRUCTION = "Type hello into the box and press Add; the text should appear below."


def reply(goal: str, *actions: dict[str, Any]) -> dict[str, Any]:
    """An AgentOutput answer as browser-use 0.13 expects it in message.content."""
    content = {"thinking": f"I will {goal}.", "evaluation_previous_goal": "ok", "memory": "testing the echo page"}
    return {"content": {**content, "next_goal": goal, "action": list(actions)}}


def done(text: str, success: bool) -> dict[str, Any]:
    return {"done": {"text": text, "success": success}}


def per_index(guard: str, element: str, goal: str, action: Callable[[int], dict[str, Any]]) -> list[dict[str, Any]]:
    """Rules answering `action(n)` when the prompt passes `guard` and shows `element` as [n]."""
    return [
        {"model": "gui", "match": rf"^{guard}.*\[{n}\]{element}", "reply": reply(goal, action(n))}
        for n in range(1, 200)
    ]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("echo-site")
    (root / "index.html").write_text(PAGE)
    with StaticServer(root) as server:
        yield server.url + "/"


@pytest.fixture(autouse=True)
def clean_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Temp files go under tmp_path/tmp and must be gone afterwards; no browser process may outlive a test."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    before = descendants(os.getpid())
    yield scratch
    left = own_processes(before)
    assert not left, f"processes left behind: {left}"
    assert list(scratch.iterdir()) == [], "temporary profile or agent directory left behind"


def agent_for(base_url: str, **options: Any) -> BrowserUseAgent:
    endpoint = ModelEndpoint(base_url=base_url, model="gui", max_retries=0, timeout_s=10)
    return BrowserUseAgent(endpoint, **options)


def browser_state(request: Any) -> str:
    text = message_text(request.messages)
    return text[text.rindex("<browser_state>") :]


@pytest.mark.slow
def test_click_and_type_flow_reaches_yes(site: str) -> None:
    script = [
        {"model": "gui", "match": "Echo: hello", "reply": reply("finish", done("YES, the text appeared", True))},
        *per_index("(?=.*value=hello)", "<button[^\n]*id=add", "press Add", lambda n: {"click": {"index": n}}),
        *per_index(
            "(?!.*value=hello)", "<input[^\n]*id=box", "type hello", lambda n: {"input": {"index": n, "text": "hello"}}
        ),
    ]
    with FakeLLMServer(script) as fake:
        result = agent_for(fake.base_url).test(site, INSTRUCTION, max_steps=6, timeout_s=60)
        requests = fake.requests

    first_state = browser_state(requests[0]) if requests else "no request"
    assert (result.outcome, result.verdict, result.error) == ("ok", "YES", None), first_state
    assert result.answer == "YES, the text appeared"
    assert result.model_calls == len(requests) == 3
    assert all(r.status == 200 and r.response_format["type"] == "json_schema" for r in requests)
    # the page really changed: the appended text shows only in the state sent after the click
    states = [browser_state(r) for r in requests]
    assert "Echo: hello" not in states[0] and "Echo: hello" not in states[1]
    assert "value=hello" in states[1] and "Echo: hello" in states[2]
    # use_vision: the screenshot goes to the model
    assert any(part.get("type") == "image_url" for part in requests[0].messages[-1]["content"])

    typed, clicked = (re.search(rf"\[(\d+)\]<{tag}", states[0])[1] for tag in ("input", "button"))
    assert [s.action for s in result.steps] == [
        f"navigate(url='{site}', new_tab=False)",
        f"input(index={typed}, text='hello', clear=True)",
        f"click(index={clicked})",
        "done(text='YES, the text appeared', success=True)",
    ]
    assert [s.index for s in result.steps] == [0, 1, 2, 3]
    assert "press Add" in result.steps[2].thought
    assert all(s.url == site and s.error is None for s in result.steps[1:])
    assert all(s.screenshot and s.screenshot.startswith(b"\x89PNG") for s in result.steps[1:])
    assert f"click(index={clicked})" in result.transcript()


@pytest.mark.parametrize(
    ("text", "success", "verdict"),
    [("NO, nothing happened", False, "NO"), ("Nothing appeared below the button", False, "NO")],
)
def test_failing_flow_reaches_no(site: str, text: str, success: bool, verdict: str) -> None:
    # a link off the site: Chromium resolves no host name but loopback, so this step fails
    script = [
        {"model": "gui", "reply": reply("open the shop", {"navigate": {"url": "http://shop.example/"}})},
        {"model": "gui", "match": "Navigation failed", "reply": reply("give up", done(text, success))},
    ]
    with FakeLLMServer(script) as fake:
        result = agent_for(fake.base_url, use_vision=False).test(site, INSTRUCTION, max_steps=5, timeout_s=60)
        requests = fake.requests

    assert (result.outcome, result.verdict, result.answer) == ("ok", verdict, text)
    assert result.model_calls == len(requests) == 2
    content = requests[0].messages[-1]["content"]  # use_vision=False: no screenshot for the model
    assert isinstance(content, str) or all(part.get("type") != "image_url" for part in content)
    assert result.steps[1].action == "navigate(url='http://shop.example/', new_tab=False)"
    assert "site unavailable" in (result.steps[1].error or "")
    assert "[failed: Navigation failed" in result.transcript()


@pytest.mark.slow
def test_done_without_verdict_word_and_success_counts_as_yes_even_inside_a_running_loop(site: str) -> None:
    script = [{"model": "gui", "reply": reply("finish", done("The echo works.", True))}]

    async def caller() -> GUITestResult:  # test() is synchronous and runs its own loop in a worker thread
        return agent_for(fake.base_url).test(site, INSTRUCTION, max_steps=3, timeout_s=60)

    with FakeLLMServer(script) as fake:
        result = asyncio.run(caller())
    assert (result.outcome, result.verdict, result.answer, result.model_calls) == ("ok", "YES", "The echo works.", 1)


def test_endpoint_down_is_endpoint_error(site: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the test: connections are refused
    result = agent_for(f"http://127.0.0.1:{port}/v1", max_failures=2).test(site, INSTRUCTION, timeout_s=60)
    assert (result.outcome, result.verdict) == ("endpoint_error", None)
    assert "connection" in (result.error or "").lower()
    assert result.model_calls == 3  # max_failures, then browser-use's one final try
    assert result.seconds < 20


def test_http_error_is_endpoint_error(site: str) -> None:
    with FakeLLMServer([{"model": "gui", "times": -1, "reply": {"status": 500, "content": "boom"}}]) as fake:
        result = agent_for(fake.base_url, max_failures=1).test(site, INSTRUCTION, timeout_s=60)
    assert result.outcome == "endpoint_error" and "boom" in (result.error or "")


@pytest.mark.slow
def test_unparsable_model_output(site: str) -> None:
    with FakeLLMServer([{"model": "gui", "times": -1, "reply": "Sure! I will click the button."}]) as fake:
        result = agent_for(fake.base_url, max_failures=1).test(site, INSTRUCTION, timeout_s=60)
    assert (result.outcome, result.verdict) == ("unparsable", None)
    assert "Invalid JSON" in (result.error or "")


@pytest.mark.slow
def test_out_of_steps_is_no_answer(site: str) -> None:
    # the last step allows only `done`; a click there is refused and the run ends without an answer
    click = {"model": "gui", "times": -1, "reply": reply("press Add", {"click": {"index": 3}})}
    with FakeLLMServer([click]) as fake:
        result = agent_for(fake.base_url).test(site, INSTRUCTION, max_steps=2, timeout_s=60)
    assert (result.outcome, result.verdict, result.answer) == ("no_answer", None, "")
    assert result.model_calls == 2


def test_missing_chromium_is_browser_error(site: str, tmp_path: Path) -> None:
    result = agent_for("http://127.0.0.1:9/v1", chromium_path=tmp_path / "no-chromium").test(site, INSTRUCTION)
    assert (result.outcome, result.model_calls) == ("browser_error", 0)
    assert "no-chromium" in (result.error or "")


@pytest.mark.slow
def test_timeout_kills_the_browser(site: str) -> None:
    with FakeLLMServer([{"model": "gui", "reply": {"hang": True}}]) as fake:
        result = agent_for(fake.base_url).test(site, INSTRUCTION, timeout_s=3)
    assert (result.outcome, result.verdict) == ("timeout", None)
    assert result.seconds < 20 and result.steps[0].action.startswith("navigate(")
