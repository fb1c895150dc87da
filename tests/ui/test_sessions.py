"""Sessions in real chromium: two at once stay apart, Stop cancels, a dead endpoint is one line, auth holds."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import descendants
from tests.ui.conftest import UIApp, free_port
from tests.ui.pages import RUN_TIMEOUT, bot_text, open_tab, send, wait_status
from webgen.agent.fake_server import FakeLLMServer
from webgen.ui.app import launch
from webgen.ui.demo import BROKEN

pytestmark = pytest.mark.browser


def new_page(browser: Any, url: str) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 1600})
    page = context.new_page()
    page.goto(url)
    page.locator("#msg textarea").wait_for(timeout=30_000)
    return page


def use_coder(page: Any, base_url: str) -> None:
    open_tab(page, "Settings")
    page.locator("#coder-url textarea, #coder-url input").first.fill(base_url)
    page.locator("#apply-settings").click()
    wait_status_text(page, "#settings-out", "Settings applied")


def wait_status_text(page: Any, selector: str, text: str, timeout: int = 10_000) -> None:
    from playwright.sync_api import expect

    expect(page.locator(selector)).to_contain_text(text, timeout=timeout)


def _reachable(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return False
    return True


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def new_processes(before: set[int]) -> list[bytes]:
    """Processes started since `before`, but the shared site environment's build worker (started lazily, kept)."""
    return [cmdline(pid)[:150] for pid in descendants(os.getpid()) - before if b"build_worker" not in cmdline(pid)]


@pytest.fixture
def slow_coder() -> Iterator[FakeLLMServer]:
    with FakeLLMServer([{"model": "coder", "times": -1, "reply": {"content": BROKEN, "delay_s": 1.5}}]) as server:
        yield server


@pytest.mark.slow
def test_two_sessions_at_once_are_isolated(browser: Any, ui_app: UIApp) -> None:
    from playwright.sync_api import expect

    a, b = new_page(browser, ui_app.url), new_page(browser, ui_app.url)
    sessions: list = []
    try:
        send(a, "A site for a bakery")
        send(b, "A site for a garage")
        wait_status(a, r"Run [0-9a-f]{8}: finished")
        wait_status(b, r"Run [0-9a-f]{8}: finished")
        assert "garage" not in a.locator("#chat").inner_text()
        assert "bakery" not in b.locator("#chat").inner_text()
        src_a, src_b = a.locator("#site-frame").get_attribute("src"), b.locator("#site-frame").get_attribute("src")
        token_a, run_a = re.search(r":\d+/([^/]+)/([0-9a-f]+)/", src_a).groups()
        token_b, run_b = re.search(r":\d+/([^/]+)/([0-9a-f]+)/", src_b).groups()
        assert token_a != token_b and run_a != run_b
        assert httpx.get(src_a.replace(run_a, run_b)).status_code == 404  # A's server knows nothing of B's run
        open_tab(a, "Steps")
        a.locator("#picker input").click()
        options = a.get_by_role("option").all_inner_texts()
        assert options and all(o.split("\n")[-1].startswith(run_a[:8]) for o in options), options
        expect(b.frame_locator("#site-frame").locator("h1")).to_have_text("Welcome to your new site")
        sessions = [s for s in ui_app.world.sessions.values() if run_a in s.runs or run_b in s.runs]
        assert len(sessions) == 2
    finally:
        a.context.close()
        b.context.close()
    deadline = time.monotonic() + 20  # a closed tab's session is dropped: its preview server and folder go
    while any(s.workdir.exists() for s in sessions) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(s.workdir.exists() for s in sessions)
    assert not _reachable(src_a)  # its preview server is stopped


