"""Pages a model may write that fight the renderer: hangs, floods, other ports, memory hogs, empty routes.

Real Vite builds, a real static server and real Chromium, with a short page timeout and a small memory cap.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.helpers import descendants, make_site, own_processes
from webgen.core.settings import Settings
from webgen.feedback.site.environment import SiteEnvironment

pytestmark = [pytest.mark.browser, pytest.mark.node]
PAGE_TIMEOUT_S = 3.0


@pytest.fixture(scope="module")
def hostile_env(settings: Settings) -> Iterator[SiteEnvironment]:
    """Its own environment: a 3 s page timeout and a 384 MB page memory cap; nothing of it outlives the module."""
    cfg = settings.updated(site={"page_timeout_s": PAGE_TIMEOUT_S, "page_memory_mb": 384})
    before = descendants(os.getpid())
    with SiteEnvironment(cfg) as env:
        spawned = own_processes(before)
        yield env
    assert spawned and not spawned & descendants(os.getpid())  # build worker, driver and Chromium all gone


def _router_app(routes: str, nav: str = "", prelude: str = "") -> str:
    return (
        'import { Routes, Route, Link } from "react-router-dom";\n'
        + prelude
        + 'export default function App() {\n  return (<div><nav><Link to="/">Home</Link> '
        + nav
        + "</nav>\n<Routes>"
        + routes
        + "</Routes></div>);\n}\n"
    )


HOME = '<Route path="/" element={<main><h1>Home page</h1><p>Welcome to a page with its own words.</p></main>} />'


# -- 1. a route that shows nothing of its own ---------------------------------------------------


def test_layout_only_routes_are_flagged(env: SiteEnvironment, tmp_path: Path) -> None:
    app = _router_app(
        HOME + '<Route path="/menu" element={<section><h2>Menu</h2><p>Bread, buns and cakes daily.</p></section>} />'
        '<Route path="/empty" element={<section></section>} />',
        nav='<Link to="/menu">Menu</Link> <Link to="/about">About us</Link> <Link to="/empty">Empty</Link>',
    )
    obs = env.observe(make_site(env, tmp_path, {"src/App.tsx": app}))
    assert [p.route for p in obs.pages] == ["/", "/menu", "/empty", "/about"]
    assert all(p.ok and not p.error for p in obs.pages)
    failed = {c.severity: c for c in obs.checks if c.name == "empty_routes" and not c.passed}
    # "/about" has no <Route>: a clear error, saying how to fix it; "/empty" has one that renders nothing: a warning.
    assert "/about" in failed["error"].detail and '<Route path="/about"' in failed["error"].detail
    assert "/empty" not in failed["error"].detail and "/menu" not in failed["error"].detail
    assert "/empty" in failed["warning"].detail and "/about" not in failed["warning"].detail
    assert obs.has_error
    assert "empty_routes" in obs.summary()


def test_catch_all_redirect_and_not_found_pages_are_flagged(env: SiteEnvironment, tmp_path: Path) -> None:
    app = (
        'import { Routes, Route, Link, Navigate } from "react-router-dom";\n'
        'export default function App() {\n  return (<div><nav><Link to="/">Home</Link>'
        ' <Link to="/team">Team</Link> <Link to="/gallery">Gallery</Link></nav><Routes>'
        + HOME
        + '<Route path="/team" element={<Navigate to="/" />} />'
        '<Route path="*" element={<p>404: page not found</p>} /></Routes></div>);\n}\n'
    )
    obs = env.observe(make_site(env, tmp_path, {"src/App.tsx": app}))
    pages = {p.route: p for p in obs.pages}
    assert pages["/team"].final_route == "/"
    errors = [c for c in obs.checks if c.name == "empty_routes" and not c.passed and c.severity == "error"]
    assert len(errors) == 1 and "/gallery" in errors[0].detail and "not-found" in errors[0].detail
    assert "/team" not in errors[0].detail  # a route declared as a redirect is deliberate


def test_scaffold_and_example_sites_have_no_empty_routes(env: SiteEnvironment, tmp_path: Path) -> None:
    from tests.helpers import EXAMPLES
    from webgen.cli.render import render

    scaffold = env.observe(env.new_site(tmp_path / "scaffold"))
    bakery = render(EXAMPLES / "bakery.md", env, tmp_path / "out").observation
    for obs in (scaffold, bakery):
        assert not obs.has_error, obs.summary()
        assert all(c.passed for c in obs.checks if c.name == "empty_routes"), obs.summary()
    assert len(bakery.pages) == 3


# -- 2. routes after a hang are accounted for ---------------------------------------------------


@pytest.mark.slow
def test_routes_after_a_hang_are_reported_as_skipped(hostile_env: SiteEnvironment, tmp_path: Path) -> None:
    app = _router_app(
        HOME
        + '<Route path="/slow" element={<Slow />} />'
        + '<Route path="/after" element={<p>After the slow page, with words.</p>} />'
        + '<Route path="/last" element={<p>The last page, with its own words.</p>} />',
        prelude="function Slow() { while (true) {} return <p>never</p>; }\n",
    )
    obs = hostile_env.observe(make_site(hostile_env, tmp_path, {"src/App.tsx": app}))
    assert obs.routes == ["/", "/slow", "/after", "/last"]
    home, slow, after, last = obs.pages
    assert home.ok and not home.error and not home.skipped
    assert "did not settle" in (slow.error or "") and not slow.skipped
    for page in (after, last):
        assert not page.ok and page.skipped
        assert "skipped because route /slow hung" in (page.error or "")
    unreachable = next(c for c in obs.checks if c.name == "unreachable_routes")
    assert not unreachable.passed and "/after" in unreachable.detail
    assert obs.timings["render"] < PAGE_TIMEOUT_S + 15  # the timeout is spent once, not once per route


# -- 3. a busy page is cut on time, quietly ------------------------------------------------------

FLOOD = """
if (typeof window !== "undefined") {
  for (let i = 0; i < 1000; i++) setInterval(() => { fetch("/x" + Math.random()).catch(() => {}); }, 0);
  setInterval(() => {
    const t0 = Date.now();
    while (Date.now() - t0 < 20) {
      const d = document.createElement("div");
      d.textContent = String(Math.random());
      document.body.appendChild(d);
      if (document.body.childElementCount > 500) document.body.firstChild!.remove();
    }
  }, 0);
}
"""


@pytest.mark.slow
def test_busy_page_is_cut_within_the_timeout_without_a_log_flood(
    hostile_env: SiteEnvironment, tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture
) -> None:
    app = _router_app(HOME + '<Route path="/more" element={<p>More words on this page.</p>} />', prelude=FLOOD)
    site = make_site(hostile_env, tmp_path, {"src/App.tsx": app})
    caplog.set_level(logging.INFO)
    hostile_env.build(site)  # built first, so the timing below is the render alone
    obs = hostile_env.observe(site)
    assert obs.timings["render"] < PAGE_TIMEOUT_S + 10, obs.timings
    assert [p.route for p in obs.pages] == ["/", "/more"] and obs.pages[1].skipped
    assert all(len(p.failed_requests) <= 30 and len(p.console_errors) <= 30 for p in obs.pages)
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING]
    messages = [r.getMessage()[:200] for r in noisy]
    # one line for the cut page; on a loaded machine its context may also take too long to close, and the
    # browser is restarted (one more line): never a flood
    assert {r.name for r in noisy} == {"webgen.feedback.site.renderer"} and len(noisy) <= 2, messages
    assert "route / cut after 3s" in messages[0]
    assert all("restarting the browser" in m for m in messages[1:]), messages
    assert not any(r.exc_info for r in caplog.records)
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and len((out + err).splitlines()) < 50
    # and the renderer is fine afterwards
    calm = make_site(hostile_env, tmp_path / "calm", {"src/App.tsx": _router_app(HOME)})
    assert hostile_env.observe(calm).pages[0].ok


# -- 4. a page reaches only its own origin --------------------------------------------------------


@pytest.fixture
def other_server() -> Iterator[tuple[str, list[str]]]:
    """A second loopback HTTP server (as a model endpoint on :8000 would be) that counts the requests it gets."""
    hits: list[str] = []

    class Counting(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        do_POST = do_GET

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def test_other_loopback_ports_are_blocked_and_reported(
    env: SiteEnvironment, tmp_path: Path, other_server: tuple[str, list[str]]
) -> None:
    other, hits = other_server
    app = f"""const HTTP = "http://{other}";
