"""Packages outside the scaffold: installed safely from the npm registry, or a clear error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import make_site
from webgen.feedback.site import npm
from webgen.feedback.site.environment import SiteEnvironment

pytestmark = [pytest.mark.node]


def _package(extra: dict[str, str]) -> str:
    return json.dumps({"name": "site", "dependencies": {"react": "^18.3.1", "react-dom": "^18.3.1", **extra}})


def test_scaffold_packages_need_no_install(env: SiteEnvironment, tmp_path: Path) -> None:
    """Compatible requests (the range, or the same release line) and build tools resolve to the scaffold."""
    requests = {"lucide-react": "^0.344.0", "react": "^18.2.0", "date-fns": "~3.3.1", "clsx": "*", "axios": "latest"}
    tools = {"vite": "^5.4.2", "@vitejs/plugin-react": "^4.3.1", "eslint": "^9.9.1", "@types/react": "^18.3.5"}
    package = json.dumps({"name": "site", "dependencies": requests, "devDependencies": tools})
    site = make_site(env, tmp_path, {"package.json": package})
    result = npm.resolve(site, env.scaffold, env.settings.home)
    assert result.extras == {} and result.diagnostics == []
    assert (site / "node_modules").resolve() == env.scaffold.node_modules.resolve()
    assert result.notes == ["vite: the site is built with the harness's vite 8.3.8, not the requested ^5.4.2"]


def test_another_major_or_0x_minor_is_planned_for_install(env: SiteEnvironment) -> None:
    wanted = {"lucide-react": "^0.462.0", "react": "^19.0.0", "zustand": "^4.4.0", "framer-motion": "^10.16.4"}
    extras, notes = npm.plan(wanted, env.scaffold)
    assert extras == {"framer-motion": "^10.16.4", "lucide-react": "^0.462.0", "react": "^19.0.0"}
    assert "lucide-react: the requested ^0.462.0 is installed for this site (the scaffold has 0.344.0)" in notes


def test_unsafe_specs_rejected_without_running_npm(env: SiteEnvironment, tmp_path: Path) -> None:
    specs = {"evil": "file:../../etc", "git-dep": "git+https://example.com/x.git", "url-dep": "https://x/y.tgz"}
    site = make_site(env, tmp_path, {"package.json": _package(specs)})
    result = npm.resolve(site, env.scaffold, env.settings.home)
    assert result.extras == {}
    assert sorted(d.message.split(":")[0] for d in result.diagnostics) == ["evil", "git-dep", "url-dep"]


def test_invalid_package_json_is_a_diagnostic(env: SiteEnvironment, tmp_path: Path) -> None:
    site = make_site(env, tmp_path, {"package.json": "{ not json"})
    result = npm.resolve(site, env.scaffold, env.settings.home)
    assert result.diagnostics[0].file == "package.json" and "not valid JSON" in result.diagnostics[0].message


@pytest.mark.network
def test_unknown_package_installed_into_keyed_cache_and_built(env: SiteEnvironment, tmp_path: Path) -> None:
    app = "import slugify from 'slugify';\nexport default function App() { return <h1>{slugify('Hello Big World')} is the answer here</h1>; }\n"
    site = make_site(env, tmp_path, {"package.json": _package({"slugify": "^1.6.0"}), "src/App.tsx": app})
    obs = env.observe(site)
    assert obs.build.ok, obs.summary()
    assert "true is the answer" in "".join(p.title for p in obs.pages) or obs.pages[0].text_length > 10
    linked = (site / "node_modules").resolve()
    assert linked != env.scaffold.node_modules.resolve() and (linked / "slugify").exists()
    assert (linked / "react").resolve() == (env.scaffold.node_modules / "react").resolve()
    # the second site with the same extra set reuses the cache: no npm run
    again = npm.resolve(
        make_site(env, tmp_path / "b", {"package.json": _package({"slugify": "^1.6.0"})}),
        env.scaffold,
        env.settings.home,
    )
    assert again.seconds == 0.0 and again.node_modules == linked


@pytest.mark.network
def test_failed_install_becomes_feedback(env: SiteEnvironment, tmp_path: Path) -> None:
    site = make_site(env, tmp_path, {"package.json": _package({"webgen-surely-missing-pkg-zz": "^1.0.0"})})
    obs = env.observe(site)
    assert not obs.build.ok
    assert (
        obs.build.diagnostics[0].source == "deps" and "webgen-surely-missing-pkg-zz" in obs.build.diagnostics[0].message
    )


@pytest.mark.network
def test_a_package_set_over_the_disk_budget_is_one_clear_message_and_not_cached(
    env: SiteEnvironment, tmp_path: Path
) -> None:
    extras = {"left-pad": "^1.3.0"}
    shutil.rmtree(npm.cache_dir(env.scaffold, env.settings.home, extras), ignore_errors=True)  # installed anew
    site = make_site(env, tmp_path, {"package.json": _package(extras)})
    result = npm.resolve(site, env.scaffold, env.settings.home, max_mb=0)
    assert result.failed and len(result.diagnostics) == 1
    message = result.diagnostics[0].message
    assert message.startswith("installing left-pad@^1.3.0 failed: they take")
    assert "over the budget of 0 MB (site.deps_max_mb); use fewer or smaller packages" in message
    assert not (npm.cache_dir(env.scaffold, env.settings.home, extras) / ".installed").exists()
    again = npm.resolve(site, env.scaffold, env.settings.home)  # within the default budget: installed and cached
    assert not again.failed and (again.node_modules / "left-pad").exists()