@pytest.mark.slow
def test_stop_cancels_a_slow_run_and_leaves_no_process(browser: Any, ui_app: UIApp, slow_coder) -> None:
    page = new_page(browser, ui_app.url)
    try:
        use_coder(page, slow_coder.base_url)
        before = descendants(os.getpid())
        send(page, "A site that takes a while")
        wait_status_text(page, "#chat", "Step 0 started", timeout=30_000)
        send(page, "Another request while it runs")
        wait_status(page, "A run is going", timeout=10_000)
        page.locator("#new-conversation").click()  # nor can the chat be swapped under a running run
        wait_status(page, "⚠ a run is going", timeout=10_000)
        page.locator("#stop").click()
        wait_status(page, r"Run [0-9a-f]{8}: cancelled", timeout=RUN_TIMEOUT)
        session = next(s for s in ui_app.world.sessions.values() if s.settings.coder.base_url == slow_coder.base_url)
        run = ui_app.world.store.get_run(session.runs[-1])
        assert run.status == "cancelled"
        assert not session.running
        deadline = time.monotonic() + 10
        while new_processes(before) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not new_processes(before)
        # build workers this UI started (earlier tests in the same pytest process may hold their own)
        workers = [pid for pid in descendants(os.getpid()) if pid not in before and b"build_worker" in cmdline(pid)]
        assert len(workers) <= 1, "the shared site environment keeps one build worker, no more"
        assert "Run cancelled" in bot_text(page)
    finally:
        page.context.close()


@pytest.mark.slow
def test_a_dead_endpoint_is_down_in_the_check_one_line_in_the_chat_and_the_ui_stays_usable(
    browser: Any, ui_app: UIApp
) -> None:
    from playwright.sync_api import expect

    page = new_page(browser, ui_app.url)
    try:
        use_coder(page, f"http://127.0.0.1:{free_port()}/v1")
        page.locator("#check-settings").click()  # `webgen doctor`'s checks with this session's settings
        out = page.locator("#settings-out")
        expect(out).to_contain_text(re.compile(r"model:coder\s+❌ down"), timeout=30_000)
        expect(out).to_contain_text(re.compile(r"model:judge\s+✅ ok"))
        expect(out).to_contain_text(re.compile(r"chromium\s+✅ ok"))
        send(page, "A site nobody will build")
        wait_status(page, r"Run [0-9a-f]{8}: failed", timeout=RUN_TIMEOUT)
        text = bot_text(page)
        assert "Run failed" in text
        send(page, "")
        wait_status(page, "Write what to build", timeout=10_000)
        open_tab(page, "Preview")
        assert page.locator("#preview .webgen-preview-note").is_visible()
        assert page.locator("#site-frame").count() == 0
    finally:
        page.context.close()


@pytest.mark.slow
def test_auth_refuses_an_unauthenticated_client(browser: Any, ui_app: UIApp) -> None:
    from playwright.sync_api import expect

    port = free_port()
    demo = launch(ui_app.world, port=port, auth=("ada", "s3cret-pass"), block=False)
    url = f"http://127.0.0.1:{port}"
    try:
        assert httpx.get(f"{url}/webgen/config").status_code == 401
        context = browser.new_context()
        page = context.new_page()
        page.goto(url)
        expect(page.get_by_label("username")).to_be_visible(timeout=30_000)
        expect(page.locator("#msg")).to_have_count(0)
        page.get_by_label("username").fill("ada")
        page.get_by_label("password").fill("wrong")
        page.get_by_role("button", name="Login").click()
        expect(page.locator("#msg")).to_have_count(0)
        page.goto(url)
        page.get_by_label("username").fill("ada")
        page.get_by_label("password").fill("s3cret-pass")
        page.get_by_role("button", name="Login").click()
        page.locator("#msg textarea").wait_for(timeout=30_000)
        context.close()
    finally:
        demo.close()


def test_the_ui_restarts_on_the_port_it_just_left_and_root_redirects_to_the_app(ui_app: UIApp) -> None:
    port = free_port()
    for _ in range(2):
        server = launch(ui_app.world, port=port, block=False)
        # a kept-alive connection is still open when the server stops: the server closes it first, which leaves the
        # port's socket in TIME_WAIT for the second start to bind over
        with httpx.Client(timeout=30) as client:
            try:
                answer = client.get(f"http://127.0.0.1:{port}/", follow_redirects=True)
                assert answer.status_code == 200
                assert str(answer.url) == server.url == f"http://127.0.0.1:{port}/webgen/"
            finally:
                server.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=5)


def test_a_port_another_server_listens_on_is_refused_with_an_oserror(ui_app: UIApp) -> None:
    import socket

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        with pytest.raises(OSError):
            launch(ui_app.world, port=other.getsockname()[1], block=False)
