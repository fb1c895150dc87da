"""A page keeps one event stream for all its events (ui/stream.py), so that an event sent just as another one's
update lands is never left without a stream; the placeholder goes when the page does."""

from __future__ import annotations

import time
from typing import Any

import gradio as gr
import pytest

from tests.ui.conftest import UIApp, free_port
from tests.ui.pages import send, wait_status
from webgen.ui import stream
from webgen.ui.app import launch
from webgen.ui.state import UIWorld

pytestmark = pytest.mark.browser


def test_hold_and_release_on_a_real_queue() -> None:
    with gr.Blocks() as blocks:
        gr.Markdown("x")
    pending = blocks._queue.pending_event_ids_session
    stream.hold(blocks, "s1")
    pending["s1"].add("an-event")
    stream.release(blocks, "s1")
    assert pending["s1"] == {"an-event"}  # another event still pending: the session stays
    stream.hold(blocks, "s1")
    pending["s1"].discard("an-event")
    stream.release(blocks, "s1")
    assert "s1" not in pending
    stream.release(blocks, "never-held")
    stream.hold(blocks, None)
    assert pending == {}


@pytest.mark.slow
def test_one_stream_carries_every_event_of_a_page_and_goes_with_it(browser: Any, ui_app: UIApp) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 1600})
    page = context.new_page()
    streams: list[str] = []
    page.on("request", lambda request: "/queue/data" in request.url and streams.append(request.url))
    pending = ui_app.demo.demo._queue.pending_event_ids_session
    before = set(pending)
    try:
        page.goto(ui_app.url)
        page.locator("#msg textarea").wait_for(timeout=30_000)
        send(page, "")
        wait_status(page, "Write what to build", timeout=10_000)
        page.get_by_role("tab", name="Settings").click()
        page.locator("#apply-settings").click()
        expect(page.locator("#settings-out")).to_contain_text("Settings applied", timeout=10_000)
        page.locator("#check-settings").click()
        expect(page.locator("#settings-out")).to_contain_text("chromium", timeout=30_000)
        # Gradio's own way: the stream closes once no event is pending and a new one opens for the next event
        assert len(streams) == 1, streams
        (session,) = set(pending) - before
        assert stream.HOLD in pending[session]
    finally:
        context.close()
    deadline = time.monotonic() + 30  # the unload (Gradio's heartbeat notices the page is gone) releases it
    while session in pending and time.monotonic() < deadline:
        time.sleep(0.2)
    assert session not in pending


@pytest.mark.slow
def test_the_server_stops_while_a_page_still_holds_its_stream(browser: Any, ui_app: UIApp) -> None:
    port = free_port()
    world = UIWorld(ui_app.world.settings, env=ui_app.world.env)
    running = launch(world, port=port, block=False)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(running.url)
        page.locator("#msg textarea").wait_for(timeout=30_000)
        send(page, "")
        wait_status(page, "Write what to build", timeout=10_000)
        running.close()  # the page is still open, its stream held
        assert not running.thread.is_alive()
    finally:
        context.close()
        running.close()
        world.close()
