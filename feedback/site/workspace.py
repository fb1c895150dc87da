"""The workspace: the only code that writes model-generated files into a site folder.

Model output is untrusted. :meth:`Workspace.apply` validates every path (relative POSIX, no ``..``, no harness
folders, no scaffold-owned files, size/count/depth limits) and writes through directory descriptors opened one
component at a time with ``O_NOFOLLOW`` (:mod:`~webgen.feedback.site.safefs`), so no symlink (even one swapped in
concurrently) can redirect a write.
Writes that would not change a file leave it untouched, keeping its mtime so build caches stay warm.

:meth:`Workspace.snapshot` stores every regular file (not symlinks, not the ``ignored`` top-level folders such as
``node_modules`` and ``dist``) in a content-addressed :class:`~webgen.core.blobs.BlobStore`; the manifest is
itself a blob and its digest is the snapshot id, so identical trees get identical ids. A stat cache (device,
inode, size, mtime_ns, ctime_ns) skips unchanged files; files touched within ``RACY_WINDOW_NS`` of a snapshot are
not cached (git's "racily clean" rule), so a same-size rewrite inside one timestamp tick is still seen.
:meth:`Workspace.restore` makes the tree's files exactly a snapshot's, rewriting only files that differ.

POSIX only. Operations on one Workspace are serialised by a lock; it assumes it is the only writer of the tree.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from webgen.core.blobs import BlobStore, digest_of
from webgen.core.manifests import UnknownSnapshot, read_manifest, write_manifest
from webgen.feedback.site.safefs import (
    Refused,
    is_sole_file,
    iter_files,
    lstat_at,
    obstacle,
    open_dir,
    read_at,
    write_at,
)

__all__ = [
    "ApplyReport",
    "FileWrite",
    "MissingBlob",
    "Rejection",
    "UnknownSnapshot",
    "Workspace",
    "WorkspaceLimits",
    "WriteLike",
]

logger = logging.getLogger(__name__)

_DRIVE_RE = re.compile(r"[A-Za-z]:")
_StatKey = tuple[int, int, int, int, int]


class WorkspaceLimits(BaseModel):
    """Limits on model writes (sizes in UTF-8 bytes; depth counts path components, the file included)."""

    model_config = ConfigDict(frozen=True)
    max_file_bytes: int = 1_000_000
    max_files: int = 400
    max_total_bytes: int = 20_000_000
    max_path_len: int = 200
    max_depth: int = 12


class WriteLike(Protocol):
    """Anything with ``path`` and ``content`` (a :class:`FileWrite`, a parser's ``FileAction``, ...)."""

    @property
    def path(self) -> str: ...

    @property
    def content(self) -> str: ...


class FileWrite(BaseModel):
    """A whole-file write."""

    model_config = ConfigDict(frozen=True)
    path: str
    content: str


class Rejection(BaseModel):
    """A refused write; ``reason`` is a sentence meant for the model."""

    model_config = ConfigDict(frozen=True)
    path: str
    reason: str


class ApplyReport(BaseModel):
    """Outcome of :meth:`Workspace.apply` (paths normalised, each listed once)."""

    model_config = ConfigDict(frozen=True)
    written: list[str]
    unchanged: list[str]
    rejected: list[Rejection]


class MissingBlob(KeyError):
    """A snapshot references file content that the blob store does not have."""

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0]) if self.args else self.__class__.__name__


def _human(n: int) -> str:
    for unit, size in (("MB", 1_000_000), ("kB", 1_000)):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


def _over(n: int, limit: int) -> str:
    a, b = _human(n), _human(limit)
    if a == b:  # "1 MB, over the 1 MB limit" would be confusing
        a, b = f"{n:,} bytes", f"{limit:,}-byte"
    return f"{a}, over the {b} limit"


def _key(st: os.stat_result) -> _StatKey:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _split(path: object, lim: WorkspaceLimits) -> tuple[str, ...]:
    """Validate a model-supplied path's syntax and limits; return its normalised components."""
    if not isinstance(path, str):
        raise Refused("the path must be a string")
    if not path.strip():
        raise Refused("the path is empty")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
        raise Refused("the path contains a NUL or control character")
    if path.startswith(("/", "\\")) or _DRIVE_RE.match(path):
        raise Refused("the path is absolute; use a path relative to the project folder, like src/App.tsx")
    if "\\" in path:
        raise Refused("the path contains a backslash; use forward slashes, like src/App.tsx")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise Refused("the path is not valid text") from None
    parts = tuple(part for part in path.split("/") if part not in ("", "."))
    if ".." in parts:
        raise Refused("the path escapes the project folder ('..' is not allowed)")
    if not parts or path.endswith("/"):
        raise Refused("the path names a folder, not a file")
    if len(rel := "/".join(parts)) > lim.max_path_len:
        raise Refused(f"the path is {len(rel)} characters long, over the limit of {lim.max_path_len}")
    if len(parts) > lim.max_depth:
        raise Refused(f"the path is {len(parts)} levels deep, over the limit of {lim.max_depth}")
    if any(len(part.encode("utf-8")) > 255 for part in parts):
        raise Refused("a file or folder name in the path is longer than 255 bytes")
    return parts


