"""The site's own toolchain, for `bench_real_sites.py`: npm install, vite build, vite preview, Chromium.

A site is copied to a work folder (without node_modules, dist, .git), installed with its own package.json
(`npm install --ignore-scripts --no-audit --no-fund`, a shared npm cache), built with its own
`node_modules/.bin/vite build`, served with its own `vite preview` (which honours the config's `base` and
`build.outDir`, and falls back to index.html for client routes), and loaded in headless Chromium: the home page,
then up to `max_routes` same-origin routes that it links to. Each page waits for `load`, then for network
idle (at most `idle_cap_s`), then `settle_s` more so that timed intro loaders finish.

The verdict is "ok" when the build exits 0 and every visited page loaded with no uncaught page error and shows
something (visible text, or an img/svg/canvas); otherwise "error" with the first reason.
"""

from __future__ import annotations

import logging
import posixpath
import queue
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from webgen.feedback.browser import CHROMIUM, chromium_args, require_chromium
from webgen.feedback.site import proc
from webgen.feedback.site.scaffold import npm_env

log = logging.getLogger("bench_real_sites.native")

_COPY_IGNORE = shutil.ignore_patterns("node_modules", "dist", ".git")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_PREVIEW_URL = re.compile(r"http://127\.0\.0\.1:\d+/\S*")
_STACK_FRAME = re.compile(r"^\s+at \S")
_TAIL_LINES = 8
#: what a page shows: its visible text length, its media elements, and where its links go
_PAGE_STATE_JS = """() => ({
  text: (document.body ? document.body.innerText : '').trim().length,
  media: document.querySelectorAll('img, svg, canvas').length,
  hrefs: Array.from(document.querySelectorAll('a[href]'), a => a.href),
})"""


@dataclass(frozen=True)
class NativeOptions:
    npm: str = "npm"
    npm_cache: Path = Path("~/.npm").expanduser()
    install_timeout_s: float = 600.0
    build_timeout_s: float = 300.0
    preview_timeout_s: float = 60.0
    page_timeout_s: float = 30.0
    idle_cap_s: float = 5.0
    settle_s: float = 2.0
    max_routes: int = 5


@dataclass
class PageResult:
    url: str
    status: int | None = None
    text: int = 0
    media: int = 0
    page_errors: list[str] = field(default_factory=list)
    error: str | None = None
    hrefs: list[str] = field(default_factory=list, repr=False)

    @property
    def problem(self) -> str | None:
        """Why this page counts as broken, or None."""
        if self.error:
            return f"{self.url}: {self.error}"
        if self.status is not None and self.status >= 400:
            return f"{self.url}: HTTP {self.status}"
        if self.page_errors:
            return f"{self.url}: uncaught page error: {self.page_errors[0]}"
        if self.text == 0 and self.media == 0:
            return f"{self.url}: nothing visible (no text, img, svg or canvas)"
        return None


@dataclass
class NativeResult:
    verdict: str = "error"
    seconds: float = 0.0
    install_s: float | None = None
    build_s: float | None = None
    load_s: float | None = None
    settle_s: float = 0.0
    reason: str | None = None
    pages: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("seconds", "install_s", "build_s", "load_s", "settle_s"):
            if data[key] is not None:
                data[key] = round(data[key], 2)
        return data


# -- pure helpers ----------------------------------------------------------------------------------------------
def route_links(hrefs: list[str], home_url: str, limit: int) -> list[str]:
    """Up to `limit` distinct same-origin page URLs under the home page's path, other than the home page itself.

    Fragments and queries are dropped; links to files (a path whose last part has an extension other than
    .html) are not pages.
    """
    home = urllib.parse.urlsplit(home_url)
    base = home.path if home.path.endswith("/") else posixpath.dirname(home.path) + "/"
    seen = {home.path.rstrip("/") or "/"}
    found = []
    for href in hrefs:
        parts = urllib.parse.urlsplit(href)
        if (parts.scheme, parts.netloc) != (home.scheme, home.netloc):
            continue
        path = parts.path or "/"
        ext = posixpath.splitext(posixpath.basename(path))[1]
        key = path.rstrip("/") or "/"
        if key in seen or not (path + "/").startswith(base) or (ext and ext != ".html"):
            continue
        seen.add(key)
        found.append(urllib.parse.urlunsplit((home.scheme, home.netloc, path, "", "")))
        if len(found) >= limit:
            break
    return found


def preview_url(line: str) -> str | None:
    """The loopback URL that `vite preview` prints ("Local: http://127.0.0.1:PORT/BASE/"), colours removed."""
    match = _PREVIEW_URL.search(_ANSI.sub("", line))
    return match.group(0) if match else None


def output_tail(output: str, lines: int = _TAIL_LINES) -> str:
    """The last non-empty lines of a command's output, colours and stack frames ("    at f (file:1:2)") removed."""
    kept = [line for line in _ANSI.sub("", output).splitlines() if line.strip() and not _STACK_FRAME.match(line)]
    return "\n".join(kept[-lines:])


# -- the toolchain ---------------------------------------------------------------------------------------------
def _env(options: NativeOptions) -> dict[str, str]:
    env = npm_env()
    env.update({"npm_config_cache": str(options.npm_cache), "BROWSER": "none"})
    return env


