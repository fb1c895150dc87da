"""The packages a site asks for: served by the scaffold's shared copy, or installed for that site.

The site's package.json is read (never executed). A request the scaffold's installed version is compatible with
(`semver.compatible`: the range, or the same release line) resolves to the shared node_modules, so the warm step
of a scaffold-compatible site costs nothing here. Any other request (an unknown package, or another major or 0.x
minor of a scaffold package, such as Lovable's `lucide-react ^0.462.0` beside the scaffold's 0.344) is installed with
`--ignore-scripts` into a cache keyed by the whole set of such requests, under a time and a size budget
(`site.deps_timeout_s`, `site.deps_max_mb`); the site gets an overlay `node_modules`: the scaffold's packages,
with the installed ones in place of those they replace. Build tools (Vite, its React plugins, TypeScript,
Tailwind 3 and its well-known plugins, PostCSS, linters, type packages) are never installed: the harness builds
every site with its own. Every failure is a Diagnostic for the model.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

from pydantic import BaseModel, Field

from webgen.core.types import Diagnostic
from webgen.feedback.site import proc
from webgen.feedback.site.scaffold import Scaffold, file_lock, link_node_modules, npm_env
from webgen.feedback.site.semver import Version, compatible, parse_version

_NAME = re.compile(r"^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]{0,213}$")
_SPEC = re.compile(r"^[\w.^~<>=|*+ -]{0,64}$")
#: Packages the harness's own build provides (a site's request for them is never installed).
BUILD_TOOLS = frozenset(
    {
        "vite",
        "@vitejs/plugin-react",
        "@vitejs/plugin-react-swc",
        "typescript",
        "tailwindcss",
        "postcss",
        "autoprefixer",
        "@tailwindcss/forms",
        "@tailwindcss/typography",
        "@tailwindcss/aspect-ratio",
        "@tailwindcss/container-queries",
        "tailwindcss-animate",
        "lovable-tagger",
        "vite-tsconfig-paths",
        "eslint",
        "globals",
        "prettier",
        "typescript-eslint",
        "vitest",
        "jsdom",
        "husky",
        "lint-staged",
    }
)
_BUILD_TOOL_PREFIXES = ("@types/", "eslint-", "@eslint/", "@typescript-eslint/", "@testing-library/", "@vitest/")
#: The layout of a cached install (`_overlay`); a change of it makes every cached set install anew.
_LAYOUT = 2
#: Build tools whose version a note mentions when the site asks for another one.
_NOTED_TOOLS = ("vite", "tailwindcss", "typescript")


def is_build_tool(name: str) -> bool:
    return name in BUILD_TOOLS or name.startswith(_BUILD_TOOL_PREFIXES)


class DepsResult(BaseModel):
    """What the site's node_modules resolves to, and what the model should hear about it."""

    node_modules: Path
    extras: dict[str, str] = Field(default_factory=dict)
    diagnostics: list[Diagnostic] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    seconds: float = 0.0
    failed: bool = Field(default=False, description="the extra packages could not be provided: do not build")


def requested_packages(site: Path) -> tuple[dict[str, str], list[Diagnostic]]:
    """Dependencies and devDependencies from the site's package.json, validated as registry packages."""
    path = site / "package.json"
    if not path.is_file():
        return {}, []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        return {}, [Diagnostic(source="deps", file="package.json", message=f"package.json is not valid JSON: {exc}")]
    if not isinstance(data, dict):
        return {}, [Diagnostic(source="deps", file="package.json", message="package.json must be a JSON object")]
    wanted: dict[str, str] = {}
    problems: list[Diagnostic] = []
    for key in ("dependencies", "devDependencies"):
        section = data.get(key) or {}
        if not isinstance(section, dict):
            problems.append(Diagnostic(source="deps", file="package.json", message=f"{key} must be an object"))
            continue
        for name, spec in section.items():
            if not isinstance(spec, str) or not _NAME.match(str(name)) or not _SPEC.match(spec):
                problems.append(
                    Diagnostic(
                        source="deps",
                        file="package.json",
                        message=f"{name}: only npm registry packages with a version range are allowed (got {spec!r})",
                    )
                )
                continue
            wanted[name] = spec.strip() or "*"
    return wanted, problems


def _packages(node_modules: Path) -> dict[str, Path]:
    """Top-level packages of a node_modules folder by name ("react", "@scope/name")."""
    found: dict[str, Path] = {}
    if not node_modules.is_dir():
        return found
    for entry in node_modules.iterdir():
        if entry.name.startswith("."):
            continue
        if entry.name.startswith("@") and entry.is_dir():
            found.update({f"{entry.name}/{child.name}": child for child in entry.iterdir()})
        else:
            found[entry.name] = entry
    return found


@functools.lru_cache(maxsize=8)
def installed_versions(node_modules: Path) -> dict[str, Version | None]:
    """The version of each top-level package of an installed (never changing) node_modules, such as a scaffold's."""
    versions: dict[str, Version | None] = {}
    for name, path in _packages(node_modules).items():
        try:
            versions[name] = parse_version(str(json.loads((path / "package.json").read_text())["version"]))
        except (OSError, ValueError, KeyError, TypeError):
            versions[name] = None
    return versions


def _link_all(packages: dict[str, Path], folder: Path) -> None:
    for name, path in packages.items():
        link = folder / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path.resolve(), target_is_directory=True)


