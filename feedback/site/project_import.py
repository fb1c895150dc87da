"""Bring your own project: an existing Vite + React site, from a folder or a zip, copied into a site folder.

:func:`load_project` reads and checks everything it can before anything is written: the entries (a zip's
names, kinds and declared sizes, or a folder's regular files), the caps (:class:`ImportLimits`), and the
project's ``package.json`` (it must exist at the top and depend on React; a Vue, Svelte, Angular or Next.js
project is refused). :meth:`ProjectPlan.write` then copies the files, text and binary alike, into a new or
empty folder, counting the bytes it really reads (a zip's header is never trusted alone) and stopping at the
caps; on any failure it removes what it wrote, so nothing is left behind and nothing ever lands outside it.

Skipped: ``node_modules`` and ``.git`` (at any depth), build output and caches at the top (``dist``, ``.webgen``,
``.vite``), lockfiles (packages come from the scaffold's cache), files that may hold one machine's secrets
(``.env.local``, ``.env.production.local``, ``.npmrc``; a plain ``.env`` is kept: Vite builds with it), and OS
litter (``__MACOSX``, ``.DS_Store``). A zip whose files all sit in one top folder (a GitHub or bolt.new download)
is unwrapped, and so is a folder that only holds the project's folder. The site's own config files
(``vite.config.*``, ``tailwind.config.*``, ...) are copied as they are: the build reads them as data, never runs
them.

Every failure is a :class:`ProjectImportError`: one line saying what is wrong and how to fix it.
"""

from __future__ import annotations

import json
import logging
import shutil
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from webgen.feedback.site.project_sources import (
    Entry,
    ImportLimits,
    ProjectImportError,
    file_too_big,
    folder_entries,
    human_size,
    kept_entries,
    skip_reason,
    total_too_big,
    unwrap,
    zip_entries,
)
from webgen.feedback.site.safefs import Refused, open_dir, read_at, write_at

__all__ = [
    "ImportLimits",
    "ImportedProject",
    "ProjectImportError",
    "ProjectPlan",
    "import_project",
    "load_project",
]

log = logging.getLogger(__name__)

#: package.json dependencies that mark a project webgen cannot work on, and what to call it
FRAMEWORKS = {
    "next": "Next.js",
    "nuxt": "Nuxt",
    "vue": "Vue",
    "@sveltejs/kit": "SvelteKit",
    "svelte": "Svelte",
    "@angular/core": "Angular",
    "solid-js": "Solid",
    "astro": "Astro",
    "@remix-run/react": "Remix",
    "preact": "Preact",
}
_REACT_FIX = "webgen's agent works on React + Vite sites: import a React + Vite project"
_CHUNK = 1 << 16
#: a member that cannot be read: damaged data, a bad CRC, a compression method Python has not
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, NotImplementedError)


class ImportedProject(BaseModel):
    """What an import brings in: paths and sizes, never contents."""

    source: Path
    kind: Literal["folder", "zip"]
    name: str = Field(description="the project's name: the folder's, or the zip's without .zip")
    files: list[str] = Field(description="the files copied, relative POSIX paths, sorted")
    total_bytes: int = 0
    skipped: list[str] = Field(default_factory=list, description="'path: why' for what was left out")
    unwrapped: str | None = Field(default=None, description="the single top folder the files were taken from")


