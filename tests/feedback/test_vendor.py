"""The shared React bundle (feedback/site/node/vendor.mjs): real builds, real pages, and the cases that could break it."""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers import make_site
from webgen.feedback.site.builder import BuildWorker
from webgen.feedback.site.environment import SiteEnvironment

pytestmark = [pytest.mark.browser, pytest.mark.node]
VENDOR = Path("assets/webgen-vendor/vendor.js")

# Every way a site or a bundled dependency reaches React: named, default and namespace imports, a CommonJS
# dependency that requires React (use-sync-external-store), react-dom/server, and a name React 18 lacks.
APP = """import React, { Suspense, lazy, useState, useEffectEvent } from "react";
import * as ReactNS from "react";
import ReactDOM from "react-dom";
import { renderToString } from "react-dom/server";
import { useSyncExternalStore } from "use-sync-external-store/shim";
import { Link, Route, Routes, useLocation } from "react-router-dom";

function Home() {
  const [n] = useState(2);
  const store = useSyncExternalStore(() => () => {}, () => 5);
  const where = useLocation().pathname;
  return (
    <main>
      <p id="facts">n={n} store={store} at={where} portal={typeof ReactDOM.createPortal} ns={typeof ReactNS.useMemo}
        missing={typeof useEffectEvent} html={renderToString(<b>bold</b>)} version={React.version}</p>
      <Link to="/about">About</Link>
    </main>
  );
}

const About = lazy(() => import("./pages/About"));

export default function App() {
  const about = <Suspense fallback={<p>...</p>}><About /></Suspense>;
  return <Routes><Route path="/" element={<Home />} /><Route path="/about" element={about} /></Routes>;
}
"""
ABOUT = """import { useState } from "react";
export default function About() { const [text] = useState("About us, in a chunk of its own"); return <h1>{text}</h1>; }
"""


def test_react_comes_from_one_shared_module(env: SiteEnvironment, tmp_path: Path) -> None:
    obs = env.observe(make_site(env, tmp_path, {"src/App.tsx": APP, "src/pages/About.tsx": ABOUT}))
    assert obs.build.ok, obs.summary()
    dist = tmp_path / "site" / "dist"
    shared = env.scaffold.cache_dir / ".webgen-vendor"
    assert (dist / VENDOR).read_bytes() in {p.read_bytes() for p in shared.glob("*/vendor.js")}
    entry = next((dist / "assets").glob("index-*.js")).read_text()
    assert '"./webgen-vendor/vendor.js"' in entry  # relative: the UI's preview serves a site under a path prefix
    chunk = next((dist / "assets").glob("About-*.js")).read_text()  # the lazy route's own chunk
    assert "react-dom.production" not in entry + chunk and "react.production" not in entry + chunk
    assert 'rel="modulepreload"' in (dist / "index.html").read_text()
    home = obs.pages[0]
    assert not home.page_errors and not home.console_errors, home
    text = " ".join(home.content_blocks)
    for fact in ("n=2", "store=5", "at=/", "portal=function", "ns=function", "missing=undefined", "version=18."):
        assert fact in text, text
    assert "<b>bold</b>" in text
    about = obs.pages[1]
    assert about.route == "/about" and "About us, in a chunk of its own" in about.content_blocks, about


def test_a_missing_router_name_is_a_located_build_error(env: SiteEnvironment, tmp_path: Path) -> None:
    """As when the router was bundled with the site: an ES package's names are checked (v5's useHistory is not in v6),
    and the message names the package, not webgen's internal module."""
    app = """import { useHistory } from "react-router-dom";
export default function App() { const h = useHistory(); return <p>{String(h)}</p>; }
"""
    obs = env.observe(make_site(env, tmp_path, {"src/App.tsx": app}))
    assert not obs.build.ok
    diag = obs.build.diagnostics[0]
    assert "useHistory" in diag.message and "react-router-dom" in diag.message, diag
    assert "webgen-vendor" not in diag.message and (diag.file, diag.line) == ("src/App.tsx", 1)


def test_a_site_with_its_own_react_bundles_it(env: SiteEnvironment, tmp_path: Path) -> None:
    """A folder whose `react` is its own copy (not the scaffold's) gets React bundled in, as before."""
    site = make_site(env, tmp_path, {"src/App.tsx": APP, "src/pages/About.tsx": ABOUT})
    modules = site / "node_modules"
    scaffold_modules = env.scaffold.cache_dir / "node_modules"
    modules.unlink() if modules.is_symlink() else shutil.rmtree(modules)
    modules.mkdir()
    for entry in scaffold_modules.iterdir():
        if entry.name != "react":
            os.symlink(entry, modules / entry.name)
    shutil.copytree(scaffold_modules / "react", modules / "react")
    worker = BuildWorker(env.scaffold.cache_dir, allow=[env.scaffold.cache_dir])
    try:
        result = worker.build(site, site / "dist", timeout_s=120)
    finally:
        worker.close()
    assert result.ok, result.diagnostics
    assert not (site / "dist" / VENDOR).exists()
    entry = next((site / "dist" / "assets").glob("index-*.js")).read_text()
    assert "webgen-vendor" not in entry and "react.production" in entry


