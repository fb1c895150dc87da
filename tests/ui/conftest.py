"""The UI launched in this process (one app per module) over the real loop, models scripted by FakeLLMServer,
driven by Playwright in Debian's headless chromium."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from webgen.agent.fake_server import FakeLLMServer
from webgen.core.settings import Settings
from webgen.feedback.site.environment import SiteEnvironment
from webgen.ui.app import launch
from webgen.ui.demo import demo_rules, demo_settings
from webgen.ui.state import UIWorld

CHROMIUM = "/usr/bin/chromium"
FAST_WAITS = {"click": 0.1, "type": 0.1, "scroll": 0.1, "wait": 0.1, "goback": 0.1}
pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ui_settings(base: Settings, home: Path, server: FakeLLMServer) -> Settings:
    cfg = demo_settings(base, server)
    return cfg.model_copy(
        update={
            "home": home,
            "database_url": f"sqlite:///{home / 'webgen.db'}",
            "agent": cfg.agent.model_copy(update={"gui_waits": FAST_WAITS, "max_steps": 6}),
        }
    )


class UIApp:
    def __init__(self, url: str, world: UIWorld, server: FakeLLMServer, demo: Any) -> None:
        self.url, self.world, self.server, self.demo = url, world, server, demo


@pytest.fixture(scope="module")
def ui_app(env: SiteEnvironment, settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIApp]:
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    server = FakeLLMServer(demo_rules()).start()
    world = UIWorld(ui_settings(settings, tmp_path_factory.mktemp("ui-home"), server), env=env)
    port = free_port()
    demo = launch(world, port=port, block=False)
    try:
        yield UIApp(f"http://127.0.0.1:{port}", world, server, demo)
    finally:
        demo.close()
        world.close()
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian chromium at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, ui_app: UIApp) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 1600}, accept_downloads=True)
    pg = context.new_page()
    pg.goto(ui_app.url)
    pg.locator("#msg textarea").wait_for(timeout=30_000)
    yield pg
    context.close()
