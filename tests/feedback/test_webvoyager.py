"""WebVoyagerAgent against real Chromium, a real static site and real HTTP; only the model is faked (FakeLLMServer)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import descendants
from webgen.agent.fake_server import FakeLLMServer, RecordedRequest
from webgen.core.llm import OpenAIClient, TokenBudget
from webgen.core.settings import ModelEndpoint
from webgen.feedback import browser as chromium
from webgen.feedback.gui.protocol import GUIProtocol, ProtocolError, load_protocol_dir
from webgen.feedback.gui.types import GUIAgent, GUITestResult
from webgen.feedback.gui.webvoyager import (
    DEFAULT_WAITS,
    Action,
    FormatError,
    WebVoyagerAgent,
    benchmark_task_text,
    parse_reply,
    score_answer,
)
from webgen.feedback.site.server import StaticServer

CHROMIUM = Path("/usr/bin/chromium")
WAITS = dict.fromkeys(DEFAULT_WAITS, 0.2)


def browser(test: Callable[..., None]) -> Callable[..., None]:
    """Marks a test that drives the real Chromium."""
    skip = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium")
    return pytest.mark.browser(skip(test))


TASK = "Add a note saying hello and check that it appears in the list."

INDEX = """<!doctype html>
<html><head><title>Notes</title></head>
<body>
  <h1>Notes</h1>
  <input id="box" aria-label="Note text">
  <button id="add" onclick="const li = document.createElement('li');
    li.textContent = document.getElementById('box').value;
    document.getElementById('result').appendChild(li);">Add</button>
  <a href="/second.html">Second page</a>
  <ul id="result"></ul>
