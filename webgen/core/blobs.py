"""Content-addressed blob storage for workspace snapshots.

A blob is an immutable byte string named by the lowercase hex SHA-256 of its content. Stores only have to
implement :class:`BlobStore` (``has`` / ``put`` / ``get``); ``put`` is idempotent, so several writers may store
the same blob at the same time.

Two implementations live here:

* :class:`FileBlobStore` keeps each blob zlib-compressed in ``root/ab/cdef...`` (first two hex digits as a
  fan-out directory). Writes go to a unique temporary file in the same directory and are published with
  ``os.replace``, so readers never observe a partial blob and concurrent writers of the same digest are safe.
* :class:`MemoryBlobStore` keeps blobs in a dict; meant for tests and short-lived uses.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
import zlib
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = ["BlobStore", "FileBlobStore", "MemoryBlobStore", "digest_of", "is_digest"]

_DIGEST_RE = re.compile(r"[0-9a-f]{64}")


def digest_of(data: bytes) -> str:
    """Return the lowercase hex SHA-256 digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def is_digest(value: object) -> bool:
    """True when ``value`` is a well-formed digest (64 lowercase hex characters)."""
    return isinstance(value, str) and _DIGEST_RE.fullmatch(value) is not None


def _check_put(digest: str, data: bytes) -> None:
    if not is_digest(digest):
        raise ValueError(f"not a sha256 hex digest: {digest!r}")
    actual = digest_of(data)
    if actual != digest:
        raise ValueError(f"blob content does not match its digest: expected {digest}, got {actual}")


@runtime_checkable
class BlobStore(Protocol):
    """Minimal content-addressed store. Digests are sha256 hex strings (see :func:`digest_of`)."""

    def has(self, digest: str) -> bool:
        """True when the blob is stored."""
        ...

    def put(self, digest: str, data: bytes) -> None:
        """Store ``data`` under ``digest``. Idempotent; storing an existing blob is a no-op."""
        ...

    def get(self, digest: str) -> bytes:
        """Return the blob's bytes; raise ``KeyError`` when it is not stored."""
        ...


class MemoryBlobStore:
    """Dict-backed :class:`BlobStore`. Thread-safe; content is verified against the digest on ``put``."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def has(self, digest: str) -> bool:
        return digest in self._blobs

    def put(self, digest: str, data: bytes) -> None:
        _check_put(digest, data)
        with self._lock:
            self._blobs.setdefault(digest, bytes(data))

    def get(self, digest: str) -> bytes:
        try:
            return self._blobs[digest]
        except KeyError:
            raise KeyError(digest) from None

    def __len__(self) -> int:
        return len(self._blobs)


class FileBlobStore:
    """Directory-backed :class:`BlobStore`: ``root/ab/cdef...``, zlib-compressed, atomically published.

    Safe with concurrent writers (threads or processes, also sharing the directory): every writer uses its own
    temporary file and ``os.replace`` is atomic, and two writers of one digest write identical content.
    ``fsync=True`` additionally flushes each blob to stable storage before publishing it (slower).
    """

    def __init__(self, root: Path | str, *, level: int = 6, fsync: bool = False) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._level = level
        self._fsync = fsync

    def _path(self, digest: str) -> Path | None:
        if not is_digest(digest):
            return None
        return self.root / digest[:2] / digest[2:]

    def has(self, digest: str) -> bool:
        path = self._path(digest)
        return path is not None and path.is_file()

    def put(self, digest: str, data: bytes) -> None:
        _check_put(digest, data)
        path = self._path(digest)
        assert path is not None  # validated by _check_put
        if path.is_file():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = zlib.compress(data, self._level)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                if self._fsync:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def get(self, digest: str) -> bytes:
        path = self._path(digest)
        if path is None:
            raise KeyError(digest)
        try:
            payload = path.read_bytes()
        except FileNotFoundError:
            raise KeyError(digest) from None
        try:
            return zlib.decompress(payload)
        except zlib.error as exc:
            raise ValueError(f"blob {digest} in {self.root} is corrupt: {exc}") from exc
