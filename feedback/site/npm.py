"""Dependencies a model adds beyond the scaffold.

The site's package.json is read (never executed). Packages the scaffold already has resolve to the
shared node_modules. Unknown registry packages are installed with `--ignore-scripts` into a cache
keyed by the extra dependency set, under a timeout, and the site gets an overlay `node_modules`
(symlinks to the scaffold's packages plus the extras). Every failure is a Diagnostic for the model.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

from pydantic import BaseModel, Field

from webgen.core.types import Diagnostic
from webgen.feedback.site import proc
from webgen.feedback.site.scaffold import Scaffold, file_lock, link_node_modules, npm_env

MAX_EXTRA_PACKAGES = 12
_NAME = re.compile(r"^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]{0,213}$")
_SPEC = re.compile(r"^[\w.^~<>=|*+ -]{0,64}$")


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
    for entry in node_modules.iterdir():
        if entry.name.startswith("."):
            continue
        if entry.name.startswith("@"):
            found.update({f"{entry.name}/{child.name}": child for child in entry.iterdir()})
        else:
            found[entry.name] = entry
    return found


def _overlay(scaffold: Scaffold, extras_dir: Path, overlay: Path, extras: dict[str, str]) -> None:
    """A node_modules of symlinks: every scaffold package, plus the extras from their own install."""
    packages = _packages(scaffold.node_modules)
    installed = _packages(extras_dir / "node_modules")
    packages.update({name: installed[name] for name in extras if name in installed and name not in packages})
    staging = overlay.with_name(overlay.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name, path in packages.items():
        link = staging / name
        link.parent.mkdir(exist_ok=True)
        link.symlink_to(path.resolve(), target_is_directory=True)
    shutil.rmtree(overlay, ignore_errors=True)
    staging.rename(overlay)


def resolve(site: Path, scaffold: Scaffold, home: Path, *, npm: str = "npm", timeout_s: float = 180.0) -> DepsResult:
    """Give `site` a node_modules that satisfies its package.json, or say why not."""
    wanted, problems = requested_packages(site)
    known = set(_packages(scaffold.node_modules))
    declared = scaffold.package_json()
    pinned = {**declared.get("dependencies", {}), **declared.get("devDependencies", {})}
    notes = [
        f"{name}: the scaffold provides {pinned[name]}; the requested {spec} is ignored"
        for name, spec in sorted(wanted.items())
        if name in pinned and spec != pinned[name]
    ]
    extras = {name: spec for name, spec in sorted(wanted.items()) if name not in known}
    if len(extras) > MAX_EXTRA_PACKAGES:
        problems.append(
            Diagnostic(
                source="deps",
                file="package.json",
                message=f"{len(extras)} packages outside the scaffold; at most {MAX_EXTRA_PACKAGES} may be added",
            )
        )
        link_node_modules(site, scaffold.node_modules)
        return DepsResult(node_modules=scaffold.node_modules, diagnostics=problems, notes=notes, failed=True)
    if not extras:
        link_node_modules(site, scaffold.node_modules)
        return DepsResult(node_modules=scaffold.node_modules, diagnostics=problems, notes=notes)

    key = hashlib.sha256(json.dumps([scaffold.cache_dir.name, extras], sort_keys=True).encode()).hexdigest()[:16]
    root = home / "deps" / key
    overlay = root / "node_modules"
    seconds = 0.0
    with file_lock(root.with_suffix(".lock")):
        if not (root / ".installed").is_file():
            install_dir = root / "install"
            shutil.rmtree(install_dir, ignore_errors=True)
            install_dir.mkdir(parents=True)
            (install_dir / "package.json").write_text(
                json.dumps({"name": "extras", "private": True, "dependencies": extras})
            )
            result = proc.run(
                [
                    npm,
                    "install",
                    "--ignore-scripts",
                    "--legacy-peer-deps",
                    "--no-audit",
                    "--no-fund",
                    "--no-package-lock",
                    "--prefer-offline",
                ],
                cwd=install_dir,
                timeout_s=timeout_s,
                env=npm_env(),
            )
            seconds = result.seconds
            if not result.ok:
                why = f"timed out after {timeout_s:.0f}s" if result.timed_out else result.output.strip()[-1500:]
                problems.append(
                    Diagnostic(
                        source="deps",
                        file="package.json",
                        message=f"installing {', '.join(f'{n}@{s}' for n, s in extras.items())} failed: {why}",
                    )
                )
                link_node_modules(site, scaffold.node_modules)
                return DepsResult(
                    node_modules=scaffold.node_modules, diagnostics=problems, notes=notes, seconds=seconds, failed=True
                )
            _overlay(scaffold, install_dir, overlay, extras)
            (root / ".installed").write_text(json.dumps(extras))
    link_node_modules(site, overlay)
    return DepsResult(node_modules=overlay, extras=extras, diagnostics=problems, notes=notes, seconds=seconds)
