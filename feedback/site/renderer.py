"""Playwright + Debian Chromium: visit a served site's routes and report what a person would see.

One browser per Renderer (per worker process), reused across visits; one context and page too, reset between
visits (cookies and the site's storage cleared; every site has its own origin), and replaced after a crash or hang.
Playwright's async API runs on a private event-loop thread (``feedback/browser.py``) so that every browser
call has a hard timeout (a page stuck in an infinite loop cannot hang the caller); callers use the sync `visit()`.
Requests to anything but the site's own origin are aborted and reported as blocked (page_session.py);
a page over its memory cap is stopped and reported as crashed (page_limits.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from importlib import resources
from pathlib import Path
from typing import Any

from webgen.core.settings import SiteSettings
from webgen.core.types import PageVisit
from webgen.feedback.browser import CHROMIUM, LoopThread, chromium_args, launch
from webgen.feedback.site.capture import ready_probe_js, screenshots, settle_and_probe
from webgen.feedback.site.page_limits import MemoryWatch, find_process, kill
from webgen.feedback.site.page_session import CONTENT_JS, Bucket, Session, is_closed_error, normalize_route

log = logging.getLogger(__name__)
__all__ = ["Renderer", "normalize_route"]
_CLOSE_S = 5.0  # a context that takes longer to close than this is given up with its browser
_MAX_CRASHES = 2  # crashed pages in one visit before the remaining routes are skipped
_REUSE_VISITS = 200  # visits one context serves before a fresh one (whatever a page leaves behind is bounded)


class Renderer:
    """Visit routes of a served site. Thread-safe for callers: visits are serialised on the browser thread.

    After each visit the page is reset (or a fresh context made) ahead of time, off the caller's critical path
    (while the next build runs), so a visit does not wait for it. Routes are visited in one page (the first
    loaded, the others reached in-page) and probed once ready, without fixed pauses (capture.py).
    Each route gets at most `page_timeout_s`; a page that hangs is cut (its renderer killed) and the routes
    after it are reported as skipped. A page above its memory cap is stopped and reported as crashed.
    """

    def __init__(self, config: SiteSettings | None = None, chromium_path: Path = CHROMIUM) -> None:
        self.config = config or SiteSettings()
        self.chromium_path = chromium_path
        self._loop = LoopThread("webgen-renderer", on_error=self._on_loop_error)
        self._playwright: Any = None
        self._browser: Any = None
        self._browser_pid: int | None = None
        self._marker = ""
        self._spare: asyncio.Task | None = None
        self._visit_lock = asyncio.Lock()
        self._watch = MemoryWatch(self.config.page_memory_mb * 1.5)
        self._quiet_errors = 0
        probe = (resources.files("webgen.feedback.site") / "page_probe.js").read_text().strip()
        self._probe_js = ready_probe_js(f"() => Object.assign(({probe})(), ({CONTENT_JS})())")

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Renderer:
        if self._loop.start():
            self._visit_lock = asyncio.Lock()  # bound to this loop on first use
        self._loop.call(self._ensure_browser(), timeout=60)
        self._watch.start()
        return self

    def close(self) -> None:
        if not self._loop.running:
            return
        self._watch.stop()
        with contextlib.suppress(Exception):
            self._loop.call(self._shutdown(), timeout=15)
        self._loop.stop()

    def __enter__(self) -> Renderer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Errors of Playwright tasks left behind by a closed page: counted, logged once at most, no tracebacks."""
        exc = context.get("exception")
        self._quiet_errors += 1
        if exc is not None and is_closed_error(exc):
            log.debug("ignored after a page closed: %s", str(exc).splitlines()[0][:200] if str(exc) else repr(exc))
        elif self._quiet_errors <= 3:
            log.warning("browser task failed: %s", str(exc or context.get("message", ""))[:300])

    async def _ensure_browser(self) -> None:
        if self._browser is not None and self._browser.is_connected():
            return
        from playwright.async_api import async_playwright  # heavy import, only when a browser is needed

        if self._playwright is None:
            self._playwright = await async_playwright().start()
        self._marker = f"--webgen-renderer={uuid.uuid4().hex}"  # finds this browser's process in /proc
        args = chromium_args(heap_mb=self.config.page_memory_mb, extra=[self._marker])
        self._browser = await launch(self._playwright, self.chromium_path, args)
        self._browser_pid = self._watch.browser_pid = find_process(self._marker)

    async def _shutdown(self) -> None:
        if self._spare is not None:
            self._spare.cancel()
            self._spare = None
        await self._drop_browser()
        if self._playwright is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._playwright.stop(), timeout=_CLOSE_S)
            self._playwright = None

    async def _drop_browser(self) -> None:
        """Close the browser (killed if it does not close in time); the next session launches a new one."""
        if self._browser is not None:
            try:
                await asyncio.wait_for(self._browser.close(), timeout=_CLOSE_S)
            except Exception:
                kill([self._browser_pid] if self._browser_pid else [])
            self._browser = self._browser_pid = self._watch.browser_pid = None

    # -- visiting ----------------------------------------------------------------------------
    def visit(self, base_url: str, routes: list[str], *, discover: bool = True) -> list[PageVisit]:
        """Visit `routes` (and, if `discover`, same-origin links found on the way), up to `max_routes`.

        Every route asked for appears in the result: those left after a page hung or crashed as skipped.
        """
        budget = self.config.page_timeout_s * (self.config.max_routes + 2) + 30
        return self._loop.call(self._visit(base_url, routes, discover), timeout=budget)

    async def _new_session(self) -> Session:
        await self._ensure_browser()
        cfg = self.config
        return await Session.create(self._browser, {"width": cfg.viewport_width, "height": cfg.viewport_height})

    async def _take_session(self) -> Session:
        spare, self._spare = self._spare, None
        if spare is not None:
            with contextlib.suppress(Exception):
                session = await spare
                if session.context.browser and session.context.browser.is_connected():
                    return session
        return await self._new_session()

    async def _visit(self, base_url: str, routes: list[str], discover: bool) -> list[PageVisit]:
        async with self._visit_lock:  # one visit at a time: a hung page's teardown ends every renderer
            return await self._visit_routes(base_url, routes, discover)

    async def _visit_routes(self, base_url: str, routes: list[str], discover: bool) -> list[PageVisit]:
        cfg = self.config
        session = await self._take_session()
        queue = [normalize_route(r) for r in (routes or ["/"])]
        seen: set[str] = set()
        visits: list[PageVisit] = []
        full_load, crashes, stopped_by = True, 0, ""
        self._watch.watch(True)
        try:
            await session.arm(base_url)
            while queue and len(visits) < cfg.max_routes:
                route = queue.pop(0)
                if route in seen:
                    continue
                seen.add(route)
                if stopped_by:
                    visits.append(_skipped(base_url, route, stopped_by))
                    continue
                visit = await self._one(session, base_url, route, full_load)
                visits.append(visit)
                if session.hung:  # do not spend the timeout again on every route
                    stopped_by = f"{route} hung"
                elif visit.crashed:
                    crashes += 1
                    try:
                        if crashes >= _MAX_CRASHES:
                            raise RuntimeError("too many crashes")
                        await session.new_page()
                    except Exception:
                        stopped_by = f"{route} crashed"
                full_load = bool(visit.page_errors or not visit.ok)
                if discover:
                    queue += [link for link in visit.links if link not in seen and link not in queue]
        finally:
            self._watch.watch(False)
            await self._teardown(session, crashes > 0)
        return visits

    async def _teardown(self, session: Session, crashed: bool) -> None:
        """Make the next visit's session off the caller's path: this one reset, or a new one after a crash.

        A page that hung is cut here, on the caller's path (its renderer killed, its context closed).
        """
        session.bucket = Bucket()  # what the page still does goes nowhere: the visits are returned
        if not session.hung:
            self._spare = asyncio.ensure_future(self._recycle(session, reuse=not crashed))
            return
        self._watch.kill_renderers()  # a busy page closes slowly; without its renderer it closes at once
        await self._close(session)
        self._spare = asyncio.ensure_future(self._new_session())

    async def _recycle(self, session: Session, *, reuse: bool) -> Session:
        """The same context and page reset for another site (a new context costs a renderer process), or a new one."""
        if reuse and session.visits < _REUSE_VISITS:
            try:
                await asyncio.wait_for(session.reset(), timeout=_CLOSE_S)
                return session
            except Exception as exc:
                log.debug("could not reset the page (%s): a new context", str(exc).splitlines()[0][:200])
        await self._close(session)
        return await self._new_session()

    async def _close(self, session: Session) -> None:
        try:
            await asyncio.wait_for(session.context.close(), timeout=_CLOSE_S)
        except Exception:  # a context that cannot close: start over with a new browser
            log.warning("browser context did not close; restarting the browser")
            await self._drop_browser()

    async def _one(self, session: Session, base_url: str, route: str, full_load: bool) -> PageVisit:
        cfg = self.config
        url = base_url.rstrip("/") + route
        bucket = session.bucket = Bucket()
        started = time.monotonic()
        visit = PageVisit(route=route, url=url, ok=False)
        try:
            visit = await asyncio.wait_for(self._load_and_probe(session, url, route, full_load), cfg.page_timeout_s)
        except TimeoutError:
            if not session.crashed:
                session.hung = True
                visit.error = f"the page did not settle within {cfg.page_timeout_s:g}s (a script that never yields?)"
                log.warning("route %s cut after %gs: the page did not settle", route, cfg.page_timeout_s)
        except Exception as exc:  # navigation errors are observations about the site
            session.crashed = session.crashed or "crash" in str(exc).lower()
            if not session.crashed:
                visit.error = f"could not load the page: {str(exc).splitlines()[0][:300] if str(exc) else repr(exc)}"
        if session.crashed:
            visit = PageVisit(route=route, url=url, ok=False, crashed=True, error=self._crash_reason(started))
            log.warning("route %s: %s", route, visit.error)
        visit.load_seconds = time.monotonic() - started
        visit.console_errors, visit.page_errors = list(bucket.console), list(bucket.page_errors)
        visit.failed_requests, visit.blocked_requests = list(bucket.failed), list(bucket.blocked)
        visit.minor_failed_requests = list(bucket.minor)
        return visit

    async def _past_loader(self, session: Session, stats: dict[str, Any]) -> dict[str, Any]:
        """A route that shows almost nothing but a loader (a spinner, "Loading…", a splash: a timed intro, nested
        lazy routes) is probed again until it shows content, for at most `intro_wait_s`. A route that shows
        nothing at all, or that crashed, is not waited for."""
        loader = stats.get("endless", 0) > 0 or stats["text_length"] > 0 or stats["media_elements"] > 0
        deadline = time.monotonic() + self.config.intro_wait_s
        while loader and _sparse(stats) and not session.bucket.page_errors and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            stats = await settle_and_probe(session, self.config, self._probe_js, None)
        return stats

    def _crash_reason(self, since: float) -> str:
        cap = self.config.page_memory_mb
        used = self._watch.killed_since(since)
        if used is not None:
            return f"the page crashed: it ran out of memory (it used {used:.0f} MB; a page may use about {cap} MB)"
        return f"the page crashed, most likely out of memory (a page may use about {cap} MB of JavaScript heap)"

    async def _load_and_probe(self, session: Session, url: str, route: str, full_load: bool) -> PageVisit:
        cfg = self.config
        status = None
        if full_load:
            response = await session.page.goto(url, wait_until="load", timeout=cfg.page_timeout_s * 1000)
            status = response.status if response else None
        # Probed when the app has painted two frames and its requests are done (capture.py), not after a fixed pause.
        stats = await settle_and_probe(session, cfg, self._probe_js, None if full_load else route)
        stats = await self._past_loader(session, stats)
        shot, full = await screenshots(session, cfg, stats["page_height"])
        broken = stats.pop("broken_image_urls")
        stats.pop("endless", None)
        final = normalize_route(stats.pop("final_route") or route)
        return PageVisit(
            final_route=final if final != route else None,
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


def _sparse(stats: dict[str, Any]) -> bool:
    """Almost nothing to read or use yet: a loader, or a blank page."""
    return stats["text_length"] < 20 and not stats["interactive_elements"] and not stats["links"]


def _skipped(base_url: str, route: str, cause: str) -> PageVisit:
    return PageVisit(
        route=route,
        url=base_url.rstrip("/") + route,
        ok=False,
        skipped=True,
        error=f"not visited: skipped because route {cause} (fix that route first)",
    )
