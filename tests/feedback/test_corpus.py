"""The real-sites corpus (tests/fixtures/real_sites/): every site is imported as a user's project would be and
observed; the verdict must be the one its own toolchain gives (`native` in corpus_*.json, measured with
`npm install --ignore-scripts && vite build` and a page load when the site was written; scripts/bench_real_sites.py
measures it again).

A site that works with its own toolchain gets no error; a broken one gets an error. Sites that share a package
set share one install (the keyed cache), so the Lovable sites after the first cost a build and a render each.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from webgen.feedback.site import npm
from webgen.feedback.site.environment import SiteEnvironment
from webgen.feedback.site.project_import import import_project

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "real_sites"
SITES = sorted(
    (entry for listing in sorted(CORPUS.glob("corpus_*.json")) for entry in json.loads(listing.read_text())),
    key=lambda entry: entry["slug"],
)

pytestmark = [pytest.mark.node, pytest.mark.browser, pytest.mark.network, pytest.mark.slow]


def test_the_corpus_covers_both_generators_and_both_verdicts() -> None:
    styles = [entry["style"] for entry in SITES]
    assert len(SITES) >= 20 and styles.count("lovable") >= 6, [e["slug"] for e in SITES]
    assert {entry["native"] for entry in SITES} == {"ok", "error"}
    assert all((CORPUS / entry["slug"] / "package.json").is_file() for entry in SITES)


@pytest.mark.parametrize("entry", SITES, ids=[entry["slug"] for entry in SITES])
def test_verdict_agrees_with_the_sites_own_toolchain(env: SiteEnvironment, tmp_path: Path, entry: dict) -> None:
    site = tmp_path / "site"
    import_project(CORPUS / entry["slug"], site)
    obs = env.observe(site)
    failed = [f"{c.name}: {c.detail}" for c in obs.checks if not c.passed and c.severity == "error"]
    if entry["native"] == "ok":
        assert failed == [], obs.summary()
    else:
        assert failed, f"{entry['slug']} is broken ({entry.get('why')}) but got no error:\n{obs.summary()}"


def test_a_second_shadcn_site_with_the_same_packages_builds_from_the_cache(
    env: SiteEnvironment, tmp_path: Path
) -> None:
    """~42 packages installed once for the set; the next site asking for the same set installs nothing."""
    first, second = tmp_path / "first", tmp_path / "second"
    import_project(CORPUS / "lovable-saas-dashboard", first)
    import_project(CORPUS / "lovable-saas-dashboard", second)
    assert env.observe(first).build.ok
    again = npm.resolve(second, env.scaffold, env.settings.home)
    assert again.seconds == 0.0 and not again.failed and len(again.extras) >= 40
    assert (second / "node_modules").resolve() == (first / "node_modules").resolve()
    obs = env.observe(second)
    assert obs.build.ok and not [c for c in obs.checks if not c.passed and c.severity == "error"], obs.summary()
