"""The chat's "Upload project" control in real chromium: a zip of an existing site starts a new conversation whose
first run imports it as step 0 and whose second run (the message box's request) continues it with the scripted
coder; a project webgen cannot work on is one line in the status, and no run starts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.projects import HEADING, png, project_files, zip_of, zip_project
from tests.ui.conftest import UIApp
from tests.ui.pages import bot_text, wait_status
from webgen.storage.conversations import conversation_runs
from webgen.ui.demo import NEXT_HEADING
from webgen.ui.history import run_chat

pytestmark = pytest.mark.browser


def _upload(page: Any, path: Path) -> None:
    page.locator("#upload input[type=file]").set_input_files(str(path))


@pytest.mark.slow
def test_an_uploaded_zip_is_step_0_of_a_new_conversation_and_the_request_continues_it(
    page: Any, ui_app: UIApp, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    archive = zip_project(tmp_path / "harbour-bikes.zip")
    page.locator("#msg textarea").fill("Add a contact page")
    _upload(page, archive)
    wait_status(page, r"Run [0-9a-f]{8}: finished")

    world = ui_app.world
    ui = next(s for s in world.sessions.values() if s.runs)
    imported, follow = ui.runs
    store = world.store
    step0 = store.get_step(imported, 0)
    files = store.manifest(step0.snapshot_id)
    assert sorted(files) == sorted(project_files())  # the lockfile and node_modules were left out
    assert store.blobs.get(files["public/logo.png"]) == png()
    assert step0.build_ok and step0.screenshot_score == 4
    assert store.get_run(follow).config["continued_from"] == {"run_id": imported, "step": 0}
    assert [r.id for r in conversation_runs(store, ui.conversation)] == [imported, follow]
    assert ui.title == "Project harbour-bikes: Add a contact page"

    expect(page.locator("#chat [data-testid='user']").first).to_contain_text("Uploaded the project harbour-bikes")
    text = bot_text(page)
    assert text.index("imports the project harbour-bikes") < text.index("score 4/5") < text.index("Run finished")
    frame = page.frame_locator("#site-frame")  # the continued run's best step: the demo coder's change
    expect(frame.locator("h1")).to_have_text(NEXT_HEADING, timeout=60_000)
    assert HEADING in step0.completion  # the coder was shown the imported files
    reopened = "\n".join(str(m.content) for m in run_chat(store, store.get_run(imported), tmp_path / "media"))
    assert "imports the project harbour-bikes" in reopened  # a reopened conversation says so too


@pytest.mark.slow
def test_a_vue_project_upload_is_refused_in_one_line_and_no_run_starts(
    page: Any, ui_app: UIApp, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    before = {key: list(s.runs) for key, s in ui_app.world.sessions.items()}
    vue = zip_of(tmp_path / "vue-shop.zip", {"package.json": json.dumps({"dependencies": {"vue": "^3.4.0"}})})
    _upload(page, vue)
    wait_status(page, r"⚠ vue-shop is a Vue project .*React \+ Vite", timeout=30_000)
    assert "\n" not in page.locator("#status").inner_text().strip()
    expect(page.locator("#chat [data-testid='user']")).to_have_count(0)
    after = {key: list(s.runs) for key, s in ui_app.world.sessions.items()}
    assert all(after.get(key) == runs for key, runs in before.items()) and not any(
        runs for key, runs in after.items() if key not in before
    )
