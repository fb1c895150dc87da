"""The page's own count of its fetch and XHR calls (page_session.REQUESTS_JS), in real Chromium: every call is
settled once however it ends, reading a body counts, and the page's behaviour is unchanged (an ignored failed
fetch is still an unhandled rejection, a second send() still throws)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from webgen.feedback.browser import CHROMIUM, chromium_args
from webgen.feedback.site.page_session import REQUESTS_JS

pytestmark = [pytest.mark.browser]
ORIGIN = "http://127.0.0.1:9"  # every request is answered by the route below: nothing listens there


def _answer(route: Any) -> None:
    url = route.request.url
    if url.endswith("/fails"):
        route.abort()
    elif url.endswith("/data"):
        route.fulfill(status=200, content_type="application/json", body=json.dumps({"items": [1, 2, 3]}))
    else:
        route.fulfill(status=200, content_type="text/html", body="<html><body><div id=root>page</div></body></html>")


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian chromium at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=chromium_args())
        context = browser.new_context()
        context.add_init_script(REQUESTS_JS)
        context.route("**/*", _answer)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        yield page
        browser.close()


def _run(page: Any, script: str) -> dict:
    page.goto(ORIGIN + "/")
    page.evaluate(script)
    page.wait_for_function("() => window.__webgenRequests.pending === 0", timeout=5000)
    page.wait_for_timeout(50)
    return page.evaluate("() => ({ ...window.__webgenRequests })")


def test_a_fetch_and_its_body_are_two_calls_and_both_settle(page: Any) -> None:
    count = _run(page, "async () => { window.got = (await (await fetch('/data')).json()).items.length; }")
    assert count == {"pending": 0, "done": 2}
    assert page.evaluate("() => window.got") == 3


def test_an_ignored_failed_fetch_settles_and_is_still_an_unhandled_rejection(page: Any) -> None:
    page.errors.clear()
    count = _run(page, "() => { fetch('/fails'); }")
    assert count == {"pending": 0, "done": 1}
    page.wait_for_timeout(200)
    assert any("Failed to fetch" in e for e in page.errors), page.errors


def test_xhr_reopened_in_flight_sent_twice_or_synchronous_settles_each_call_once(page: Any) -> None:
    script = """() => {
      const reused = new XMLHttpRequest();
      reused.open('GET', '/data'); reused.send();
      reused.open('GET', '/data'); reused.send();  // the first call is dropped by open(): no loadend for it
      try { reused.send(); window.second = 'sent'; } catch (e) { window.second = e.name; }  // still in flight
      const sync = new XMLHttpRequest();
      sync.open('GET', '/data', false); sync.send();
      window.syncStatus = sync.status;
      const aborted = new XMLHttpRequest();
      aborted.open('GET', '/data'); aborted.send(); aborted.abort();
    }"""
    count = _run(page, script)
    assert count["pending"] == 0
    assert count["done"] == 5  # reused x2, the refused send, sync, aborted
    assert page.evaluate("() => [window.second, window.syncStatus]") == ["InvalidStateError", 200]


def test_a_page_cannot_replace_the_count(page: Any) -> None:
    page.goto(ORIGIN + "/")
    page.evaluate("() => { try { window.__webgenRequests = { pending: 7, done: 0 }; } catch (e) {} }")
    assert page.evaluate("() => window.__webgenRequests.pending") == 0
