"""Playwright + Debian Chromium: visit a served site's routes and report what a person would see.

One browser per Renderer (per worker process), reused across visits; a fresh context per visit.
Playwright's async API runs on a private event-loop thread so that every browser call has a hard
timeout (a page stuck in an infinite loop cannot hang the caller); callers use the sync `visit()`.
Requests to anything but loopback are aborted and reported as blocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import threading
import time
import urllib.parse
from collections.abc import Coroutine
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image

from webgen.env import CHROMIUM_ARGS
from webgen.settings import SiteSettings
from webgen.types import PageVisit

log = logging.getLogger(__name__)
T = TypeVar("T")
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}
_MAX_MESSAGES = 30
_READY_JS = (
    "() => document.readyState === 'complete' && "
    "(!document.getElementById('root') || document.getElementById('root').childElementCount > 0)"
)
_NAVIGATE_JS = (
    "(r) => { history.pushState({}, '', r); window.dispatchEvent(new PopStateEvent('popstate', {state: {}})); }"
)


def normalize_route(route: str) -> str:
    path, _, frag = route.partition("#")
    path = "/" + path.strip("/") if path.strip("/") else "/"
    return path + ("#" + frag if frag else "")


def is_loopback(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return (parts.hostname or "") in LOOPBACK


class _Bucket:
    """Messages collected for the route being visited."""

    def __init__(self) -> None:
        self.console: list[str] = []
        self.page_errors: list[str] = []
        self.failed: list[str] = []
        self.blocked: list[str] = []

    @staticmethod
    def add(items: list[str], text: str) -> None:
        if len(items) < _MAX_MESSAGES and text[:500] not in items:
            items.append(text[:500])


class _Session:
    """A fresh browser context with one page, its request guard and listeners bound to `bucket`."""

    def __init__(self, context: Any, page: Any) -> None:
        self.context = context
        self.page = page
        self.bucket = _Bucket()

    async def guard(self, route: Any) -> None:
        url = route.request.url
        if is_loopback(url):
            await route.continue_()
        else:
            _Bucket.add(self.bucket.blocked, url)
            await route.abort("blockedbyclient")

    def listen(self) -> None:
        def on_console(msg: Any) -> None:
            if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
                _Bucket.add(self.bucket.console, msg.text)

        def on_request_failed(request: Any) -> None:
            failure = request.failure or "failed"
            if is_loopback(request.url) and "BLOCKED_BY_CLIENT" not in failure.upper():
                _Bucket.add(self.bucket.failed, f"{request.url} ({failure})")

        def on_response(response: Any) -> None:
            if response.status >= 400 and is_loopback(response.url) and not response.url.endswith("/favicon.ico"):
                _Bucket.add(self.bucket.failed, f"{response.url} (HTTP {response.status})")

        self.page.on("console", on_console)
        self.page.on("pageerror", lambda exc: _Bucket.add(self.bucket.page_errors, _describe_exception(exc)))
        self.page.on("requestfailed", on_request_failed)
        self.page.on("response", on_response)


class Renderer:
    """Visit routes of a served site. Thread-safe for callers: visits are serialised on the browser thread.

    After each visit a fresh context and page are made ahead of time, off the caller's critical path
    (they are created while the next build runs), so a visit does not wait for `new_page`.
    """

    def __init__(self, config: SiteSettings | None = None, chromium_path: Path = Path("/usr/bin/chromium")) -> None:
        self.config = config or SiteSettings()
        self.chromium_path = chromium_path
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._playwright: Any = None
        self._browser: Any = None
        self._spare: asyncio.Task | None = None
        self._probe_js = (resources.files("webgen.feedback") / "page_probe.js").read_text()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Renderer:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, name="webgen-renderer", daemon=True)
            self._thread.start()
        self._call(self._ensure_browser(), timeout=60)
        return self

    def close(self) -> None:
        if self._loop is None:
            return
        with contextlib.suppress(Exception):
            self._call(self._shutdown(), timeout=15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(timeout=5)
        self._loop.close()
        self._loop = None

    def __enter__(self) -> Renderer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        assert self._loop is not None, "Renderer.start() first"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=timeout)

    async def _ensure_browser(self) -> None:
        if self._browser is not None and self._browser.is_connected():
            return
        from playwright.async_api import async_playwright  # heavy import, only when a browser is needed

        if self._playwright is None:
            self._playwright = await async_playwright().start()
        path = self.chromium_path
        if not path.exists():
            raise FileNotFoundError(f"Chromium not found at {path}; install it with `apt-get install -y chromium`")
        self._browser = await self._playwright.chromium.launch(
            executable_path=str(path), headless=True, args=CHROMIUM_ARGS
        )

    async def _shutdown(self) -> None:
        if self._spare is not None:
            self._spare.cancel()
            self._spare = None
        if self._browser is not None:
            with contextlib.suppress(Exception):
                await self._browser.close()
            self._browser = None
        if self._playwright is not None:
            with contextlib.suppress(Exception):
                await self._playwright.stop()
            self._playwright = None

    @property
    def browser_pid(self) -> int | None:
        proc = getattr(getattr(self._browser, "_impl_obj", None), "_browser_process", None)
        return getattr(proc, "pid", None)

    # -- visiting ----------------------------------------------------------------------------
    def visit(self, base_url: str, routes: list[str], *, discover: bool = True) -> list[PageVisit]:
        """Visit `routes` (and, if `discover`, same-origin links found on the way), up to `max_routes`."""
        budget = self.config.page_timeout_s * (self.config.max_routes + 2) + 30
        return self._call(self._visit(base_url, routes, discover), timeout=budget)

    async def _new_session(self) -> _Session:
        await self._ensure_browser()
        cfg = self.config
        context = await self._browser.new_context(
            viewport={"width": cfg.viewport_width, "height": cfg.viewport_height}, service_workers="block"
        )
        page = await context.new_page()
        session = _Session(context, page)
        await context.route("**/*", session.guard)
        session.listen()
        return session

    async def _take_session(self) -> _Session:
        spare, self._spare = self._spare, None
        if spare is not None:
            with contextlib.suppress(Exception):
                session = await spare
                if session.context.browser and session.context.browser.is_connected():
                    return session
        return await self._new_session()

    async def _visit(self, base_url: str, routes: list[str], discover: bool) -> list[PageVisit]:
        cfg = self.config
        session = await self._take_session()
        queue = [normalize_route(r) for r in (routes or ["/"])]
        seen: set[str] = set()
        visits: list[PageVisit] = []
        full_load = True
        try:
            while queue and len(visits) < cfg.max_routes:
                route = queue.pop(0)
                if route in seen:
                    continue
                seen.add(route)
                session.bucket = _Bucket()
                visit = await self._one(session.page, base_url, route, full_load, session.bucket)
                visits.append(visit)
                if visit.error and "did not settle" in visit.error:
                    break  # the page is hung; do not spend the timeout again on every route
                full_load = bool(visit.page_errors or not visit.ok)
                if discover:
                    queue += [link for link in visit.links if link not in seen and link not in queue]
        finally:
            try:
                await asyncio.wait_for(session.context.close(), timeout=10)
            except Exception:  # a context that cannot close: start over with a new browser
                log.warning("browser context did not close; restarting the browser")
                await self._shutdown()
            self._spare = asyncio.ensure_future(self._new_session())
        return visits

    async def _one(self, page: Any, base_url: str, route: str, full_load: bool, bucket: _Bucket) -> PageVisit:
        cfg = self.config
        url = base_url.rstrip("/") + route
        started = time.monotonic()
        visit = PageVisit(route=route, url=url, ok=False)
        try:
            visit = await asyncio.wait_for(self._load_and_probe(page, url, route, full_load), cfg.page_timeout_s)
        except TimeoutError:
            visit.error = f"the page did not settle within {cfg.page_timeout_s:g}s (a script that never yields?)"
        except Exception as exc:  # navigation errors are observations about the site
            visit.error = f"could not load the page: {str(exc).splitlines()[0][:300]}"
        visit.load_seconds = time.monotonic() - started
        visit.console_errors, visit.page_errors = bucket.console, bucket.page_errors
        visit.failed_requests, visit.blocked_requests = bucket.failed, bucket.blocked
        return visit

    async def _load_and_probe(self, page: Any, url: str, route: str, full_load: bool) -> PageVisit:
        cfg = self.config
        timeout_ms = cfg.page_timeout_s * 1000
        status = None
        if full_load:
            response = await page.goto(url, wait_until="load", timeout=timeout_ms)
            status = response.status if response else None
        else:
            await page.evaluate(_NAVIGATE_JS, route)
        with contextlib.suppress(Exception):
            await page.wait_for_function(_READY_JS, timeout=max(cfg.settle_ms * 4, 1000))
        # A route reached in-page is painted after two frames; a first load also runs the app's start-up effects.
        settle = cfg.settle_ms if full_load else cfg.settle_ms // 2
        if settle:
            await page.wait_for_timeout(settle)
        stats = await page.evaluate(self._probe_js)
        if cfg.full_page and stats["page_height"] > cfg.viewport_height:
            # One capture of the whole page; the viewport shot is its top (cheaper than a second capture).
            height = min(stats["page_height"], cfg.full_page_max_height)
            clip = {"x": 0, "y": 0, "width": cfg.viewport_width, "height": height}
            full = await page.screenshot(
                type="png", animations="disabled", full_page=True, clip=clip, timeout=timeout_ms
            )
            shot = crop_top(full, cfg.viewport_width, cfg.viewport_height)
        else:
            shot = full = await page.screenshot(type="png", animations="disabled", timeout=timeout_ms)
        broken = stats.pop("broken_image_urls")
        return PageVisit(
            route=route,
            url=url,
            ok=status is None or status < 400,
            status=status,
            broken_images=len(broken),
            broken_image_urls=broken,
            screenshot=shot,
            full_screenshot=full,
            links=[normalize_route(link) for link in stats.pop("links")],
            **stats,
        )


def crop_top(png: bytes, width: int, height: int) -> bytes:
    """The top `width`×`height` of a PNG, as PNG (fast compression: these are working screenshots)."""
    with Image.open(io.BytesIO(png)) as image:
        out = io.BytesIO()
        image.crop((0, 0, min(width, image.width), min(height, image.height))).save(out, "PNG", compress_level=1)
    return out.getvalue()


def _describe_exception(exc: Any) -> str:
    text = str(exc)
    first = text.splitlines()[0] if text else repr(exc)
    stack = getattr(exc, "stack", None) or ""
    frames = [line.strip() for line in stack.splitlines()[1:3]]
    return first + (f" ({'; '.join(frames)})" if frames else "")
