"""Tailwind in the long-lived build worker: a config file per site, and each site's CSS its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import make_site
from webgen.feedback.site.builder import BuildWorker
from webgen.feedback.site.environment import SiteEnvironment

pytestmark = pytest.mark.node


def page(classes: str) -> str:
    return f'export default function App() {{ return <p className="{classes}">A page with some words</p>; }}\n'


def css_of(site: Path) -> str:
    return "".join(p.read_text() for p in (site / "dist" / "assets").glob("*.css"))


def test_each_site_gets_only_its_own_classes(env: SiteEnvironment, tmp_path: Path) -> None:
    """Sites built one after another by one worker never see each other's classes, scanned or defined."""
    first = make_site(env, tmp_path / "a", {"src/App.tsx": page("text-pink-700 tracking-widest")})
    second = make_site(env, tmp_path / "b", {"src/App.tsx": page("text-lime-600")})
    worker = BuildWorker(env.scaffold.cache_dir, allow=[env.scaffold.cache_dir])
    try:
        assert worker.build(first, first / "dist", timeout_s=120).ok
        assert worker.build(second, second / "dist", timeout_s=120).ok
        css = css_of(second)
        assert ".text-lime-600" in css and ".text-pink-700" not in css and ".tracking-widest" not in css
        assert ".text-pink-700" in css_of(first)
        # the first site again, changed: its new class is there (its own files are scanned again when they change)
        (first / "src" / "App.tsx").write_text(page("text-pink-700 underline"))
        assert worker.build(first, first / "dist", timeout_s=120).ok
        assert ".underline" in css_of(first) and ".text-lime-600" not in css_of(first)
        configs = list(Path(worker._private.name).glob("tailwind-*.cjs"))  # one file per site
        assert len(configs) == 2 and all(str(first) in c.read_text() or str(second) in c.read_text() for c in configs)
    finally:
        worker.close()
    assert not configs[0].exists()  # the worker's private folder goes with it


def test_a_class_defined_by_one_site_is_unknown_to_the_next(env: SiteEnvironment, tmp_path: Path) -> None:
    """A component class one site defines (@layer) cannot be @applied by another site built after it (here from a
    CSS file of a site without @tailwind directives, which Tailwind gives the context of a config that hashes the
    same: the reason each site has a config file of its own)."""
    layer = (
        "@tailwind base;\n@tailwind components;\n@tailwind utilities;\n@layer components { .btn-x { @apply p-4; } }\n"
    )
    first = make_site(env, tmp_path / "a", {"src/App.tsx": page("btn-x"), "src/index.css": layer})
    uses = 'import "./App.css";\n' + page("foo")
    files = {"src/App.tsx": uses, "src/App.css": ".foo { @apply btn-x; }\n", "src/index.css": "body { margin: 0; }\n"}
    second = make_site(env, tmp_path / "b", files)
    worker = BuildWorker(env.scaffold.cache_dir, allow=[env.scaffold.cache_dir])
    try:
        assert worker.build(first, first / "dist", timeout_s=120).ok
        result = worker.build(second, second / "dist", timeout_s=120)
    finally:
        worker.close()
    assert not result.ok and "btn-x" in result.diagnostics[0].message