@dataclass
class ProjectPlan:
    """A checked project, ready to be written (:meth:`write`); ``project`` describes it."""

    project: ImportedProject
    limits: ImportLimits
    _root: Path  # the folder the entries are relative to (folder imports)
    _entries: list[Entry]

    def write(self, dest: Path) -> ImportedProject:
        """Copy the files into `dest` (new, or an empty folder). On failure nothing of the import is left."""
        dest = Path(dest)
        created = not dest.exists()
        if not created and (not dest.is_dir() or dest.is_symlink() or any(dest.iterdir())):
            raise ProjectImportError(f"{dest} is not an empty folder", "import into a new or empty folder")
        dest.mkdir(parents=True, exist_ok=True)
        dest = dest.resolve()
        try:
            self._copy(dest)
        except BaseException:
            _clear(dest, remove=created)
            raise
        log.info(
            "imported %s: %d files, %s", self.project.source, len(self._entries), human_size(self.project.total_bytes)
        )
        return self.project

    def _copy(self, dest: Path) -> None:
        total = 0
        if self.project.kind == "zip":
            try:
                with zipfile.ZipFile(self.project.source) as archive:
                    for entry in self._entries:
                        data = self._member(archive, entry, total)
                        total += len(data)
                        _put(dest, entry.rel, data)
            except _ZIP_ERRORS as exc:
                name = self.project.source.name
                raise ProjectImportError(f"{name} cannot be unpacked ({exc})", "zip the project again") from exc
            return
        for entry in self._entries:
            data = self._file(entry, total)
            total += len(data)
            _put(dest, entry.rel, data)

    def _member(self, archive: zipfile.ZipFile, entry: Entry, total: int) -> bytes:
        """A zip member's bytes, read in chunks and stopped at the caps whatever its header says."""
        cap = min(self.limits.max_file_bytes, self.limits.max_total_bytes - total)
        chunks, size = [], 0
        with archive.open(entry.origin) as member:
            while chunk := member.read(_CHUNK):
                size += len(chunk)
                if size > cap:
                    raise self._too_big(entry.rel, size, total)
                chunks.append(chunk)
        return b"".join(chunks)

    def _file(self, entry: Entry, total: int) -> bytes:
        parts = tuple(entry.origin.split("/"))
        try:
            with open_dir(self._root, parts[:-1], "inspect") as parent:
                if parent is None:
                    raise FileNotFoundError(entry.origin)
                _, data = read_at(parent, parts[-1])
        except (OSError, Refused) as exc:
            why = exc.reason if isinstance(exc, Refused) else (exc.strerror or str(exc))
            raise ProjectImportError(f"cannot read {entry.origin} in {self._root}: {why}", "check the folder") from exc
        if len(data) > min(self.limits.max_file_bytes, self.limits.max_total_bytes - total):
            raise self._too_big(entry.rel, len(data), total)
        return data

    def _too_big(self, rel: str, size: int, total: int) -> ProjectImportError:
        if size > self.limits.max_file_bytes:
            return file_too_big(rel, self.project.source.name, size, self.limits)
        return total_too_big(self.project.source.name, total + size, self.limits)


def _put(dest: Path, rel: str, data: bytes) -> None:
    parts = tuple(rel.split("/"))
    try:
        with open_dir(dest, parts[:-1], "create") as parent:
            assert parent is not None
            write_at(dest, parent, parts, data, force=False)
    except Refused as refused:
        raise ProjectImportError(f"{rel} cannot be written: {refused.reason}", "check the project's files") from None


def _clear(dest: Path, *, remove: bool) -> None:
    if remove:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for child in list(dest.iterdir()):
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _check_package(data: bytes, name: str) -> None:
    try:
        package = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProjectImportError(
            f"the package.json of {name} is not valid JSON ({exc})", "fix package.json, then try again"
        ) from exc
    if not isinstance(package, dict):
        raise ProjectImportError(f"the package.json of {name} is not a JSON object", "fix package.json, then try again")
    declared: set[str] = set()
    for key in ("dependencies", "devDependencies", "peerDependencies"):
        section = package.get(key)
        if isinstance(section, dict):
            declared |= set(section)
    for package_name, framework in FRAMEWORKS.items():
        if package_name in declared and not (package_name == "preact" and "react" in declared):
            raise ProjectImportError(
                f"{name} is a {framework} project (its package.json depends on {package_name})", _REACT_FIX
            )
    if "react" not in declared:
        raise ProjectImportError(
            f"{name} is not a React project (its package.json does not depend on react)", _REACT_FIX
        )


