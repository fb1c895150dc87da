"""The entries of a project to import, from a zip or a folder: names checked, skip rules applied, caps enforced.

Reading only: a zip's directory (names, kinds, declared sizes) or a folder's regular files (never following a
link). :mod:`webgen.feedback.site.project_import` checks the project and writes it.
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ConfigDict

from webgen.feedback.site.workspace import WorkspaceLimits

_WORKSPACE = WorkspaceLimits()
#: folders skipped wherever they are
SKIP_ANYWHERE = frozenset({"node_modules", ".git", "__MACOSX"})
#: folders skipped at the project's top: build output and caches
SKIP_TOP = frozenset({"dist", ".webgen", ".vite", "webgen-out", ".cache"})
LOCKFILES = frozenset(
    {"package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb", "bun.lock"}
)
#: files that may hold credentials: never copied into the store (``.env.example`` and the like are kept)
SECRET_FILES = frozenset({".npmrc", ".yarnrc", ".yarnrc.yml", ".pnpmrc"})
LITTER = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
_ZIP_FIX = "zip the project folder itself: entries relative to it, no '..', no absolute paths, no links"
SOURCES_FIX = "import only the site's sources (src/, public/, index.html, package.json and its configs)"
_DRIVE = re.compile(r"^[A-Za-z]:")


class ProjectImportError(ValueError):
    """A project that cannot be imported; ``message`` says what is wrong and ``fix`` what to do."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message}; {self.fix}"


class ImportLimits(BaseModel):
    """Caps on an imported project (node_modules and the other skipped entries are not counted). They leave the
    workspace's own limits room, so the agent can still add files to an imported site."""

    model_config = ConfigDict(frozen=True)
    max_files: int = _WORKSPACE.max_files * 3 // 4
    max_file_bytes: int = 8_000_000
    max_total_bytes: int = _WORKSPACE.max_total_bytes * 3 // 4
    max_path_len: int = _WORKSPACE.max_path_len
    max_depth: int = _WORKSPACE.max_depth
    #: entries a zip's directory may list, skipped ones included
    max_zip_entries: int = 100_000
    max_package_json_bytes: int = 1_000_000


def human_size(n: int) -> str:
    for unit, size in (("GB", 1_000_000_000), ("MB", 1_000_000), ("kB", 1_000)):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


def skip_reason(parts: tuple[str, ...]) -> str | None:
    """Why a file (given by its path components in the project) is left out, or None to copy it."""
    for i, part in enumerate(parts[:-1]):
        if part in SKIP_ANYWHERE or (i == 0 and part in SKIP_TOP):
            return "/".join(parts[: i + 1]) + "/: not part of the sources"
    name = parts[-1]
    where = "/".join(parts)
    if name in LITTER or name in SKIP_ANYWHERE:
        return f"{where}: not part of the sources"
    if len(parts) == 1 and name in LOCKFILES:
        return f"{where}: a lockfile (packages come from webgen's cache)"
    if len(parts) == 1 and (name in SECRET_FILES or _is_env_secret(name)):
        return f"{where}: may hold secrets"
    return None


def _is_env_secret(name: str) -> bool:
    """`.env.local` and `.env.<mode>.local`: Vite's place for one machine's secrets (never published). A plain
    `.env` or `.env.production` is part of the project (Vite inlines its `VITE_*` values in the build, as the
    site's own toolchain would: a Lovable + Supabase site commits its public URL and key there)."""
    return name.startswith(".env") and name.endswith(".local")


@dataclass(frozen=True)
class Entry:
    rel: str  # path in the project
    size: int  # as declared (zip) or as seen (folder)
    origin: str  # the zip member's name, or the path under the folder's root


def file_too_big(rel: str, where: str, size: int, limits: ImportLimits) -> ProjectImportError:
    return ProjectImportError(
        f"{rel} in {where} is {human_size(size)}, over the {human_size(limits.max_file_bytes)} limit for one file",
        "leave large media and data files out of the project, then try again",
    )


def total_too_big(where: str, total: int, limits: ImportLimits) -> ProjectImportError:
    return ProjectImportError(
        f"{where} holds {human_size(total)} of files, over the {human_size(limits.max_total_bytes)} limit", SOURCES_FIX
    )


# --- reading the entries ---------------------------------------------------------------------------


def _zip_parts(name: str, where: str) -> tuple[str, ...]:
    """A member name's components, refusing any name that could land outside the project."""
    if "\0" in name or any(ord(ch) < 32 for ch in name):
        raise ProjectImportError(f"{where} holds an entry with a control character in its name: {name!r}", _ZIP_FIX)
    unified = name.replace("\\", "/")
    if unified.startswith("/") or _DRIVE.match(unified):
        raise ProjectImportError(f"{where} holds an entry with an absolute path: {name!r}", _ZIP_FIX)
    parts = tuple(p for p in unified.split("/") if p not in ("", "."))
    if ".." in parts:
        raise ProjectImportError(f"{where} holds an entry that points outside the project: {name!r}", _ZIP_FIX)
    return parts