def _closure(installed: dict[str, Path], roots: list[str]) -> set[str]:
    """The installed top-level packages that `roots` depend on, directly or not (react-router-dom 7 brings
    react-router 7, which must win over the scaffold's 6 for this site)."""
    seen: set[str] = set()
    stack = [name for name in roots if name in installed]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            manifest = json.loads((installed[name] / "package.json").read_text())
        except (OSError, ValueError):
            continue
        for key in ("dependencies", "optionalDependencies", "peerDependencies"):
            section = manifest.get(key)
            if isinstance(section, dict):
                stack += [dep for dep in section if dep in installed and dep not in seen]
    return seen


def _overlay(scaffold: Scaffold, install_dir: Path, overlay: Path, extras: dict[str, str]) -> None:
    """The site's node_modules: the scaffold's packages, with the installed extras and what they depend on in
    place of those they replace, and what else the install brought that the scaffold lacks (a site may import a
    package it did not declare).

    The install's own node_modules also gets links to the scaffold's packages it lacks, so that an installed
    package finds a peer dependency (React, a chart library) that npm did not install beside it.
    """
    installed = _packages(install_dir / "node_modules")
    scaffold_packages = _packages(scaffold.node_modules)
    _link_all({n: p for n, p in scaffold_packages.items() if n not in installed}, install_dir / "node_modules")
    own = {name: installed[name] for name in _closure(installed, list(extras))}
    packages = {**installed, **scaffold_packages, **own}
    staging = overlay.with_name(overlay.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    _link_all(packages, staging)
    shutil.rmtree(overlay, ignore_errors=True)
    staging.rename(overlay)


def disk_mb(folder: Path) -> float:
    """Bytes under `folder` (symlinks not followed), in MB."""
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
    return total / 1e6


def plan(wanted: dict[str, str], scaffold: Scaffold) -> tuple[dict[str, str], list[str]]:
    """(the requests to install for this site, notes): see the module doc."""
    versions = installed_versions(scaffold.node_modules)
    extras: dict[str, str] = {}
    notes: list[str] = []
    for name, spec in sorted(wanted.items()):
        version = versions.get(name)
        shown = ".".join(map(str, version)) if version else "?"
        if is_build_tool(name):
            if name in _NOTED_TOOLS and version and not compatible(version, spec):
                notes.append(f"{name}: the site is built with the harness's {name} {shown}, not the requested {spec}")
            continue
        if name in versions and (version is None or compatible(version, spec)):
            continue
        extras[name] = spec
        if version:
            notes.append(f"{name}: the requested {spec} is installed for this site (the scaffold has {shown})")
    return extras, notes


def _install(
    install_dir: Path, extras: dict[str, str], *, npm: str, timeout_s: float, max_mb: int
) -> tuple[float, str]:
    """npm install the extras into `install_dir`; (seconds, why it failed or "")."""
    shutil.rmtree(install_dir, ignore_errors=True)
    install_dir.mkdir(parents=True)
    manifest = {"name": "extras", "private": True, "dependencies": extras}
    (install_dir / "package.json").write_text(json.dumps(manifest))
    flags = [
        "--ignore-scripts",
        "--legacy-peer-deps",
        "--no-audit",
        "--no-fund",
        "--no-package-lock",
        "--prefer-offline",
    ]
    result = proc.run([npm, "install", *flags], cwd=install_dir, timeout_s=timeout_s, env=npm_env())
    if not result.ok:
        if result.timed_out:
            why = f"timed out after {timeout_s:.0f}s (site.deps_timeout_s); use fewer or smaller packages"
        else:
            why = result.output.strip()[-1500:]
        return result.seconds, why
    size = disk_mb(install_dir / "node_modules")
    if size > max_mb:
        return result.seconds, (
            f"they take {size:.1f} MB on disk, over the budget of {max_mb} MB (site.deps_max_mb); "
            "use fewer or smaller packages"
        )
    return result.seconds, ""


def cache_dir(scaffold: Scaffold, home: Path, extras: dict[str, str]) -> Path:
    """Where one set of a site's own packages is installed (shared by every site that asks for the same set)."""
    text = json.dumps([scaffold.cache_dir.name, extras, _LAYOUT], sort_keys=True)
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    return home / "deps" / key


def resolve(
    site: Path,
    scaffold: Scaffold,
    home: Path,
    *,
    npm: str = "npm",
    timeout_s: float = 300.0,
    max_mb: int = 800,
) -> DepsResult:
    """Give `site` a node_modules that satisfies its package.json, or say why not."""
    wanted, problems = requested_packages(site)
    extras, notes = plan(wanted, scaffold)
    if not extras:
        link_node_modules(site, scaffold.node_modules)
        return DepsResult(node_modules=scaffold.node_modules, diagnostics=problems, notes=notes)

    root = cache_dir(scaffold, home, extras)
    overlay = root / "node_modules"
    seconds = 0.0
    with file_lock(root.with_suffix(".lock")):
        if not (root / ".installed").is_file():
            seconds, why = _install(root / "install", extras, npm=npm, timeout_s=timeout_s, max_mb=max_mb)
            if why:
                shutil.rmtree(root / "install", ignore_errors=True)
                listed = ", ".join(f"{n}@{s}" for n, s in list(extras.items())[:12])
                more = f" and {len(extras) - 12} more" if len(extras) > 12 else ""
                problems.append(
                    Diagnostic(source="deps", file="package.json", message=f"installing {listed}{more} failed: {why}")
                )
                link_node_modules(site, scaffold.node_modules)
                return DepsResult(
                    node_modules=scaffold.node_modules, diagnostics=problems, notes=notes, seconds=seconds, failed=True
                )
            _overlay(scaffold, root / "install", overlay, extras)
            (root / ".installed").write_text(json.dumps(extras))
    link_node_modules(site, overlay)
    return DepsResult(node_modules=overlay, extras=extras, diagnostics=problems, notes=notes, seconds=seconds)