</body></html>
"""
SECOND = """<!doctype html>
<html><head><title>Second</title></head>
<body><h1>Second page</h1><button>Only here</button></body></html>
"""


# --- fixtures and helpers -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("site")
    (root / "index.html").write_text(INDEX)
    (root / "second.html").write_text(SECOND)
    with StaticServer(root) as server:
        yield server.url + "/"


def client_for(base_url: str, **kwargs: Any) -> OpenAIClient:
    return OpenAIClient(ModelEndpoint(base_url=base_url, model="gui", timeout_s=10, max_retries=0), **kwargs)


def run(script: list[dict[str, Any]], url: str, **test_kwargs: Any) -> tuple[GUITestResult, list[RecordedRequest]]:
    with FakeLLMServer(script) as fake, client_for(fake.base_url) as client:
        agent = WebVoyagerAgent(client, waits=WAITS)
        result = agent.test(url, TASK, **{"timeout_s": 60.0, **test_kwargs})
        return result, fake.requests


def reply(thought: str, action: str, **rule: Any) -> dict[str, Any]:
    return {"model": "gui", **rule, "reply": f"Thought: {thought}\nAction: {action}"}


def texts(request: RecordedRequest) -> list[str]:
    """The text of each message of a recorded request, image parts left out."""
    out = []
    for message in request.messages:
        content = message["content"]
        parts = [content] if isinstance(content, str) else [p.get("text", "") for p in content]
        out.append("\n".join(parts))
    return out


def images(request: RecordedRequest) -> int:
    return sum(
        1
        for m in request.messages
        if isinstance(m["content"], list)
        for p in m["content"]
        if p.get("type") == "image_url"
    )


# --- parsing, task text, scoring (no browser) ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thought: t\nAction: Click [3]", Action("click", 3, "", "Click [3]")),
        ("Thought: t\nAction: click 12", Action("click", 12, "", "click 12")),
        (
            "Thought: t\nAction: Type [0]; [hello world]\nmore",
            Action("type", 0, "hello world", "Type [0]; [hello world]"),
        ),
        ("Thought: t\nAction: Scroll [WINDOW]; [down]", Action("scroll", None, "down", "Scroll [WINDOW]; [down]")),
        ("Thought: t\nAction: Scroll [4]; up", Action("scroll", 4, "up", "Scroll [4]; up")),
        ("**Thought:** t\n**Action:** Wait", Action("wait", None, "", "Wait")),
        ("Thought: t\nAction: GoBack", Action("goback", None, "", "GoBack")),
        ("Thought: t\nAction: ANSWER; [PARTIAL]", Action("answer", None, "PARTIAL", "ANSWER; [PARTIAL]")),
    ],
)
def test_parse_reply(text: str, expected: Action) -> None:
    assert parse_reply(text) == ("t", expected)


@pytest.mark.parametrize(
    "text", ["I clicked it.", "Action: Click [1]", "Thought: x\nAction: Hover [2]", "Thought: x\nAction: Type [1]"]
)
def test_parse_reply_rejects(text: str) -> None:
    with pytest.raises(FormatError):
        parse_reply(text)


def test_benchmark_task_text_and_score() -> None:
    text = benchmark_task_text("Add a todo", "The todo shows in the list")
    assert text.startswith("Task: Add a todo\nExpected Result: The todo shows in the list\n")
    for piece in ("15 times", '"admin"', '"admin123456"', '"admin@example.com"'):
        assert piece in text
    # the three verdicts, each with its meaning (the benchmark's definitions, in our words)
    assert "- YES: everything the expected result describes happened." in text
    assert "- PARTIAL: some of the expected result happened, but not all of it." in text
    assert "- NO: none of the expected result could be achieved." in text
    assert '"admin"' not in benchmark_task_text("a", "b", credentials=False)
    assert [score_answer(v) for v in ("YES", "PARTIAL", "NO", None)] == [1.0, 0.5, 0.0, 0.0]


def test_published_limits_are_the_protocol_defaults() -> None:
    protocol = GUIProtocol()
    assert (protocol.max_iter, protocol.max_attached_images, protocol.viewport) == (15, 3, (1024, 768))
    assert (protocol.settle_s, protocol.dialogs, protocol.network, protocol.source) == (
        5.0,
        "dismiss",
        "loopback",
        "ours",
    )
    assert DEFAULT_WAITS == {"click": 3.0, "type": 10.0, "scroll": 3.0, "wait": 5.0, "goback": 2.0}
    limit = protocol.limit_text("The list shows the todo")
    assert "Expected Result: The list shows the todo" in limit and "- PARTIAL:" in limit


def checkout(root: Path, *, task: str = "", limit: str = "") -> Path:
    """A folder in the layout of the benchmark's repository, with placeholder prompt texts of our own."""
    files = {
        "webvoyager/prompts.py": 'SYSTEM_PROMPT = """PLACEHOLDER SYSTEM PROMPT"""\nSYSTEM_PROMPT_TEXT_ONLY = "x"\n',
        "webvoyager/run.py": "import os\n\nui_limit_prompt_template = (\n"
        + (limit or '    "PLACEHOLDER LIMIT. "\n    "Expected: {expected_result}"\n')
        + ")\n\n\ndef main():\n    raise SystemExit('never run')\n",
        "src/ui_test_webgen/ui_eval_with_answer.py": 'ui_prompt_template = """\n'
        + (task or "PLACEHOLDER TASK {task} / EXPECTED {expected_result}")
        + '\n"""\n',
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_protocol_dir_loads_the_prompt_texts_of_a_checkout(tmp_path: Path) -> None:
    protocol = load_protocol_dir(checkout(tmp_path / "WebGen-Bench"))
    assert protocol.system() == "PLACEHOLDER SYSTEM PROMPT"
    assert protocol.task_text("Add {x}", "It shows") == "\nPLACEHOLDER TASK Add {x} / EXPECTED It shows\n"
    assert protocol.limit_text("It shows") == "PLACEHOLDER LIMIT. Expected: It shows"
    assert protocol.source.endswith("(src/ui_test_webgen/ui_eval_with_answer.py)") and protocol.max_iter == 15
    assert "system_prompt" not in protocol.describe()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("missing", "is not a folder"),
        ("no-run", "no .*webvoyager/run.py: --protocol-dir must be a checkout"),
        ("field", r"uses \{who\}; only expected_result, task are filled in"),
        ("fstring", "ui_limit_prompt_template is not a plain string constant"),
    ],
)
def test_protocol_dir_errors_are_one_line(tmp_path: Path, change: str, message: str) -> None:
    root = tmp_path / "checkout"
    if change != "missing":
        checkout(
            root,
            task="{who} {task}" if change == "field" else "",
            limit='    f"{os.sep}"\n' if change == "fstring" else "",
        )
    if change == "no-run":
        (root / "webvoyager" / "run.py").unlink()
    with pytest.raises(ProtocolError, match=message) as caught:
        load_protocol_dir(root)
    assert "\n" not in str(caught.value)


def test_unknown_waits_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown waits"):
        WebVoyagerAgent(client_for("http://127.0.0.1:9/v1"), waits={"clik": 1.0})


# --- with the browser -----------------------------------------------------------------------------


@browser
def test_type_and_click_reach_yes(site: str) -> None:
    script = [
        reply("type the note into the box", "Type [0]; hello"),
        reply("now add it", "Click [1]"),
        reply("it worked", "ANSWER; YES"),
    ]
    result, requests = run(script, site)
    assert (result.outcome, result.verdict, result.answer, result.model_calls) == ("ok", "YES", "YES", 3)
    assert [s.action for s in result.steps] == ["Type [0]; hello", "Click [1]", "ANSWER; YES"]
    assert all(s.error is None and s.url == site for s in result.steps)
    assert result.steps[0].thought == "type the note into the box"
    assert result.steps[0].screenshot is not None and result.steps[0].screenshot.startswith(b"\x89PNG")
    first = texts(requests[0])
    assert "Thought:" in first[0] and "Now given a task: " + TASK in first[1] and site in first[1]
    assert '[0]: <input> "Note text"' in first[1] and '[1]: <button> "Add"' in first[1]
    assert '<li> "hello"' not in texts(requests[1])[-1]
    assert '[3]: <li> "hello"' in texts(requests[2])[-1]  # the page really changed
    assert all(r.params.get("max_tokens") == 1000 for r in requests)


