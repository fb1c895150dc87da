"""The chat flow in real chromium: stream, preview, download, continue from an earlier step, bad input."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.ui.conftest import UIApp, free_port
from tests.ui.pages import bot_text, open_conversation, open_tab, pick_step, send, wait_status
from webgen.graph.session import Session, StepSiteError
from webgen.storage.conversations import conversation_runs
from webgen.ui.app import launch
from webgen.ui.state import UIWorld

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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_after_a_reload_the_conversation_reopens_with_its_chat_steps_previews_diff_gallery_and_files(
    built: Any, ui_app: UIApp
) -> None:
    """A reload is a new browser session: it lists the stored conversation, and opening it restores everything;
    the previews are built in this process from the stored files (this session built nothing live)."""
    from playwright.sync_api import expect

    store = ui_app.world.store
    first, second = next(s for s in ui_app.world.sessions.values() if len(s.runs) == 2).runs
    steps = store.steps(first)
    failed = next(s for s in steps if s.build_ok is False)
    good = next(s for s in steps if s.build_ok)
    built.reload()
    built.locator("#msg textarea").wait_for(timeout=30_000)
    expect(built.locator("#chat [data-testid='user']")).to_have_count(0)  # a new session starts empty
    open_conversation(built, REQUEST)
    wait_status(
        built, rf"Opened «{REQUEST}» \(2 run\(s\)\); the next message continues from step \d+ of run {second[:8]}"
    )
    users = built.locator("#chat [data-testid='user']")
    expect(users).to_have_count(2)
    expect(users.nth(1)).to_contain_text("Add a contact page")
    text = bot_text(built)
    assert (
        text.index("build failed") < text.index("Screenshot /") < text.index("score 4/5") < text.index("Run finished")
    )
    frame = built.frame_locator("#site-frame")
    expect(frame.locator("h1")).to_have_text("Welcome back", timeout=60_000)  # the last run's best step

    pick_step(built, first, good.index)  # an older step previews its own site, not the latest
    expect(built.locator("#gallery img").first).to_be_visible(timeout=30_000)
    open_tab(built, "Preview")
    expect(frame.locator("h1")).to_have_text("Welcome to your new site", timeout=60_000)
    open_tab(built, "Diff")
    diff = built.locator("#diff")
    expect(diff).to_contain_text(f"Step {good.index} against its parent, step {failed.index}")
    expect(diff).to_contain_text("draft</div>")  # the broken line the step replaced
    expect(diff).to_contain_text('+        <Route path="/about"')
    open_tab(built, "Files")
    tree, code = built.locator("#files"), built.locator("#code")
    expect(tree.get_by_text("App.tsx", exact=True)).to_be_visible()  # nested under src/
    expect(code).to_contain_text("Welcome to your new site")
    tree.locator("li").filter(has_text="index.html").last.locator("input[type=checkbox]").check()
    expect(code).to_contain_text('<div id="root">')

    pick_step(built, first, failed.index)  # a step whose build failed says so instead of a stale site
    open_tab(built, "Preview")
    expect(built.locator("#preview")).to_contain_text(f"The build of step {failed.index} failed")
    expect(built.locator("#site-frame")).to_have_count(0)


def test_build_step_builds_a_stored_steps_site_once_and_says_why_a_broken_one_does_not_build(
    built: Any, ui_app: UIApp
) -> None:
    world = ui_app.world
    first = next(s for s in world.sessions.values() if s.conversation).runs[0]
    steps = world.store.steps(first)
    failed = next(s for s in steps if s.build_ok is False)
    gui = next(s for s in steps if s.kind == "gui_request")  # no files of its own: its parent's are built
    with world.run_lock, Session(world.settings, store=world.store, env=world.env) as session:
        dist = session.build_step(first, gui.index)
        assert "/assets/" in (dist / "index.html").read_text()
        assert dist.parent.name == (gui.snapshot_id or gui.base_snapshot_id)
        assert session.build_step(first, gui.index) == dist  # cached by its files
        with pytest.raises(StepSiteError, match=rf"step {failed.index} of run {first[:8]} does not build: .*App\.tsx"):
            session.build_step(first, failed.index)


@pytest.mark.slow
def test_after_a_restart_on_the_same_store_a_conversation_reopens_and_continues_from_an_older_step(
    browser: Any, ui_app: UIApp
) -> None:
    from playwright.sync_api import expect

    world = UIWorld(ui_app.world.settings, env=ui_app.world.env)  # a new app over the same database file
    port = free_port()
    demo = launch(world, port=port, block=False)
    context = browser.new_context(viewport={"width": 1280, "height": 1600})
    try:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}")
        page.locator("#msg textarea").wait_for(timeout=30_000)
        open_conversation(page, REQUEST)
        wait_status(page, rf"Opened «{REQUEST}» \(2 run\(s\)\)", timeout=30_000)
        ui = next(s for s in world.sessions.values() if s.conversation)
        first = conversation_runs(world.store, ui.conversation)[0].id
        good = next(s for s in world.store.steps(first) if s.build_ok)
        pick_step(page, first, good.index)
        page.locator("#continue").click()
        wait_status(page, rf"continues from step {good.index} of run {first[:8]}", timeout=10_000)
        send(page, "Add a contact page here too")
        wait_status(page, r"Run [0-9a-f]{8}: finished")
        run = world.store.get_run(ui.runs[-1])
        assert run.config["ui"]["conversation"] == ui.conversation
        assert run.config["continued_from"] == {"run_id": first, "step": good.index}
        assert len(ui.runs) == 3
        expect(page.locator("#chat [data-testid='user']")).to_have_count(3)
        page.locator("#conversations input").click()
        expect(page.get_by_role("option", name=re.compile(re.escape(REQUEST) + ".* 3 run")).first).to_be_visible()
    finally:
        context.close()
        demo.close()
        world.close()


@pytest.mark.slow
def test_an_empty_message_is_refused_and_the_ui_stays_usable(page: Any) -> None:
    from playwright.sync_api import expect

    send(page, "   ")
    wait_status(page, "Write what to build", timeout=10_000)
    expect(page.locator("#chat [data-testid='user']")).to_have_count(0)
