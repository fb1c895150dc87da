"""A lazy route (React.lazy, a chunk of its own) is read once its chunk has loaded, not while it shows its fallback.

The build hands the site's dynamic imports to the page's count of its calls (node/track_imports.mjs,
page_session.REQUESTS_JS); a page without the harness's script runs them as they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import make_site
from webgen.feedback.browser import CHROMIUM, chromium_args
from webgen.feedback.site.environment import SiteEnvironment

pytestmark = [pytest.mark.browser, pytest.mark.node]

APP = """import { Suspense, lazy } from "react";
import { Link, Route, Routes } from "react-router-dom";

// The build's edits are placed by character, not by byte (text in UTF-8 before the imports, an emoji of two
// UTF-16 units); a module of the site that has its own __webgenImport keeps it.
const __webgenImport = "Ünïcode 🍞 and a name of our own";
const note = "a string that says import('./nowhere') is left alone";
const Slow = lazy(() => import("./pages/Slow"));
const Pick = lazy(() => (Math.random() < 2 ? import("./pages/Slow") : import("./pages/Other")));

export default function App() {
  const wait = <p>loading the page</p>;
  const home = <main><h1>Home</h1><p>{note}</p><p>{__webgenImport}</p><Link to="/slow">Slow</Link></main>;
  return (
    <Routes>
      <Route path="/" element={home} />
      <Route path="/slow" element={<Suspense fallback={wait}><Slow /></Suspense>} />
      <Route path="/pick" element={<Suspense fallback={wait}><Pick /></Suspense>} />
    </Routes>
  );
}
"""
# The chunk's promise resolves only once the module has run: here 400 ms after it has loaded, while no request
# is in flight, so only the count of the page's calls can tell that the route is not ready.
SLOW = """await new Promise((done) => setTimeout(done, 400));
export default function Slow() { return <h1>The slow page, at last</h1>; }
"""
OTHER = """export default function Other() { return <h1>Other</h1>; }
"""
FILES = {"src/App.tsx": APP, "src/pages/Slow.tsx": SLOW, "src/pages/Other.tsx": OTHER}


def test_a_lazy_route_is_read_once_its_chunk_has_run(env: SiteEnvironment, tmp_path: Path) -> None:
    site = make_site(env, tmp_path, FILES)
    obs = env.observe(site)
    assert obs.build.ok, obs.summary()
    entry = next((site / "dist" / "assets").glob("index-*.js")).read_text()
    assert entry.count("__webgenImport_(") == 4, entry  # the three calls and the helper, under a name of its own
    assert "import('./nowhere')" in entry
    pages = {page.route: page for page in obs.pages}
    home = pages["/"]
    assert not home.page_errors and not home.console_errors, home
    assert "a string that says import('./nowhere') is left alone" in home.content_blocks
    assert "Ünïcode 🍞 and a name of our own" in home.content_blocks, home.content_blocks
    slow = pages["/slow"]
    assert "The slow page, at last" in slow.content_blocks, slow
    assert "loading the page" not in slow.content_blocks, slow


@pytest.mark.slow
def test_the_built_site_runs_the_same_without_the_harness(env: SiteEnvironment, tmp_path: Path) -> None:
    """In the UI's preview or a downloaded site, nothing defines the page's count: the imports run as they are."""
    if not CHROMIUM.exists():
        pytest.skip("needs Debian chromium at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    site = make_site(env, tmp_path, FILES)
    assert env.build(site).ok
    with env.serve(site) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=chromium_args())
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        for route in ("/slow", "/pick"):
            page.goto(server.url.rstrip("/") + route)
            page.get_by_text("The slow page, at last").wait_for(timeout=5000)
        assert page.evaluate("() => typeof window.__webgenTrack") == "undefined"
        browser.close()
    assert not errors, errors


@pytest.mark.slow
def test_a_lazy_chunk_that_throws_is_reported_not_waited_for(env: SiteEnvironment, tmp_path: Path) -> None:
    """A chunk whose module throws settles its import (rejected): the route is read with the page's error."""
    app = """import { Suspense, lazy } from "react";
import { Route, Routes } from "react-router-dom";
const Broken = lazy(() => import("./pages/Broken"));
export default function App() {
  const broken = <Suspense fallback={<p>loading the page</p>}><Broken /></Suspense>;
  return <Routes><Route path="/" element={<h1>Home</h1>} /><Route path="/broken" element={broken} /></Routes>;
}
"""
    broken = 'throw new Error("the chunk failed as it ran");\nexport default function Broken() { return null; }\n'
    obs = env.observe(make_site(env, tmp_path, {"src/App.tsx": app, "src/pages/Broken.tsx": broken}))
    assert obs.build.ok, obs.summary()
    page = next(p for p in obs.pages if p.route == "/broken")
    assert any("the chunk failed as it ran" in error for error in page.page_errors), page
    assert page.error is None, page  # read, not cut off as a page that never settles
