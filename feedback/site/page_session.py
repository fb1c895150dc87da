"""The renderer's browser context and page: its network guard, its listeners, and what they collected.

One session serves visit after visit (`reset()` between them); it tracks the page's requests in flight (the
network's view, and the page's own count of its fetch and XHR calls and dynamic imports), so that a route is
probed once they are done (capture.py).

A page may reach only its own site's origin (the static server's host and port). Anything else, another
loopback port (a model endpoint on :8000) as much as another host, is aborted and reported as blocked;
WebSockets are all blocked (the static server has none). data:, blob: and about: URLs stay allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
import urllib.parse
from typing import Any

from webgen.feedback.browser import LOCAL_SCHEMES, is_loopback
from webgen.feedback.site.server import CSP_REPORT_PATH

log = logging.getLogger(__name__)
MAX_MESSAGES = 30
_WEBSOCKETS = re.compile(r"^wss?://", re.IGNORECASE)
_CSP_REPORTS = re.compile(re.escape(CSP_REPORT_PATH) + "$")
#: Evaluated with the page probe: what the page shows, as blocks (visible text lines, media and form controls),
#: so the checks can tell what a route shows of its own; and where the page ended up (redirects).
CONTENT_JS = r"""() => {
  const blocks = new Set();
  const text = ((document.body && document.body.innerText) || "");
  for (const line of text.split("\n")) {
    const clean = line.replace(/\s+/g, " ").trim();
    if (clean) blocks.add(clean.slice(0, 200));
    if (blocks.size >= 400) break;
  }
  const media = document.querySelectorAll("img, video, canvas, iframe, input, select, textarea, svg");
  for (const el of Array.from(media).slice(0, 200)) {
    const box = el.getBoundingClientRect();
    const tag = el.tagName.toLowerCase();
    if (box.width < 1 || box.height < 1 || (tag === "svg" && (box.width < 48 || box.height < 48))) continue;
    const what = el.getAttribute("src") || el.getAttribute("poster") || el.getAttribute("name") ||
      el.getAttribute("placeholder") || el.getAttribute("type") || el.getAttribute("aria-label") || "";
    blocks.add(`<${tag} ${what.slice(0, 120)} ${Math.round(box.width)}x${Math.round(box.height)}>`);
  }
  return {
    content_blocks: Array.from(blocks),
    final_route: location.pathname + (location.hash.startsWith("#/") ? location.hash : ""),
  };
}"""
#: Run in every document before its own scripts: counts the page's fetch and XMLHttpRequest calls, and the
#: dynamic imports its build hands over (node/track_imports.mjs), still waiting and those answered, as the page
#: itself sees them (reading a fetch's body counts as a call of its own, and each call is settled once however it
#: ends). The network events reach us later than the probe's answer can, so a page whose data request ended a
#: moment before its snapshot (or whose lazy route's chunk still loads) would otherwise look settled. The wrappers
#: hand the page a promise of their own, so a failed fetch the page ignores is still an unhandled rejection.
REQUESTS_JS = """(() => {
  if (window.__webgenRequests) return;
  const state = { pending: 0, done: 0 };
  Object.defineProperty(window, "__webgenRequests", { value: state });
  const begin = () => {
    state.pending += 1;
    let open = true;
    return () => { if (open) { open = false; state.pending -= 1; state.done += 1; } };
  };
  const wrap = (call) => function (...args) {
    const end = begin();
    try {
      return call.apply(this, args).then((value) => { end(); return value; }, (error) => { end(); throw error; });
    } catch (error) { end(); throw error; }
  };
  // The site's dynamic imports, handed over by its build (node/track_imports.mjs): a lazy route's chunk.
  Object.defineProperty(window, "__webgenTrack", { value: wrap((promise) => promise) });
  if (window.fetch) window.fetch = wrap(window.fetch);
  for (const name of ["json", "text", "arrayBuffer", "blob", "formData"]) {
    if (window.Response && Response.prototype[name]) Response.prototype[name] = wrap(Response.prototype[name]);
  }
  if (!window.XMLHttpRequest) return;
  const calls = new WeakMap();  // an XHR -> how to settle its call in flight
  const { open, send } = XMLHttpRequest.prototype;
  XMLHttpRequest.prototype.open = function (...args) {  // open() drops a call in flight without a loadend
    (calls.get(this) || (() => {}))();
    return open.apply(this, args);
  };
  XMLHttpRequest.prototype.send = function (...args) {
    const xhr = this, end = begin(), before = calls.get(xhr);
    const ended = () => { xhr.removeEventListener("loadend", ended); end(); };
    xhr.addEventListener("loadend", ended);  // before send(): a synchronous request ends inside it
    calls.set(xhr, end);
    try { return send.apply(xhr, args); } catch (error) {  // not sent (one still in flight, or not opened)
      xhr.removeEventListener("loadend", ended);
      if (before) calls.set(xhr, before);
      end();
      throw error;
    }
  };
})();"""
_CLOSED = ("closed", "crashed", "disposed", "detached")
_IDLE_POLL_S = 0.01


def normalize_route(route: str) -> str:
    path, _, frag = route.partition("#")
    path = "/" + path.strip("/") if path.strip("/") else "/"
    return path + ("#" + frag if frag else "")


def origin_of(url: str) -> tuple[str, int | None]:
    """(host, port) of an http(s) URL, the host lower-cased and localhost folded into 127.0.0.1."""
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        port = None
    return ("127.0.0.1" if host == "localhost" else host), port


def same_origin(url: str, base_url: str) -> bool:
    """Whether `url` is served by the site's own server (or is data:/blob:/about:, which never leave the page)."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme in LOCAL_SCHEMES:
        return True
    return scheme in ("http", "https") and origin_of(url) == origin_of(base_url)


