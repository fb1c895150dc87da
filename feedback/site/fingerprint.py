"""Content digests of a site's folders, so that a step whose files did not change is not built or rendered again.

A digest covers every entry's relative path and bytes (a symlink by the text of its target, never followed), so
rewriting a file with the same content keeps it, and touching nothing but mtimes does too.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

#: What a build does not read: its output, its cache (.webgen/vite), the dependencies (a link: hashed by its target).
NOT_SOURCES = ("dist", "node_modules", ".git", ".webgen")


def tree_digest(root: Path, *, skip: Collection[str] = ()) -> str | None:
    """A sha256 over the folder's entries (top-level names in `skip` left out); None when it cannot be read."""
    digest = hashlib.sha256()
    try:
        _add(digest, root, "", set(skip))
    except OSError:
        return None
    return digest.hexdigest()


def _add(digest: Any, folder: Path, prefix: str, skip: set[str]) -> None:
    with os.scandir(folder) as entries:
        ordered = sorted(entries, key=lambda e: e.name)
    for entry in ordered:
        name = prefix + entry.name
        if entry.is_symlink():
            digest.update(b"L\0" + name.encode() + b"\0" + os.readlink(entry.path).encode() + b"\0")
        elif entry.name in skip and not prefix:
            continue
        elif entry.is_dir(follow_symlinks=False):
            digest.update(b"D\0" + name.encode() + b"\0")
            _add(digest, Path(entry.path), name + "/", skip)
        elif entry.is_file(follow_symlinks=False):
            content = hashlib.sha256(Path(entry.path).read_bytes()).hexdigest()
            digest.update(b"F\0" + name.encode() + b"\0" + content.encode() + b"\0")


def source_digest(site: Path) -> str | None:
    """What a build of `site` reads: every file but its output; the node_modules link by its target."""
    return tree_digest(site, skip=NOT_SOURCES)


def output_digest(site: Path) -> str | None:
    """What the renderer is served: the built `dist/` folder (None when there is none)."""
    dist = site / "dist"
    return tree_digest(dist) if dist.is_dir() else None