def test_workers_that_start_together_share_one_vendor_bundle(env: SiteEnvironment, tmp_path: Path) -> None:
    """On a fresh machine several workers make the bundle at once: each build succeeds and one copy is kept."""
    scaffold = tmp_path / "scaffold"  # the scaffold's packages, with a vendor cache of its own (empty)
    scaffold.mkdir()
    shutil.copyfile(env.scaffold.cache_dir / "package.json", scaffold / "package.json")
    os.symlink(env.scaffold.cache_dir / "node_modules", scaffold / "node_modules")
    sites = [make_site(env, tmp_path / f"s{i}", {"src/App.tsx": APP, "src/pages/About.tsx": ABOUT}) for i in range(3)]
    workers = [BuildWorker(scaffold, allow=[env.scaffold.cache_dir]) for _ in sites]
    try:
        with ThreadPoolExecutor(len(sites)) as pool:
            builds = [
                pool.submit(w.build, site, site / "dist", timeout_s=120) for w, site in zip(workers, sites, strict=True)
            ]
            results = [build.result() for build in builds]
    finally:
        for worker in workers:
            worker.close()
    assert all(r.ok for r in results), [r.diagnostics for r in results]
    kept = list((scaffold / ".webgen-vendor").iterdir())
    assert len(kept) == 1 and kept[0].suffix != ".tmp" and (kept[0] / "vendor.js").is_file()
    for site in sites:
        assert (site / "dist" / VENDOR).read_bytes() == (kept[0] / "vendor.js").read_bytes()


def test_nothing_a_site_writes_reaches_the_shared_bundle(env: SiteEnvironment, tmp_path: Path) -> None:
    """The bundle is made from the scaffold when the worker starts: a site's package.json that maps react-dom to
    its own file (the "browser" field) cannot put that file into the module every later site loads."""
    scaffold = tmp_path / "scaffold"  # an empty vendor cache, so that this worker makes the bundle
    scaffold.mkdir()
    shutil.copyfile(env.scaffold.cache_dir / "package.json", scaffold / "package.json")
    os.symlink(env.scaffold.cache_dir / "node_modules", scaffold / "node_modules")
    evil = "export const createRoot = () => { throw new Error('PLANTED-BY-A-SITE'); };\n"
    package = '{"name": "site", "private": true, "type": "module", "browser": {"react-dom": "./src/evil.js"}}\n'
    site = make_site(env, tmp_path, {"src/App.tsx": APP, "src/pages/About.tsx": ABOUT, "src/evil.js": evil})
    (site / "package.json").write_text(package)  # as if it had come from elsewhere than the workspace
    worker = BuildWorker(scaffold, allow=[env.scaffold.cache_dir])
    try:
        worker.build(site, site / "dist", timeout_s=120)
    finally:
        worker.close()
    (bundle,) = (scaffold / ".webgen-vendor").glob("*/vendor.js")
    assert b"PLANTED-BY-A-SITE" not in bundle.read_bytes() and len(bundle.read_bytes()) > 100_000


def test_without_a_vendor_bundle_builds_bundle_react_and_say_why_once(
    env: SiteEnvironment, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """If the bundle cannot be made (here its cache folder is a file), builds still work, and the log says why."""
    scaffold = tmp_path / "scaffold"
    scaffold.mkdir()
    shutil.copyfile(env.scaffold.cache_dir / "package.json", scaffold / "package.json")
    os.symlink(env.scaffold.cache_dir / "node_modules", scaffold / "node_modules")
    (scaffold / ".webgen-vendor").write_text("not a folder")
    site = make_site(env, tmp_path, {"src/App.tsx": APP, "src/pages/About.tsx": ABOUT})
    worker = BuildWorker(scaffold, allow=[env.scaffold.cache_dir])
    try:
        with caplog.at_level("WARNING", logger="webgen.feedback.site.builder"):
            results = [worker.build(site, site / "dist", timeout_s=120) for _ in range(2)]
    finally:
        worker.close()
    assert all(r.ok for r in results), [r.diagnostics for r in results]
    assert not (site / "dist" / VENDOR).exists()
    assert "react.production" in next((site / "dist" / "assets").glob("index-*.js")).read_text()
    said = [r.getMessage() for r in caplog.records if "no shared React bundle" in r.getMessage()]
    assert len(said) == 1, caplog.text