def zip_entries(source: Path, limits: ImportLimits) -> list[tuple[tuple[str, ...], Entry]]:
    where = source.name
    try:
        with zipfile.ZipFile(source) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        raise ProjectImportError(f"{where} is not a readable zip file ({exc})", "zip the project again") from exc
    if len(infos) > limits.max_zip_entries:
        raise ProjectImportError(
            f"{where} has {len(infos)} entries, over the limit of {limits.max_zip_entries}", SOURCES_FIX
        )
    found, seen = [], set()
    for info in infos:
        parts = _zip_parts(info.filename, where)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ProjectImportError(f"{where} holds a symbolic link: {info.filename!r}", _ZIP_FIX)
        if info.is_dir() or stat.S_ISDIR(mode) or not parts:
            continue
        if info.flag_bits & 0x1:
            raise ProjectImportError(
                f"{where} holds an encrypted entry: {info.filename!r}", "zip it without a password"
            )
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG):  # 0: no Unix mode (a zip made on Windows, or by writestr)
            raise ProjectImportError(f"{where} holds an entry that is not a regular file: {info.filename!r}", _ZIP_FIX)
        rel = "/".join(parts)
        if rel in seen:
            raise ProjectImportError(f"{where} holds {rel} twice", "zip the project again")
        seen.add(rel)
        found.append((parts, Entry(rel=rel, size=info.file_size, origin=info.filename)))
    return found


def folder_entries(
    root: Path, exclude: Iterable[Path], limits: ImportLimits
) -> tuple[list[tuple[tuple[str, ...], Entry]], list[str]]:
    """Regular files under `root` (links are listed as skipped, never followed), the skipped folders never walked
    into; the walk stops once it has seen far more files than a project may hold."""
    excluded = [p.resolve() for p in exclude]
    found: list[tuple[tuple[str, ...], Entry]] = []
    skipped: list[str] = []
    try:
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise ProjectImportError(f"cannot open {root}: {exc.strerror or exc}", "check its permissions") from exc
    try:
        for dirpath, dirnames, filenames, dfd in os.fwalk(".", dir_fd=root_fd, follow_symlinks=False):
            base = () if dirpath == "." else tuple(dirpath[2:].split("/"))
            kept = []
            for d in dirnames:
                parts = (*base, d)
                reason = skip_reason((*parts, ""))
                if stat.S_ISLNK(os.stat(d, dir_fd=dfd, follow_symlinks=False).st_mode):
                    skipped.append(f"{'/'.join(parts)}: a symbolic link (links are never followed)")
                elif reason is not None:
                    skipped.append(reason)
                elif root.joinpath(*parts) not in excluded:
                    kept.append(d)
            dirnames[:] = kept
            for name in filenames:
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                rel = "/".join((*base, name))
                if stat.S_ISLNK(st.st_mode):
                    skipped.append(f"{rel}: a symbolic link (links are never followed)")
                elif stat.S_ISREG(st.st_mode):
                    found.append(((*base, name), Entry(rel=rel, size=st.st_size, origin=rel)))
            if len(found) > 2 * limits.max_files:
                raise ProjectImportError(
                    f"{root.name} holds more than {limits.max_files} files (node_modules, dist and .git not counted)",
                    SOURCES_FIX,
                )
    except OSError as exc:
        raise ProjectImportError(f"cannot read {root}: {exc.strerror or exc}", "check its permissions") from exc
    finally:
        os.close(root_fd)
    return found, skipped


def unwrap(entries: list[tuple[tuple[str, ...], Entry]]) -> str | None:
    """The one top folder every file sits in (ignoring OS litter), when there is one and no package.json above it."""
    real = [parts for parts, _ in entries if parts[0] not in SKIP_ANYWHERE and parts[-1] not in LITTER]
    tops = {parts[0] for parts in real}
    if len(tops) == 1 and all(len(parts) > 1 for parts in real):
        return tops.pop()
    return None


def _check_path(rel: str, parts: tuple[str, ...], where: str, limits: ImportLimits) -> None:
    fix = "shorten the project's folder and file names, then try again"
    if len(rel) > limits.max_path_len:
        raise ProjectImportError(f"{rel} in {where} is a path over {limits.max_path_len} characters", fix)
    if len(parts) > limits.max_depth:
        raise ProjectImportError(
            f"{rel} in {where} is {len(parts)} levels deep, over the limit of {limits.max_depth}", fix
        )
    if any(len(part.encode("utf-8", "surrogateescape")) > 255 for part in parts):
        raise ProjectImportError(f"{rel} in {where} has a name longer than 255 bytes", fix)


def kept_entries(
    entries: list[tuple[tuple[str, ...], Entry]], where: str, limits: ImportLimits, skipped: list[str]
) -> list[Entry]:
    """The entries to copy, sorted, within the caps (the skipped ones' reasons are added to `skipped`)."""
    kept: list[Entry] = []
    total = 0
    for parts, entry in entries:
        reason = skip_reason(parts)
        if reason is not None:
            skipped.append(reason)
            continue
        _check_path(entry.rel, parts, where, limits)
        kept.append(entry)
        if len(kept) > limits.max_files:
            raise ProjectImportError(
                f"{where} holds more than {limits.max_files} files (node_modules, dist and .git not counted)",
                SOURCES_FIX,
            )
        if entry.size > limits.max_file_bytes:
            raise file_too_big(entry.rel, where, entry.size, limits)
        total += entry.size
        if total > limits.max_total_bytes:
            raise total_too_big(where, total, limits)
    _check_tree(kept, where)
    return sorted(kept, key=lambda e: e.rel)


def _check_tree(entries: list[Entry], where: str) -> None:
    """No file may stand where another file needs a folder (`a` and `a/b`)."""
    files = {e.rel for e in entries}
    for rel in files:
        path = PurePosixPath(rel)
        for parent in path.parents:
            if str(parent) in files:
                raise ProjectImportError(
                    f"{where} holds {parent} both as a file and as a folder", "zip the project again"
                )