@browser
def test_action_that_cannot_be_executed_is_fed_back(site: str) -> None:
    script = [
        reply("click the tenth thing", "Click [42]"),
        reply("that failed", "ANSWER; NO", match="could not be executed"),
    ]
    result, requests = run(script, site)
    assert (result.outcome, result.verdict) == ("ok", "NO")
    assert result.steps[0].action == "Click [42]" and "[42]" in (result.steps[0].error or "")
    assert result.steps[1].error is None
    assert texts(requests[1])[-1].startswith("The action could not be executed:")
    assert images(requests[1]) == 1  # feedback replaces the observation, as in the benchmark


@browser
def test_format_error_then_recovery(site: str) -> None:
    script = [
        {"model": "gui", "reply": "I think the page looks fine."},
        reply("sorry, with the format now", "ANSWER; PARTIAL", match="Format ERROR"),
    ]
    result, requests = run(script, site)
    assert (result.outcome, result.verdict, result.model_calls) == ("ok", "PARTIAL", 2)
    assert (result.steps[0].error or "").startswith("Format ERROR")
    assert texts(requests[1])[-1].startswith("Format ERROR:")
    assert "Format ERROR" not in "\n".join(texts(requests[0]))


@browser
def test_step_limit_asks_for_a_verdict(site: str) -> None:
    limit = "maximum number of interactions"
    script = [
        reply("enough", "ANSWER; PARTIAL", match=limit),
        reply("look further down", "Scroll [WINDOW]; down", times=-1),
    ]
    result, requests = run(script, site, max_steps=4)
    assert len(requests) == 4 and result.model_calls == 4
    assert all(limit not in "\n".join(texts(r)) for r in requests[:3])
    assert limit in texts(requests[3])[-1] and images(requests[3]) == 3
    assert (result.outcome, result.verdict) == ("ok", "PARTIAL")
    assert [s.error for s in result.steps] == [None] * 4


CONFIRM = """<!doctype html><html><body>
<button id="go" onclick="go.textContent = confirm('Delete everything?') ? 'confirmed' : 'cancelled'">Delete</button>
</body></html>"""


@pytest.mark.slow
@browser
def test_benchmark_protocol_prompts_dialogs_limit_turn_and_raw_final_message(tmp_path: Path) -> None:
    """With the benchmark's protocol: its system prompt and task text, a settle pause, a dialog dismissed (as the
    published Selenium harness leaves one), the limit turn restating the expected result, and the raw last reply
    kept whole even when it is not in the action format."""
    (tmp_path / "index.html").write_text(CONFIRM)
    protocol = load_protocol_dir(checkout(tmp_path / "checkout")).model_copy(update={"settle_s": 0.3})
    final = "Thought: the dialog was cancelled, so it is not a YES.\nVerdict: NO"
    script = [
        reply("press delete", "Click [0]", times=1),
        reply("look again", "Wait", times=1),
        {"model": "gui", "match": "PLACEHOLDER LIMIT", "reply": final},
    ]
    task = protocol.task_text("Delete everything", "Everything is gone")
    with StaticServer(tmp_path) as server, FakeLLMServer(script) as fake, client_for(fake.base_url) as client:
        agent = WebVoyagerAgent(client, waits=WAITS, protocol=protocol)
        started = time.monotonic()
        result = agent.test(server.url + "/", task, max_steps=3, timeout_s=None, expected_result="Everything is gone")
        requests = fake.requests
    assert time.monotonic() - started >= 0.3
    assert [texts(r)[0] for r in requests] == ["PLACEHOLDER SYSTEM PROMPT"] * 3
    assert "PLACEHOLDER TASK Delete everything / EXPECTED Everything is gone" in texts(requests[0])[1]
    seen = texts(requests[1])[-1]
    assert "dialog saying 'Delete everything?'; it was dismissed" in seen and '"cancelled"' in seen
    assert texts(requests[2])[-1].endswith("PLACEHOLDER LIMIT. Expected: Everything is gone")
    assert (result.outcome, result.final_message, result.answer) == ("ok", final, final)
    assert result.verdict == "NO" and result.steps[-1].reply == final and result.steps[-1].error


@browser
def test_no_answer_within_the_limit(site: str) -> None:
    result, _ = run([reply("wait more", "Wait", times=-1)], site, max_steps=2)
    assert (result.outcome, result.verdict, result.model_calls) == ("no_answer", None, 2)


