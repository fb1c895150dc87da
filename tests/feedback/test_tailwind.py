"""Tailwind in the long-lived build worker: one config file for every site, and each site's CSS its own."""

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
    """Sites built one after another by one worker share its Tailwind config, never each other's classes."""
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
        configs = list(Path(worker._private.name).glob("tailwind-*.cjs"))  # one file for both sites
        assert len(configs) == 1 and "./src/" in configs[0].read_text()
    finally:
        worker.close()
    assert not configs[0].exists()  # the worker's private folder goes with it
