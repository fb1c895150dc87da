"""The cheaper step keeps every signal: in-page visits with event-driven waits report what one full load per route
reports, a step that changed nothing reuses its build and visits (and says so), screenshots are still complete.

Real Vite builds, a real static server and real Chromium.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import make_site
from webgen.core.types import PageVisit
from webgen.feedback.site.checks import is_blank, run_checks
from webgen.feedback.site.environment import REUSED_BUILD, REUSED_PAGES, SiteEnvironment
from webgen.feedback.site.fingerprint import output_digest, source_digest
from webgen.feedback.site.renderer import Renderer
from webgen.feedback.site.scaffold import workspace_for
from webgen.feedback.site.workspace import FileWrite

pytestmark = [pytest.mark.browser, pytest.mark.node]

# Each route's trouble lives in its own component, so a route visited in-page meets it as a full load does.
APP = """import { useEffect, useState } from "react";
import { Routes, Route, Link } from "react-router-dom";

function Home() {
  useEffect(() => { console.error("home effect failed"); }, []);
  return <main><h1>Home of the bakery</h1><p>Fresh bread every morning, baked in town.</p></main>;
}
function Menu() {
  const [note, setNote] = useState("loading the menu");
  useEffect(() => {
    fetch("/api/menu.json").then((r) => {
      if (!r.ok) console.error("menu request answered " + r.status);
      setNote("menu request answered " + r.status);
    });
  }, []);
  return <section><h2>Our menu</h2><p>Sourdough, rye and seeded loaves.</p><p>{note}</p></section>;
}
function Blank() { return <div />; }
function Broken() {
  const [boom, setBoom] = useState(false);
  useEffect(() => { setBoom(true); }, []);
  if (boom) throw new Error("the broken page threw");
  return <p>about to break</p>;
}
function Layout({ children }: { children: React.ReactNode }) {
  return (<div><nav><Link to="/">Home</Link> <Link to="/menu">Menu</Link> <Link to="/blank">Blank</Link>
    <Link to="/broken">Broken</Link></nav>{children}</div>);
}
export default function App() {
  return (<Routes><Route path="/" element={<Layout><Home /></Layout>} />
    <Route path="/menu" element={<Layout><Menu /></Layout>} />
    <Route path="/blank" element={<div />} /><Route path="/broken" element={<Layout><Broken /></Layout>} /></Routes>);
}
"""
ROUTES = ["/", "/menu", "/blank", "/broken"]


def _signals(page: PageVisit) -> dict:
    return {
        "ok": page.ok,
        "console": sorted(e.split(" (")[0] for e in page.console_errors),
        "page_errors": [e.split(" (")[0] for e in page.page_errors],
        "failed": sorted(f.removeprefix(page.url.removesuffix(page.route)) for f in page.failed_requests),
        "minor": sorted(f.removeprefix(page.url.removesuffix(page.route)) for f in page.minor_failed_requests),
        "blocked": page.blocked_requests,
        "blank": is_blank(page),
    }


def _failed_checks(checks: list) -> set[tuple[str, str]]:
    return {(c.name, c.severity) for c in checks if not c.passed}


@pytest.fixture(scope="module")
def trouble_site(env: SiteEnvironment, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_site(env, tmp_path_factory.mktemp("trouble"), {"src/App.tsx": APP})


@pytest.mark.slow
def test_in_page_visits_report_what_a_full_load_per_route_reports(env: SiteEnvironment, trouble_site: Path) -> None:
    obs = env.observe(trouble_site)
    assert [p.route for p in obs.pages] == ROUTES
    with env.serve(trouble_site) as server:
        serial = [env.renderer.visit(server.url, [route], discover=False)[0] for route in ROUTES]
    assert [_signals(p) for p in obs.pages] == [_signals(p) for p in serial]
    home, menu, blank, broken = obs.pages
    assert home.console_errors and "home effect failed" in home.console_errors[0]
    assert any("menu request answered 404" in e for e in menu.console_errors)  # logged after its request came back
    # a fetch the page handles is not a file it needs: a warning, not an error
    assert any("/api/menu.json (HTTP 404)" in f for f in menu.minor_failed_requests) and not menu.failed_requests
    assert is_blank(blank) and broken.page_errors
    failed = _failed_checks(obs.checks)
    assert {("runtime_errors", "error"), ("unreachable_routes", "error"), ("broken_assets", "warning")} <= failed
    assert ("broken_assets", "error") not in failed
    assert failed == _failed_checks(run_checks(obs.build, True, serial))


def test_a_step_that_changed_nothing_is_reused_and_says_so(env: SiteEnvironment, trouble_site: Path) -> None:
    first = env.observe(trouble_site)
    workspace_for(trouble_site).apply([FileWrite(path="src/App.tsx", content=APP)])  # the same bytes again
    again = env.observe(trouble_site)
    assert REUSED_BUILD in again.build.notes and REUSED_PAGES in again.build.notes
    assert REUSED_PAGES in again.summary()
    assert [_signals(p) for p in again.pages] == [_signals(p) for p in first.pages]
    assert again.checks == first.checks
    assert [p.screenshot for p in again.pages] == [p.screenshot for p in first.pages]
    assert all(p.screenshot for p in again.pages)
    again.pages[0].screenshot = None  # the caller's copy: the next reuse still has its bytes
    assert env.observe(trouble_site).pages[0].screenshot == first.pages[0].screenshot

    changed = APP.replace("Fresh bread every morning", "Warm bread every single morning")
    workspace_for(trouble_site).apply([FileWrite(path="src/App.tsx", content=changed)])
    fresh = env.observe(trouble_site)
    assert REUSED_BUILD not in fresh.build.notes and REUSED_PAGES not in fresh.build.notes
    assert fresh.pages[0].text_length > first.pages[0].text_length


def test_reuse_follows_the_built_output_and_can_be_turned_off(env: SiteEnvironment, tmp_path: Path) -> None:
    app = "export default function App() { return <main><h1>Plain page with its words</h1></main>; }\n"
    site = make_site(env, tmp_path, {"src/App.tsx": app})
    env.observe(site)
    # A comment changes the sources, not the bundle: built again, but the visits are reused.
    workspace_for(site).apply([FileWrite(path="src/App.tsx", content="// a note to self\n" + app)])
    obs = env.observe(site)
    assert REUSED_BUILD not in obs.build.notes and REUSED_PAGES in obs.build.notes
    # An output changed behind the environment's back is built again (which puts back the output rendered last).
    (site / "dist" / "index.html").write_text((site / "dist" / "index.html").read_text() + "<!-- touched -->")
    obs = env.observe(site)
    assert REUSED_BUILD not in obs.build.notes and REUSED_PAGES in obs.build.notes
    assert "touched" not in (site / "dist" / "index.html").read_text()
    env.reuse = False
    try:
        assert env.observe(site).build.notes == env.observe(site).build.notes == []
    finally:
        env.reuse = True


@pytest.mark.slow
def test_a_page_that_hangs_is_never_reused(env: SiteEnvironment, tmp_path: Path) -> None:
    app = "export default function App() { while (true) {} return <p>never</p>; }\n"
    site = make_site(env, tmp_path, {"src/App.tsx": app})
    shared, env.renderer = env.renderer, Renderer(env.settings.site.model_copy(update={"page_timeout_s": 1.0}))
    try:
        with env.renderer:
            env.observe(site)
            again = env.observe(site)
    finally:
        env.renderer = shared
    assert REUSED_BUILD in again.build.notes and REUSED_PAGES not in again.build.notes
    assert "did not settle" in (again.pages[0].error or "")


ANIMATED = """export default function App() {
  return (<main>
    <style>{`@keyframes show { from { opacity: 0 } to { opacity: 1 } }
      .hero { animation: show 30s forwards; background: rgb(200, 0, 0); height: 700px; }
      .spin { animation: show 1s infinite; }`}</style>
    <div className="hero"><h1>Fading in slowly</h1></div><p className="spin">Loading more</p>
    <div style={{ height: 1400 }}>A tall page with enough words to count as content.</div></main>);
}
"""


def test_screenshots_show_finished_animations_and_the_whole_page(env: SiteEnvironment, tmp_path: Path) -> None:
    page = env.observe(make_site(env, tmp_path, {"src/App.tsx": ANIMATED})).pages[0]
    assert page.screenshot and page.full_screenshot and page.page_height > 2000
    with Image.open(io.BytesIO(page.screenshot)) as shot, Image.open(io.BytesIO(page.full_screenshot)) as full:
        assert (shot.format, shot.size) == ("PNG", (1024, 768))
        assert (full.format, full.size) == ("PNG", (1024, page.page_height))
        assert shot.convert("RGB").getpixel((900, 300)) == (200, 0, 0)  # the fade-in caught at its end
        assert shot.convert("RGB").tobytes() == full.convert("RGB").crop((0, 0, 1024, 768)).tobytes()


NOISY = """import { useEffect } from "react";
export default function App() {
  useEffect(() => { const t = setInterval(() => console.error("tick " + Date.now()), 5); return () => clearInterval(t); }, []);
  return <main><h1>A page that keeps talking</h1></main>;
}
"""


def test_what_a_page_does_after_its_visit_is_not_added_to_it(env: SiteEnvironment, tmp_path: Path) -> None:
    obs = env.observe(make_site(env, tmp_path, {"src/App.tsx": NOISY}))
    errors = list(obs.pages[0].console_errors)
    assert errors  # it logged while it was visited
    time.sleep(0.3)  # its context is closed off the caller's path, after the visit returned
    assert obs.pages[0].console_errors == errors


def test_digests_follow_content_not_writes(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "src").mkdir(parents=True)
    (site / "dist").mkdir()
    (site / "src" / "App.tsx").write_text("one")
    (site / "node_modules").symlink_to(tmp_path)  # hashed by its target, never walked
    first = source_digest(site)
    (site / "src" / "App.tsx").write_text("one")
    (site / "dist" / "index.html").write_text("built")
    assert source_digest(site) == first and output_digest(site) is not None
    (site / "src" / "App.tsx").write_text("two")
    assert source_digest(site) != first
    assert output_digest(tmp_path / "nowhere") is None and source_digest(tmp_path / "nowhere") is None


STORAGE = """import { useEffect, useState } from "react";
export default function App() {
  const [seen] = useState(() => [localStorage.getItem("k"), sessionStorage.getItem("k"), document.cookie].join("|"));
  useEffect(() => { localStorage.setItem("k", "left"); sessionStorage.setItem("k", "left"); document.cookie = "k=left"; }, []);
  return <main><h1>Storage seen: [{seen}]</h1><p>A page with enough words to be a page.</p></main>;
}
"""


def test_the_reused_page_keeps_nothing_of_the_last_visit(env: SiteEnvironment, tmp_path: Path) -> None:
    site = make_site(env, tmp_path, {"src/App.tsx": STORAGE})
    assert env.build(site).ok
    with env.serve(site) as server:  # the same origin twice: the hardest case for a page that is reused
        visits = [env.renderer.visit(server.url, ["/"], discover=False)[0] for _ in range(2)]
    assert all("Storage seen: [||]" in v.content_blocks for v in visits), [v.content_blocks for v in visits]
