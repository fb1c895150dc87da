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