def outside_pattern(base_url: str) -> re.Pattern[str]:
    """URLs that are not the site's own (matched in the Playwright driver, so the site's requests never reach us)."""
    host, port = origin_of(base_url)
    hosts = "(?:127\\.0\\.0\\.1|localhost)" if host == "127.0.0.1" else re.escape(host)
    return re.compile(f"^(?!(?:https?://{hosts}:{port}(?:[/?#]|$)|data:|blob:|about:))", re.IGNORECASE)


def is_closed_error(exc: BaseException) -> bool:
    """An error Playwright raises because a page, context or browser went away under a pending call."""
    text = str(exc).lower()
    return type(exc).__name__ == "TargetClosedError" or any(word in text for word in _CLOSED)


#: Resource types a page cannot work without; a local one that fails is an error. Others (a favicon, a web
#: manifest, a font, a fetch or an image the page handles) are warnings; a broken <img> is checked on its own.
NEEDED_RESOURCES = frozenset({"document", "script", "stylesheet"})


class Bucket:
    """Messages collected for the route being visited (each list capped; `dropped` counts the rest)."""

    def __init__(self) -> None:
        self.console: list[str] = []
        self.page_errors: list[str] = []
        self.failed: list[str] = []  # local scripts, stylesheets, documents: what the page needs
        self.minor: list[str] = []  # other local requests (an icon, a manifest, a font, a fetch the page handles)
        self.blocked: list[str] = []
        self.dropped = 0

    def add(self, items: list[str], text: str) -> None:
        text = text[:500]
        if text in items:
            return
        if len(items) < MAX_MESSAGES:
            items.append(text)
        else:
            self.dropped += 1