@pytest.mark.slow
@browser
def test_context_keeps_at_most_three_screenshots(site: str) -> None:
    script = [reply("w", "Wait", times=5), reply("finish", "ANSWER; YES")]
    result, requests = run(script, site)
    assert result.verdict == "YES" and len(requests) == 6
    assert [images(r) for r in requests] == [1, 2, 3, 3, 3, 3]
    last = texts(requests[-1])
    assert last[1].startswith("Now given a task:")  # the task stays when its screenshot is dropped
    assert sum("left out of the context" in t for t in last) == 3


@pytest.mark.slow
@browser
def test_navigation_scroll_and_goback(site: str) -> None:
    script = [
        reply("open the other page", "Click [2]"),
        reply("scroll", "Scroll [WINDOW]; down"),
        reply("back", "GoBack"),
        reply("done", "ANSWER; YES"),
    ]
    result, requests = run(script, site)
    assert result.verdict == "YES" and all(s.error is None for s in result.steps)
    assert [s.url for s in result.steps] == [site, site + "second.html", site + "second.html", site]
    assert '[0]: <button> "Only here"' in texts(requests[1])[-1]


@pytest.mark.slow
@browser
def test_endpoint_down_is_an_endpoint_error_fast(site: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with client_for(f"http://127.0.0.1:{port}/v1") as client:
        started = time.monotonic()
        result = WebVoyagerAgent(client, waits=WAITS).test(site, TASK, timeout_s=60)
    assert (result.outcome, result.verdict, result.model_calls) == ("endpoint_error", None, 1)
    assert "unavailable" in (result.error or "") and time.monotonic() - started < 15


@browser
def test_spent_budget_is_budget(site: str) -> None:
    with FakeLLMServer([]) as fake, client_for(fake.base_url, budget=TokenBudget(0)) as client:
        result = WebVoyagerAgent(client, waits=WAITS).test(site, TASK)
        assert fake.requests == []
    assert result.outcome == "budget"


def test_missing_chromium_is_a_browser_error(tmp_path: Path) -> None:
    with client_for("http://127.0.0.1:9/v1") as client:
        agent: GUIAgent = WebVoyagerAgent(client, chromium_path=tmp_path / "no-chromium")
        result = agent.test("http://127.0.0.1:9/", TASK)
    assert (result.outcome, result.model_calls) == ("browser_error", 0) and "Chromium" in (result.error or "")


@pytest.mark.slow
@browser
def test_timeout_and_no_processes_left(site: str) -> None:
    before = descendants(os.getpid())
    result, _ = run([reply("fine", "ANSWER; YES")], site)
    assert result.outcome == "ok"
    slow = [{"model": "gui", "reply": {"content": "Thought: t\nAction: Wait", "delay_s": 8}}]
    started = time.monotonic()
    result, _ = run(slow, site, timeout_s=2.0)
    assert result.outcome == "timeout" and "2s" in (result.error or "")
    assert time.monotonic() - started < 10
    deadline = time.monotonic() + 5  # a killed browser's last children can take a moment to be reaped
    while _browsers(descendants(os.getpid()) - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _browsers(descendants(os.getpid()) - before) == []


def _browsers(pids: set[int]) -> list[str]:
    """The Chromium and Playwright driver processes among `pids` (other tests' helpers, such as a local Ray
    started earlier in the same pytest process, may start processes of their own meanwhile)."""
    found = []
    for pid in pids:
        try:
            line = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "chrom" in line or "playwright" in line:
            found.append(f"{pid}: {line[:120]}")
    return found


class _Counting(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@browser
def test_requests_beyond_127_0_0_1_are_aborted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server on 127.0.0.2 is reachable at the OS level but not loopback by our rule: the page must not reach it.

    Chromium's host-resolver rule is left out here, so that the request guard is the only barrier tested.
    """
    args = [arg for arg in chromium.CHROMIUM_ARGS if not arg.startswith("--host-resolver-rules")]
    monkeypatch.setattr(chromium, "CHROMIUM_ARGS", args)
    other = HTTPServer(("127.0.0.2", 0), _Counting)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    probe = f"http://127.0.0.2:{other.server_address[1]}/probe"
    (tmp_path / "index.html").write_text(
        f"""<!doctype html><html><body><button id="net">pending</button><script>
        fetch("{probe}", {{mode: "no-cors"}}).then(() => net.textContent = "reached", () => net.textContent = "blocked");
        </script></body></html>"""
    )
    try:
        with StaticServer(tmp_path) as server:
            result, requests = run([reply("look again", "Wait"), reply("done", "ANSWER; NO")], server.url + "/")
    finally:
        other.shutdown()
        other.server_close()
    assert result.outcome == "ok"
    assert '[0]: <button> "blocked"' in texts(requests[1])[-1]
    assert _Counting.hits == []
