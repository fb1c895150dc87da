"""Driving the chat page with Playwright."""

from __future__ import annotations

import re
from typing import Any

RUN_TIMEOUT = 120_000


def send(page: Any, text: str) -> None:
    page.locator("#msg textarea").fill(text)
    page.locator("#send").click()


def wait_status(page: Any, pattern: str, timeout: int = RUN_TIMEOUT) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#status")).to_have_text(re.compile(pattern), timeout=timeout)


def bot_text(page: Any) -> str:
    return "\n".join(page.locator("#chat [data-testid='bot']").all_inner_texts())


def open_tab(page: Any, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def pick_step(page: Any, run_id: str, index: int) -> None:
    """Select step `index` of run `run_id` in the Steps tab's picker."""
    open_tab(page, "Steps")
    page.locator("#picker input").click()
    page.get_by_role("option", name=re.compile(rf"^{run_id[:8]} step {index} ")).click()


def open_conversation(page: Any, title: str) -> None:
    """Open the past conversation whose title starts with `title`."""
    page.locator("#conversations input").click()
    page.get_by_role("option", name=re.compile("^" + re.escape(title) + " · ")).click()
    page.locator("#open-conversation").click()