const WS = "ws://{other}";
export default function App() {{
  if (typeof window !== "undefined" && !(window as any).started) {{
    (window as any).started = true;
    fetch(HTTP + "/page-fetch").catch(() => {{}});
    fetch(HTTP.replace("127.0.0.1", "localhost") + "/page-localhost").catch(() => {{}});
    try {{ new WebSocket(WS + "/page-ws"); }} catch (e) {{}}
    navigator.sendBeacon(HTTP + "/beacon", "x");
    const src = `fetch("${{HTTP}}/worker-fetch").catch(() => {{}}); try {{ new WebSocket("${{WS}}/worker-ws"); }} catch (e) {{}}`;
    new Worker(URL.createObjectURL(new Blob([src], {{ type: "text/javascript" }})));
  }}
  return <main><h1>A page that calls home on another port</h1><img src={{HTTP + "/img.png"}} alt="x" />
    <img src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7" alt="inline" /></main>;
}}
"""
    obs = env.observe(make_site(env, tmp_path, {"src/App.tsx": app}))
    assert hits == []
    page = obs.pages[0]
    assert page.ok and not page.failed_requests
    blocked = set(page.blocked_requests)
    expected = {"/page-fetch", "/page-ws", "/beacon", "/worker-fetch", "/img.png"}
    assert {f"http://{other}{p}" for p in expected - {"/page-ws"}} | {f"ws://{other}/page-ws"} <= blocked
    assert any(u.endswith("/page-localhost") for u in blocked)
    assert not any(u.startswith("data:") for u in blocked)
    warning = next(c for c in obs.checks if c.name == "broken_assets" and c.severity == "warning")
    assert "other ports" in warning.detail
    assert not [c for c in obs.checks if c.name == "broken_assets" and c.severity == "error" and not c.passed]


# -- 5. a page that eats memory crashes, and is reported ----------------------------------------

HOG = """
function Hog() {
  const keep: number[][] = [];
  while (true) keep.push(new Array(1_000_000).fill(Math.random()));
  return <p>{keep.length}</p>;
}
function Buffers() {
  const keep: Uint8Array[] = [];
  while (true) { const a = new Uint8Array(50_000_000); a.fill(1); keep.push(a); }
  return <p>{keep.length}</p>;
}
"""


@pytest.mark.slow
def test_memory_hog_crashes_as_reported_and_the_renderer_carries_on(
    hostile_env: SiteEnvironment, tmp_path: Path
) -> None:
    app = _router_app(
        HOME
        + '<Route path="/hog" element={<Hog />} />'
        + '<Route path="/after" element={<p>After the hog, a page with words.</p>} />'
        + '<Route path="/buffers" element={<Buffers />} />',
        prelude=HOG,
    )
    obs = hostile_env.observe(make_site(hostile_env, tmp_path, {"src/App.tsx": app}))
    pages = {p.route: p for p in obs.pages}
    assert list(pages) == ["/", "/hog", "/after", "/buffers"]
    for route in ("/hog", "/buffers"):  # a JavaScript heap over its cap, and array buffers past the process cap
        page = pages[route]
        assert not page.ok and page.crashed and "crashed" in (page.error or "") and "memory" in (page.error or "")
        assert page.load_seconds < PAGE_TIMEOUT_S + 5
    assert pages["/after"].ok and not pages["/after"].error  # a fresh page after the crash
    assert obs.has_error and "crashed" in obs.summary()
    calm = make_site(hostile_env, tmp_path / "calm", {"src/App.tsx": _router_app(HOME)})
    again = hostile_env.observe(calm)
    assert again.pages[0].ok and not again.has_error, again.summary()