class Session:
    """A browser context with one page, its request guards and listeners bound to `bucket`."""

    def __init__(self, context: Any, page: Any) -> None:
        self.context = context
        self.page = page
        self.bucket = Bucket()
        self.base_url = ""
        self.hung = False
        self.crashed = False
        self.inflight: set[Any] = set()  # requests of the page that have neither finished nor failed
        self.cdp: Any = None  # a DevTools session on `page`, made on first use (`devtools()`)
        self.visits = 0  # visits this session has served (it is reset and reused between them)
        self._armed: re.Pattern[str] | None = None

    async def devtools(self) -> Any:
        """The DevTools protocol session of the current page (screenshots, storage)."""
        if self.cdp is None:
            self.cdp = await self.context.new_cdp_session(self.page)
        return self.cdp

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no request of the page is in flight, at most `timeout_s`; True when it got there."""
        deadline = time.monotonic() + timeout_s
        while self.inflight and time.monotonic() < deadline:
            await asyncio.sleep(_IDLE_POLL_S)
        return not self.inflight

    @classmethod
    async def create(cls, browser: Any, viewport: dict[str, int]) -> Session:
        context = await browser.new_context(viewport=viewport, service_workers="block")
        page = await context.new_page()
        session = cls(context, page)
        await context.add_init_script(REQUESTS_JS)
        await context.route_web_socket(_WEBSOCKETS, session.ws_guard)
        await context.route(_CSP_REPORTS, session.csp_report)
        session.listen(page)
        return session

    async def arm(self, base_url: str) -> None:
        """Allow the site's own origin only: everything else goes through `guard` (and is aborted)."""
        if self._armed is not None:
            await self.context.unroute(self._armed, self.guard)
        self.base_url, self._armed = base_url, outside_pattern(base_url)
        await self.context.route(self._armed, self.guard)
        self.visits += 1

    async def reset(self) -> None:
        """Ready for another site, as a fresh context would be: the page left (its scripts stop), and the cookies
        and every kind of storage of the site it showed cleared (each site has its own port, so its own origin)."""
        self.bucket = Bucket()
        await self.page.goto("about:blank")
        await self.context.clear_cookies()
        if self.base_url:
            parts = urllib.parse.urlsplit(self.base_url)
            origin = f"{parts.scheme}://{parts.netloc}"
            await (await self.devtools()).send("Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"})
        self.inflight = set()

    async def new_page(self) -> None:
        """A fresh page in the same context, after the last one crashed."""
        with contextlib.suppress(Exception):
            await self.page.close()
        self.page = await self.context.new_page()
        self.crashed = False
        self.inflight, self.cdp = set(), None
        self.listen(self.page)

    async def guard(self, route: Any) -> None:
        url = route.request.url
        try:
            if self.base_url and same_origin(url, self.base_url):
                await route.continue_()
            else:
                self.bucket.add(self.bucket.blocked, url)
                await route.abort("blockedbyclient")
        except Exception as exc:  # the context closed with this request in flight: nothing left to do
            if not is_closed_error(exc):
                log.debug("request guard: %s: %s", url[:200], str(exc).splitlines()[0][:200])

    async def ws_guard(self, ws: Any) -> None:
        self.bucket.add(self.bucket.blocked, ws.url)
        try:
            await ws.close(code=1008, reason="blocked: a page may reach only its own site")
        except Exception as exc:
            log.debug("websocket guard: %s", str(exc).splitlines()[0][:200] if str(exc) else repr(exc))

    async def csp_report(self, route: Any) -> None:
        """A request the site's CSP stopped (only WebSockets: see server.CSP), reported as blocked."""
        try:
            report = json.loads(route.request.post_data or "{}").get("csp-report", {})
            blocked = str(report.get("blocked-uri") or "")
            if blocked.startswith(("ws:", "wss:", "http:", "https:")):
                self.bucket.add(self.bucket.blocked, blocked)
        except (ValueError, AttributeError):
            pass
        with contextlib.suppress(Exception):
            await route.fulfill(status=204, body="")

    def listen(self, page: Any) -> None:
        def on_console(msg: Any) -> None:
            if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
                self.bucket.add(self.bucket.console, msg.text)

        def on_request(request: Any) -> None:
            self.inflight.add(request)

        def on_request_done(request: Any) -> None:
            self.inflight.discard(request)

        def on_request_failed(request: Any) -> None:
            self.inflight.discard(request)
            failure = request.failure or "failed"
            if "BLOCKED_BY_CLIENT" not in failure.upper() and self._own(request.url):
                self._failed(request, f"{request.url} ({failure})")

        def on_response(response: Any) -> None:
            if response.status >= 400 and self._own(response.url):
                self._failed(response.request, f"{response.url} (HTTP {response.status})")

        def on_crash(_page: Any) -> None:
            self.crashed = True

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.bucket.add(self.bucket.page_errors, describe_exception(exc)))
        page.on("request", on_request)
        page.on("requestfinished", on_request_done)
        page.on("requestfailed", on_request_failed)
        page.on("response", on_response)
        page.on("crash", on_crash)

    def _failed(self, request: Any, text: str) -> None:
        """A local request that failed: needed by the page (script, stylesheet, document), or minor."""
        kind = getattr(request, "resource_type", "other")
        self.bucket.add(self.bucket.failed if kind in NEEDED_RESOURCES else self.bucket.minor, text)

    def _own(self, url: str) -> bool:
        return same_origin(url, self.base_url) if self.base_url else is_loopback(url)


def describe_exception(exc: Any) -> str:
    text = str(exc)
    first = text.splitlines()[0] if text else repr(exc)
    stack = getattr(exc, "stack", None) or ""
    frames = [line.strip() for line in stack.splitlines()[1:3]]
    return first + (f" ({'; '.join(frames)})" if frames else "")