class Workspace:
    """Guarded writer, reader, snapshotter and restorer of one site folder (see the module docstring)."""

    #: Files whose mtime/ctime is this close to a snapshot's start are not stat-cached (re-hashed next time).
    RACY_WINDOW_NS: int = 2_000_000_000

    def __init__(
        self,
        root: Path,
        blobs: BlobStore,
        *,
        limits: WorkspaceLimits = WorkspaceLimits(),  # noqa: B008 - immutable
        protected: frozenset[str] = frozenset(),
        ignored: frozenset[str] = frozenset({"node_modules", "dist", ".webgen", ".git"}),
    ) -> None:
        Path(root).mkdir(parents=True, exist_ok=True)
        self.root: Path = Path(root).resolve()
        self.blobs = blobs
        self.limits = limits
        self.protected = frozenset(protected)
        self.ignored = frozenset(ignored)
        self._ignored_cf = frozenset(name.casefold() for name in self.ignored)
        self._cache: dict[str, tuple[_StatKey, str]] = {}
        self._lock = threading.RLock()

    def _is_ignored(self, name: str) -> bool:
        """Whether a top-level name is one of the ``ignored`` (harness-managed) folders, ignoring case."""
        return name.casefold() in self._ignored_cf

    # ------------------------------------------------------------------ writes

    def apply(self, writes: Iterable[WriteLike]) -> ApplyReport:
        """Apply whole-file writes in order (last wins). A rejected write changes nothing; the rest still apply."""
        with self._lock:
            count = total = 0
            for *_, st in iter_files(self.root, self._is_ignored):
                count, total = count + 1, total + st.st_size
            written: dict[str, None] = {}
            unchanged: dict[str, None] = {}
            rejected: list[Rejection] = []
            for write in writes:
                raw = getattr(write, "path", None)
                try:
                    rel, changed, d_count, d_bytes = self._apply_one(raw, getattr(write, "content", None), count, total)
                except Refused as refused:
                    logger.debug("rejected write to %r: %s", raw, refused.reason)
                    rejected.append(Rejection(path=str(raw), reason=refused.reason))
                    continue
                count, total = count + d_count, total + d_bytes
                if changed:
                    written[rel] = None
                    unchanged.pop(rel, None)
                elif rel not in written:
                    unchanged[rel] = None
            return ApplyReport(written=list(written), unchanged=list(unchanged), rejected=rejected)

    def _apply_one(self, raw: object, content: object, count: int, total: int) -> tuple[str, bool, int, int]:
        lim = self.limits
        parts = _split(raw, lim)
        rel = "/".join(parts)
        if self._is_ignored(parts[0]):
            raise Refused(f"{parts[0]} is managed by the harness and cannot be written")
        if any(fnmatch.fnmatchcase(rel, pattern) for pattern in self.protected):
            raise Refused(f"{rel} is owned by the scaffold and cannot be changed")
        if not isinstance(content, str):
            raise Refused("the file content must be text")
        try:
            data = content.encode("utf-8")
        except UnicodeEncodeError:
            raise Refused("the file content is not valid text (it cannot be encoded as UTF-8)") from None
        if len(data) > lim.max_file_bytes:
            raise Refused(f"the file is {_over(len(data), lim.max_file_bytes)}")
        try:
            old: int | None = None
            with open_dir(self.root, parts[:-1], "inspect") as parent:
                st = None if parent is None else lstat_at(parent, parts[-1])
                if parent is not None and st is not None:
                    if not is_sole_file(st):
                        raise Refused(obstacle(self.root, parent, parts, want_dir=False))
                    old = st.st_size
                    if old == len(data) and read_at(parent, parts[-1])[1] == data:
                        return rel, False, 0, 0
            if old is None and count + 1 > lim.max_files:
                raise Refused(
                    f"the project already has {count} files; one more would exceed the limit of {lim.max_files} files"
                )
            if (new_total := total - (old or 0) + len(data)) > lim.max_total_bytes and len(data) > (old or 0):
                raise Refused(f"the project would total {_over(new_total, lim.max_total_bytes)}")
            with open_dir(self.root, parts[:-1], "create") as parent:
                assert parent is not None
                write_at(self.root, parent, parts, data, force=False)
        except OSError as exc:
            raise Refused(f"{rel} could not be written ({exc.strerror or exc})") from None
        return rel, True, int(old is None), len(data) - (old or 0)

    # ------------------------------------------------------------------ reads

    def read(self, rel: str) -> str | None:
        """A file's text; None when missing, not UTF-8, behind a symlink, in an ignored folder or an invalid path."""
        try:
            parts = _split(rel, self.limits)
            if self._is_ignored(parts[0]):
                return None
            with self._lock, open_dir(self.root, parts[:-1], "inspect") as parent:
                return None if parent is None else read_at(parent, parts[-1])[1].decode("utf-8")
        except (Refused, OSError, UnicodeDecodeError):
            return None

    def files(self) -> dict[str, str]:
        """Current UTF-8 text files (relative POSIX path -> content), excluding ignored folders."""
        out: dict[str, str] = {}
        with self._lock:
            for rel, dfd, name, _ in iter_files(self.root, self._is_ignored):
                try:
                    out[rel] = read_at(dfd, name)[1].decode("utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
        return dict(sorted(out.items()))

    # ------------------------------------------------------------------ snapshots

    def _digest(self, rel: str, dir_fd: int, name: str, st: os.stat_result, *, store: bool) -> tuple[str, _StatKey]:
        """A file's digest, from the stat cache when its stat key is unchanged (may raise OSError)."""
        hit = self._cache.get(rel)
        if hit is not None and hit[0] == _key(st):
            return hit[1], hit[0]
        fst, data = read_at(dir_fd, name)
        digest = digest_of(data)
        if store and not self.blobs.has(digest):
            self.blobs.put(digest, data)
        return digest, _key(fst)

    def snapshot(self) -> str:
        """Store every regular file and the manifest; return the manifest's digest (the snapshot id)."""
        with self._lock:
            horizon = time.time_ns() - self.RACY_WINDOW_NS
            files: dict[str, str] = {}
            cache: dict[str, tuple[_StatKey, str]] = {}
            for rel, dfd, name, st in iter_files(self.root, self._is_ignored):
                try:
                    digest, key = self._digest(rel, dfd, name, st, store=True)
                except OSError:  # vanished or replaced during the walk
                    continue
                files[rel] = digest
                if max(key[3], key[4]) < horizon:  # only settled files may skip hashing next time
                    cache[rel] = (key, digest)
            self._cache = cache
            return write_manifest(self.blobs, files)

    def manifest(self, snapshot_id: str) -> dict[str, str]:
        """The snapshot's files (relative path -> blob digest). Raises :class:`UnknownSnapshot`."""
        files = read_manifest(self.blobs, snapshot_id)
        if any(self._is_ignored(rel.split("/")[0]) for rel in files):
            raise UnknownSnapshot(f"{snapshot_id} is not a valid workspace snapshot")
        return files

    def restore(self, snapshot_id: str) -> None:
        """Make the tree's files exactly the snapshot's; matching files are not touched, ignored folders never.

        Symlinks, which snapshots do not record, are left alone unless they stand where a snapshot file or folder
        must go; then the link itself (never its target) is replaced.
        """
        with self._lock:
            target = self.manifest(snapshot_id)
            current: dict[str, str] = {}
            for rel, dfd, name, st in iter_files(self.root, self._is_ignored):
                try:
                    current[rel] = self._digest(rel, dfd, name, st, store=False)[0]
                except OSError:
                    continue
            payloads: dict[str, bytes] = {}
            for rel, digest in target.items():  # fetch everything first, so a missing blob changes nothing
                if current.get(rel) != digest:
                    try:
                        payloads[rel] = data = self.blobs.get(digest)
                    except KeyError:
                        raise MissingBlob(
                            f"snapshot {snapshot_id} needs blob {digest} for {rel}, which is "
                            "missing from the blob store"
                        ) from None
                    if digest_of(data) != digest:
                        raise ValueError(f"blob {digest} for {rel} is corrupt (its content does not match)")
            stale = [tuple(rel.split("/")) for rel in sorted(set(current) - set(target))]
            folders = {parts[:i] for parts in stale for i in range(1, len(parts))}
            for parts in [*stale, *sorted(folders, key=len, reverse=True)]:  # files, then folders deepest first
                try:
                    with open_dir(self.root, parts[:-1], "inspect") as parent:
                        if parent is not None:
                            (os.rmdir if parts in folders else os.unlink)(parts[-1], dir_fd=parent)
                except (Refused, OSError):  # folder not empty (kept), or already gone
                    pass
            for rel in sorted(payloads):
                parts = tuple(rel.split("/"))
                with open_dir(self.root, parts[:-1], "force") as parent:
                    assert parent is not None
                    write_at(self.root, parent, parts, payloads[rel], force=True)
            logger.info("restored %s: %d written, %d deleted", snapshot_id[:12], len(payloads), len(stale))