def _install(site: Path, options: NativeOptions) -> proc.ProcResult:
    argv = [options.npm, "install", "--ignore-scripts", "--no-audit", "--no-fund"]
    return proc.run(argv, cwd=site, timeout_s=options.install_timeout_s, env=_env(options))


def _build(site: Path, options: NativeOptions) -> proc.ProcResult:
    vite = site / "node_modules" / ".bin" / "vite"
    return proc.run([str(vite), "build"], cwd=site, timeout_s=options.build_timeout_s, env=_env(options))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Preview:
    """`vite preview` of a built site in its own process group; `url` is the home page, base included."""

    def __init__(self, site: Path, options: NativeOptions) -> None:
        vite = site / "node_modules" / ".bin" / "vite"
        argv = [str(vite), "preview", "--host", "127.0.0.1", "--port", str(_free_port()), "--strictPort"]
        self.output: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._proc = subprocess.Popen(
            argv,
            cwd=site,
            env=_env(options),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self._wait_for_url(options.preview_timeout_s)

    def _read(self) -> None:
        for line in self._proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _wait_for_url(self, timeout_s: float) -> str | None:
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break  # it exited
            self.output.append(line)
            if url := preview_url(line):
                return url
        return None

    def stop(self) -> None:
        proc.kill_group(self._proc)


class NativeBrowser:
    """One headless Chromium (Playwright's sync API, Debian's binary) for all the native page loads of a run."""

    def __init__(self, options: NativeOptions, chromium: Path = CHROMIUM) -> None:
        self.options = options
        self.chromium = require_chromium(chromium)
        self._playwright: Any = None
        self._browser: Any = None

    def __enter__(self) -> NativeBrowser:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(
            executable_path=str(self.chromium), headless=True, args=chromium_args()
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._browser is not None:
            self._browser.close()
        if self._playwright is not None:
            self._playwright.stop()

    def load_site(self, home_url: str) -> list[PageResult]:
        """The home page, then the routes it links to (each in a fresh page of one context)."""
        context = self._browser.new_context(viewport={"width": 1024, "height": 768})
        try:
            pages = [self._visit(context, home_url)]
            for url in route_links(pages[0].hrefs, home_url, self.options.max_routes):
                pages.append(self._visit(context, url))
            return pages
        finally:
            context.close()

    def _visit(self, context: Any, url: str) -> PageResult:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        result = PageResult(url=url)
        page = context.new_page()
        page.on("pageerror", lambda exc: result.page_errors.append(str(exc)[:300]))
        try:
            response = page.goto(url, wait_until="load", timeout=self.options.page_timeout_s * 1000)
            result.status = response.status if response is not None else None
            try:
                page.wait_for_load_state("networkidle", timeout=self.options.idle_cap_s * 1000)
            except PlaywrightTimeout:
                log.debug("%s: network still busy after %.0fs", url, self.options.idle_cap_s)
            page.wait_for_timeout(self.options.settle_s * 1000)
            state = page.evaluate(_PAGE_STATE_JS)
            result.text, result.media, result.hrefs = state["text"], state["media"], state["hrefs"]
        except PlaywrightError as exc:
            result.error = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        finally:
            page.close()
        return result


def run_native(site: Path, work: Path, browser: NativeBrowser) -> NativeResult:
    """Install, build, preview and load one site in `work` (a new folder); never raises for the site's faults."""
    options = browser.options
    result = NativeResult()
    copy = work / site.name
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(site, copy, ignore=_COPY_IGNORE, symlinks=True)
    started = time.monotonic()
    try:
        _toolchain(copy, options, browser, result)
    finally:
        result.seconds = time.monotonic() - started
    return result


def _toolchain(site: Path, options: NativeOptions, browser: NativeBrowser, result: NativeResult) -> None:
    log.info("%s: npm install", site.name)
    install = _install(site, options)
    result.install_s = install.seconds
    if not install.ok:
        result.reason = _failure("npm install", install)
        return
    if not (site / "node_modules" / ".bin" / "vite").exists():
        result.reason = "vite is not among the installed packages"
        return
    log.info("%s: vite build (install %.1fs)", site.name, install.seconds)
    build = _build(site, options)
    result.build_s = build.seconds
    if not build.ok:
        result.reason = _failure("vite build", build)
        return
    log.info("%s: vite preview + Chromium (build %.1fs)", site.name, build.seconds)
    mark = time.monotonic()
    try:
        _load(site, options, browser, result)
    finally:
        result.load_s = time.monotonic() - mark


def _load(site: Path, options: NativeOptions, browser: NativeBrowser, result: NativeResult) -> None:
    preview = Preview(site, options)
    try:
        if preview.url is None:
            result.reason = "vite preview printed no URL: " + output_tail("".join(preview.output))
            return
        pages = browser.load_site(preview.url)
    finally:
        preview.stop()
    result.pages = [urllib.parse.urlsplit(p.url).path for p in pages]
    result.settle_s = options.settle_s * len(pages)
    problems = [p.problem for p in pages if p.problem]
    result.reason = "; ".join(problems)[:1500] if problems else None
    result.verdict = "error" if problems else "ok"


def _failure(what: str, done: proc.ProcResult) -> str:
    if done.timed_out:
        return f"{what} did not finish within its timeout ({done.seconds:.0f}s)"
    return f"{what} exited {done.returncode}: {output_tail(done.output)}"