def _read_package(plan: ProjectPlan, entry: Entry) -> bytes:
    cap = plan.limits.max_package_json_bytes
    if entry.size > cap:
        raise file_too_big("package.json", plan.project.source.name, entry.size, plan.limits)
    if plan.project.kind == "folder":
        return plan._file(entry, 0)
    try:
        with zipfile.ZipFile(plan.project.source) as archive, archive.open(entry.origin) as member:
            data = member.read(cap + 1)
    except (*_ZIP_ERRORS, OSError) as exc:
        name = plan.project.source.name
        raise ProjectImportError(f"{name} cannot be unpacked ({exc})", "zip the project again") from exc
    if len(data) > cap:
        raise file_too_big("package.json", plan.project.source.name, len(data), plan.limits)
    return data


def load_project(
    source: Path, *, limits: ImportLimits | None = None, exclude: Iterable[Path] = (), any_framework: bool = False
) -> ProjectPlan:
    """Read and check a project folder or zip (nothing is written); `exclude`: folders inside it to leave out
    (an output folder under the project). Raises :class:`ProjectImportError`.

    `any_framework`: a site of any framework (Vue, Svelte, vanilla Vite), or plain static HTML with an index.html
    and no package.json, as another generator's output is judged (`webgen eval --start dev`); every other check
    is the same. The agent works on React projects only, so `build --from` and `render` never ask for it."""
    markers = {("package.json",), ("index.html",)} if any_framework else {("package.json",)}
    limits = limits or ImportLimits()
    source = Path(source).expanduser()
    if not source.exists():
        raise ProjectImportError(f"{source} does not exist", "check the path")
    source = source.resolve()
    skipped: list[str] = []
    if source.is_dir():
        kind: Literal["folder", "zip"] = "folder"
        entries, skipped = folder_entries(source, exclude, limits)
    elif source.is_file() and zipfile.is_zipfile(source):
        kind, entries = "zip", zip_entries(source, limits)
    elif source.is_file():
        raise ProjectImportError(f"{source.name} is not a zip file", "pass the project's folder or a .zip of it")
    else:
        raise ProjectImportError(f"{source} is not a folder or a file", "pass the project's folder or a .zip of it")
    root, top = source, None
    if not any(parts in markers for parts, _ in entries) and (top := unwrap(entries)) is not None:
        skipped = [s.removeprefix(f"{top}/") for s in skipped]
        skipped += [
            skip_reason(parts) or f"{e.rel}: outside the project's folder {top}"
            for parts, e in entries
            if parts[0] != top
        ]
        if kind == "folder":
            root = source / top
        entries = [
            (parts[1:], Entry("/".join(parts[1:]), e.size, "/".join(parts[1:]) if kind == "folder" else e.origin))
            for parts, e in entries
            if parts[0] == top
        ]
    kept = kept_entries(entries, source.name, limits, skipped)
    project = ImportedProject(
        source=source,
        kind=kind,
        name=source.name.removesuffix(".zip") if kind == "zip" else source.name,
        files=[e.rel for e in kept],
        total_bytes=sum(e.size for e in kept),
        skipped=sorted(set(skipped)),
        unwrapped=top,
    )
    plan = ProjectPlan(project=project, limits=limits, _root=root, _entries=kept)
    package = next((e for e in kept if e.rel == "package.json"), None)
    if any_framework:
        if package is None and not any(e.rel == "index.html" for e in kept):
            raise ProjectImportError(
                f"{project.name} has neither a package.json nor an index.html at its top",
                "pass the folder (or a zip of it) that holds the site",
            )
        return plan
    if package is None:
        raise ProjectImportError(
            f"{project.name} has no package.json at its top",
            "pass the folder (or a zip of it) that holds the site's package.json, index.html and src/",
        )
    _check_package(_read_package(plan, package), project.name)
    return plan


def import_project(
    source: Path,
    dest: Path,
    *,
    limits: ImportLimits | None = None,
    exclude: Iterable[Path] = (),
    any_framework: bool = False,
) -> ImportedProject:
    """Check `source` (a folder or a zip) and copy its files into `dest` (new or empty); see `load_project`."""
    return load_project(source, limits=limits, exclude=exclude, any_framework=any_framework).write(dest)
