"""Versioned site scaffolds and their shared node_modules cache.

A scaffold is a folder of template files shipped in the package (`scaffolds/<name>/`). Its
dependencies are installed once per scaffold content hash into `<home>/scaffolds/<name>-<hash>/`
and every site links to that `node_modules`. The build worker defines the build configuration; a site's own
config files (the scaffold's copies, or the model's) are read as data by it, never loaded or run.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from webgen.core.blobs import BlobStore, MemoryBlobStore
from webgen.feedback.site import proc
from webgen.feedback.site.workspace import Workspace

log = logging.getLogger(__name__)

DEFAULT_SCAFFOLD = "react18-v1"
#: Files the harness owns: the model may not write them (Workspace `protected`). Build configs are not among
#: them: the build reads them as data (node/site_config.mjs), so a model may set its theme and aliases.
PROTECTED_FILES = frozenset({"package-lock.json", "npm-shrinkwrap.json", ".npmrc"})
_TEMPLATE_SKIP = {"package-lock.json", "node_modules"}


def workspace_for(site: Path, blobs: BlobStore | None = None) -> Workspace:
    """A workspace over a scaffold site: the harness-owned files protected; blobs in memory unless given."""
    return Workspace(site, blobs if blobs is not None else MemoryBlobStore(), protected=PROTECTED_FILES)


class ScaffoldError(RuntimeError):
    """The scaffold is unknown or its dependencies could not be installed."""


class Scaffold(BaseModel):
    """One scaffold version: its template files and where its shared node_modules lives."""

    model_config = ConfigDict(frozen=True)

    name: str
    source: Path
    cache_dir: Path

    @property
    def node_modules(self) -> Path:
        return self.cache_dir / "node_modules"

    @property
    def installed(self) -> bool:
        return (self.cache_dir / ".installed").is_file()

    def package_json(self) -> dict:
        return json.loads((self.source / "package.json").read_text())

    def template_files(self) -> Iterator[tuple[str, Path]]:
        for path in sorted(self.source.rglob("*")):
            rel = path.relative_to(self.source).as_posix()
            if path.is_file() and rel.split("/")[0] not in _TEMPLATE_SKIP:
                yield rel, path


def available_scaffolds() -> list[str]:
    root = resources.files("webgen.feedback.site") / "scaffolds"
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "package.json").is_file())


def scaffold_hash(source: Path) -> str:
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        path = source / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def get_scaffold(name: str, home: Path) -> Scaffold:
    if name not in available_scaffolds():
        raise ScaffoldError(f"unknown scaffold {name!r}; available: {', '.join(available_scaffolds())}")
    source = Path(str(resources.files("webgen.feedback.site") / "scaffolds" / name))
    return Scaffold(name=name, source=source, cache_dir=home / "scaffolds" / f"{name}-{scaffold_hash(source)}")


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock, so parallel workers install a cache once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def npm_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"npm_config_fund": "false", "npm_config_audit": "false", "npm_config_update_notifier": "false"})
    env.update({"NO_COLOR": "1", "FORCE_COLOR": "0", "CI": "1"})
    return env


def ensure_installed(scaffold: Scaffold, *, npm: str = "npm", timeout_s: float = 900.0) -> Scaffold:
    """Install the scaffold's node_modules into its cache once; quick when already done."""
    if scaffold.installed:
        return scaffold
    with file_lock(scaffold.cache_dir.with_suffix(".lock")):
        if scaffold.installed:
            return scaffold
        staging = scaffold.cache_dir.with_name(scaffold.cache_dir.name + ".staging")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            if (scaffold.source / name).is_file():
                shutil.copyfile(scaffold.source / name, staging / name)
        log.info("installing scaffold %s into %s", scaffold.name, scaffold.cache_dir)
        result = proc.run(
            [npm, "install", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"],
            cwd=staging,
            timeout_s=timeout_s,
            env=npm_env(),
        )
        if not result.ok:
            raise ScaffoldError(f"npm install for scaffold {scaffold.name} failed:\n{result.output[-3000:]}")
        shutil.rmtree(scaffold.cache_dir, ignore_errors=True)
        staging.rename(scaffold.cache_dir)
        (scaffold.cache_dir / ".installed").write_text(json.dumps({"scaffold": scaffold.name}))
    return scaffold


def init_site(scaffold: Scaffold, dest: Path) -> Path:
    """Create a site folder with the scaffold's template files and a link to the shared node_modules."""
    dest.mkdir(parents=True, exist_ok=True)
    for rel, path in scaffold.template_files():
        target = dest / rel
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    link_node_modules(dest, scaffold.node_modules)
    return dest


def link_node_modules(site: Path, node_modules: Path) -> None:
    """Point `site/node_modules` at a harness-owned folder, replacing whatever the site had there."""
    link = site / "node_modules"
    if link.is_symlink():
        if os.readlink(link) == str(node_modules):
            return
        link.unlink()
    elif link.exists():
        shutil.rmtree(link)
    link.symlink_to(node_modules, target_is_directory=True)
