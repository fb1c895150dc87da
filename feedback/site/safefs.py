"""Safe filesystem operations relative to a root folder, for trees that untrusted content may have shaped.

Every path is walked one component at a time through directory descriptors opened with ``O_NOFOLLOW``, so no
symlink (even one swapped in concurrently) can redirect a read or write outside the tree. Files are written only
when they are single-link regular files, never through a symlink or into a hard link. When an existing entry
blocks an operation, :class:`Refused` carries a sentence explaining why.

POSIX only. Paths are given as sequences of already validated components; validation is the caller's policy.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

__all__ = [
    "DirMode",
    "Refused",
    "is_sole_file",
    "iter_files",
    "lstat_at",
    "mkdir_at",
    "obstacle",
    "open_dir",
    "open_root",
    "read_at",
    "remove_entry",
    "write_at",
]

DirMode = Literal["inspect", "create", "force"]

_ROOT_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NOT_A_DIR = (errno.ELOOP, errno.ENOTDIR)


class Refused(Exception):
    """An operation was refused; ``reason`` is a sentence explaining why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------------- entries


def open_root(root: Path) -> int:
    """Open the (trusted, already resolved) root folder."""
    return os.open(root, _ROOT_FLAGS)


def lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    """``lstat`` of ``name`` in ``dir_fd``; None when it does not exist."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def is_sole_file(st: os.stat_result) -> bool:
    """Whether ``st`` is a regular file with no other hard link (safe to overwrite in place)."""
    return stat.S_ISREG(st.st_mode) and st.st_nlink == 1


def remove_entry(dir_fd: int, name: str) -> None:
    """Remove ``name`` in ``dir_fd`` whatever it is (a folder with its contents); missing is fine."""
    st = lstat_at(dir_fd, name)
    if st is not None and stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=dir_fd)
    elif st is not None:
        os.unlink(name, dir_fd=dir_fd)


def mkdir_at(dir_fd: int, name: str) -> int:
    """Create folder ``name`` in ``dir_fd`` unless it exists; return an fd for it, opened without following links."""
    try:
        os.mkdir(name, 0o755, dir_fd=dir_fd)
    except FileExistsError:
        pass
    return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)


def obstacle(root: Path, dir_fd: int, parts: Sequence[str], *, want_dir: bool) -> str:
    """Explain why the existing entry ``parts`` (named ``parts[-1]`` in ``dir_fd``) blocks a write."""
    rel = "/".join(parts)
    st = lstat_at(dir_fd, parts[-1])
    if st is None:
        return f"{rel} changed while it was being written; try again"
    if stat.S_ISLNK(st.st_mode):
        where = "inside" if _link_stays_inside(root, dir_fd, parts) else "outside"
        return (
            f"{rel} is a symlink pointing {where} the project; the harness never writes through symlinks, "
            "wherever they point"
        )
    if stat.S_ISDIR(st.st_mode) != want_dir:
        return f"{rel} is a folder, not a file" if not want_dir else f"{rel} is a file, so it cannot hold files"
    if not stat.S_ISREG(st.st_mode):
        return f"{rel} is not a regular file"
    return f"{rel} is hard-linked to another file and cannot be written"


def _link_stays_inside(root: Path, dir_fd: int, parts: Sequence[str]) -> bool:
    try:
        target = os.path.realpath(root.joinpath(*parts[:-1], os.readlink(parts[-1], dir_fd=dir_fd)))
        return os.path.commonpath([target, root]) == str(root)
    except (OSError, ValueError):
        return False


# ---------------------------------------------------------------------- folders


@contextmanager
def open_dir(root: Path, parents: Sequence[str], mode: DirMode) -> Iterator[int | None]:
    """Yield an fd for ``root/parents``, opened one component at a time without following symlinks.

    "inspect" yields None when a folder is missing and refuses obstacles (a symlink or file where a folder
    should be); "create" makes missing folders and refuses obstacles; "force" replaces obstacles.
    """
    fd = open_root(root)
    try:
        for i in range(len(parents)):
            child = _open_step(root, fd, parents[: i + 1], mode)
            if child is None:
                break
            os.close(fd)
            fd = child
        else:
            yield fd
            return
    finally:
        os.close(fd)
    yield None  # "inspect" found a folder missing


def _open_step(root: Path, fd: int, parts: Sequence[str], mode: DirMode) -> int | None:
    """Open folder ``parts[-1]`` in ``fd`` as ``mode`` says; None when it is missing in "inspect" mode."""
    name = parts[-1]
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=fd)
    except FileNotFoundError:
        if mode == "inspect":
            return None
    except OSError as exc:
        if exc.errno not in _NOT_A_DIR:
            raise
        if mode != "force":
            raise Refused(obstacle(root, fd, parts, want_dir=True)) from None
        remove_entry(fd, name)
    return mkdir_at(fd, name)


def iter_files(root: Path, skip_top: Callable[[str], bool]) -> Iterator[tuple[str, int, str, os.stat_result]]:
    """Yield ``(rel, dir_fd, name, lstat)`` per regular file, skipping symlinks and top-level names ``skip_top`` picks.

    ``dir_fd`` is valid only until the generator advances.
    """
    root_fd = open_root(root)
    try:
        for dirpath, dirnames, filenames, dfd in os.fwalk(".", dir_fd=root_fd, follow_symlinks=False):
            top = dirpath == "."
            if top:
                dirnames[:] = [d for d in dirnames if not skip_top(d)]
            for name in filenames:
                if not (top and skip_top(name)):
                    st = lstat_at(dfd, name)
                    if st is not None and stat.S_ISREG(st.st_mode):
                        yield (name if top else f"{dirpath[2:]}/{name}"), dfd, name, st
    finally:
        os.close(root_fd)


# ---------------------------------------------------------------------- file contents


def read_at(dir_fd: int, name: str) -> tuple[os.stat_result, bytes]:
    """Read a regular file without following a symlink; returns its fstat (taken before reading) and bytes."""
    with os.fdopen(os.open(name, _READ_FLAGS, dir_fd=dir_fd), "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, f"{name} is not a regular file")
        return st, fh.read()


def write_at(root: Path, dir_fd: int, parts: Sequence[str], data: bytes, *, force: bool) -> None:
    """Write ``data`` to ``parts[-1]`` in ``dir_fd``; never follows a symlink or writes into a hard link.

    With ``force``, whatever stands there (a symlink, folder or hard link) is replaced first; otherwise such an
    obstacle raises :class:`Refused`.
    """
    name = parts[-1]
    if force and (st := lstat_at(dir_fd, name)) is not None and not is_sole_file(st):
        remove_entry(dir_fd, name)
    try:
        fd = os.open(name, _WRITE_FLAGS, 0o644, dir_fd=dir_fd)  # no O_TRUNC: check the inode first
    except OSError as exc:
        if exc.errno in (*_NOT_A_DIR, errno.EISDIR, errno.ENXIO):
            raise Refused(obstacle(root, dir_fd, parts, want_dir=False)) from None
        raise
    try:
        if not is_sole_file(os.fstat(fd)):
            raise Refused(obstacle(root, dir_fd, parts, want_dir=False))
        os.ftruncate(fd, 0)
        _write_all(fd, data)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
