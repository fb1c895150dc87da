"""The chat flow in real chromium: stream, preview, download, continue from an earlier step, bad input."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.ui.conftest import UIApp
from tests.ui.pages import bot_text, open_tab, send, wait_status

pytestmark = pytest.mark.browser
REQUEST = "A site for a small bookshop"


@pytest.fixture(scope="module")
def built(browser: Any, ui_app: UIApp) -> Iterator[Any]:
    """One browser session that ran the request to the end (shared by the tests that read its steps)."""
    context = browser.new_context(viewport={"width": 1280, "height": 1600}, accept_downloads=True)
    page = context.new_page()
    page.goto(ui_app.url)
    page.locator("#msg textarea").wait_for(timeout=30_000)
    send(page, REQUEST)
    wait_status(page, r"Run [0-9a-f]{8}: finished")
    yield page
    context.close()


def test_a_request_streams_a_failed_build_then_screenshots_with_a_score(built: Any) -> None:
    from playwright.sync_api import expect

    chat = built.locator("#chat")
    expect(chat.locator("[data-testid='user']").first).to_contain_text(REQUEST)
    text = bot_text(built)
    failed = text.index("build failed")
    screenshot = text.index("Screenshot /")
    score = text.index("score 4/5")
    finished = text.index("Run finished")
    assert failed < screenshot < score < finished, text
    expect(chat.locator("img").first).to_be_visible()


def test_the_preview_iframe_shows_the_sites_heading_under_a_token(built: Any, ui_app: UIApp) -> None:
    from playwright.sync_api import expect

    frame = built.frame_locator("#site-frame")
    expect(frame.locator("h1")).to_have_text("Welcome to your new site", timeout=30_000)
    iframe = built.locator("#site-frame")
    assert iframe.get_attribute("sandbox") == "allow-scripts allow-forms"
    src = iframe.get_attribute("src")
    origin, token = re.match(r"(http://[^/]+)/([^/]+)/", src).groups()
    assert origin != ui_app.url
    assert len(token) >= 32
    assert httpx.get(src).status_code == 200
    assert httpx.get(origin + "/").status_code == 404
    assert httpx.get(src.replace(token, "x" * len(token))).status_code == 404
    assert httpx.get(origin + "/assets/").status_code == 404


def test_download_gives_the_selected_steps_files_as_a_zip(built: Any) -> None:
    open_tab(built, "Steps")
    with built.expect_download(timeout=30_000) as download:
        built.locator("#download").click()
    data = open(download.value.path(), "rb").read()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        app = archive.read("src/App.tsx").decode()
    assert "package.json" in names
    assert "Welcome to your new site" in app


def test_continue_from_an_earlier_step_starts_from_its_files_and_the_route_picker_shows_pages(
    built: Any, ui_app: UIApp
) -> None:
    from playwright.sync_api import expect

    store = ui_app.world.store
    session = next(s for s in ui_app.world.sessions.values() if s.runs)
    first = session.runs[0]
    steps = store.steps(first)
    chosen = next(s for s in steps if s.build_ok)  # the first step whose site built: earlier than the last
    assert chosen.index < steps[-1].index
    open_tab(built, "Steps")
    built.locator("#picker input").click()
    built.get_by_role("option", name=re.compile(rf"^{first[:8]} step {chosen.index} ")).click()
    built.locator("#continue").click()
    wait_status(built, rf"continues from step {chosen.index} of run {first[:8]}", timeout=10_000)
    send(built, "Add a contact page")
    wait_status(built, r"Run [0-9a-f]{8}: finished")
    second = session.runs[-1]
    assert second != first
    assert store.get_run(second).config["continued_from"] == {"run_id": first, "step": chosen.index}
    assert store.steps(second)[0].base_snapshot_id == chosen.snapshot_id
    open_tab(built, "Preview")
    expect(built.frame_locator("#site-frame").locator("h1")).to_have_text("Welcome back", timeout=30_000)
    built.locator("#route input").click()  # the route picker shows the new page
    built.get_by_role("option", name="/contact").click()
    expect(built.frame_locator("#site-frame").locator("h1")).to_have_text("Contact us", timeout=30_000)


def test_an_empty_message_is_refused_and_the_ui_stays_usable(page: Any) -> None:
    from playwright.sync_api import expect

    send(page, "   ")
    wait_status(page, "Write what to build", timeout=10_000)
    expect(page.locator("#chat [data-testid='user']")).to_have_count(0)
