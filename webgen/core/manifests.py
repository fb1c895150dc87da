"""The snapshot format: a manifest blob mapping relative paths to file blobs (a snapshot id is its digest).

Written by the workspace, read by the store and by anyone restoring or exporting files.
"""

from __future__ import annotations

import json

from webgen.core.blobs import BlobStore, digest_of, is_digest

FORMAT = "webgen.workspace.manifest/1"


class _MessageKeyError(KeyError):
    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0]) if self.args else self.__class__.__name__


class UnknownSnapshot(_MessageKeyError):
    """The id is not in the blob store, or does not name a workspace manifest."""


def _path_ok(rel: object) -> bool:
    return isinstance(rel, str) and "\0" not in rel and all(p not in ("", ".", "..") for p in rel.split("/"))


def write_manifest(blobs: BlobStore, files: dict[str, str]) -> str:
    """Store the manifest of `files` (relative path -> blob digest); return its digest, the snapshot id."""
    data = json.dumps({"format": FORMAT, "files": files}, sort_keys=True, separators=(",", ":")).encode("utf-8")
    snapshot_id = digest_of(data)
    if not blobs.has(snapshot_id):
        blobs.put(snapshot_id, data)
    return snapshot_id


def read_manifest(blobs: BlobStore, snapshot_id: str) -> dict[str, str]:
    """A snapshot's files (relative path -> blob digest) from any blob store. Raises :class:`UnknownSnapshot`."""
    if not is_digest(snapshot_id):
        raise UnknownSnapshot(f"unknown snapshot id {snapshot_id!r}")
    try:
        doc = json.loads(blobs.get(snapshot_id))
    except KeyError:
        raise UnknownSnapshot(f"unknown snapshot id {snapshot_id!r}") from None
    except ValueError:
        doc = None
    files = doc.get("files") if isinstance(doc, dict) and doc.get("format") == FORMAT else None
    if not isinstance(files, dict) or not all(_path_ok(rel) and is_digest(d) for rel, d in files.items()):
        raise UnknownSnapshot(f"{snapshot_id} is not a valid workspace snapshot")
    return dict(files)
