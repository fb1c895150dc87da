"""Content-addressed blobs in SQL: the `BlobStore` the Workspace snapshots into, shared by every run."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterable

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from webgen.core.blobs import digest_of
from webgen.storage.models import BlobRow

_KNOWN_CACHE = 100_000


def insert_ignore(engine: Engine, table, rows: list[dict]):
    """INSERT ... ON CONFLICT DO NOTHING for the engine's dialect."""
    name = engine.dialect.name
    if name == "sqlite":
        return sqlite.insert(table).values(rows).on_conflict_do_nothing()
    if name == "postgresql":
        return postgresql.insert(table).values(rows).on_conflict_do_nothing()
    return insert(table).values(rows)  # other dialects: callers check has() first


def encode(data: bytes) -> tuple[str, bytes]:
    """zlib unless it does not pay (PNG and other compressed formats are stored raw)."""
    packed = zlib.compress(data, 6)
    return ("zlib", packed) if len(packed) < 0.9 * len(data) else ("raw", data)


def decode(codec: str, data: bytes) -> bytes:
    return zlib.decompress(data) if codec == "zlib" else bytes(data)


class SQLBlobStore:
    """has/put/get by sha256 digest; idempotent and safe with many writers (insert-or-ignore)."""

    def __init__(self, engine: Engine, *, reader: Engine | None = None) -> None:
        self.engine = engine
        self.reader = reader or engine
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def _remember(self, digests: Iterable[str]) -> None:
        with self._lock:
            if len(self._known) > _KNOWN_CACHE:
                self._known.clear()
            self._known.update(digests)

    def has(self, digest: str) -> bool:
        if digest in self._known:
            return True
        with self.reader.connect() as conn:
            found = conn.execute(select(BlobRow.digest).where(BlobRow.digest == digest)).first() is not None
        if found:
            self._remember([digest])
        return found

    def put(self, digest: str, data: bytes) -> None:
        self.put_many({digest: data})

    def put_many(self, blobs: dict[str, bytes]) -> None:
        missing = {d: b for d, b in blobs.items() if d not in self._known}
        if not missing:
            return
        rows = []
        for digest, data in missing.items():
            if digest_of(data) != digest:
                raise ValueError(f"blob content does not match its digest {digest}")
            codec, packed = encode(data)
            rows.append({"digest": digest, "size": len(data), "codec": codec, "data": packed})
        with self.engine.begin() as conn:
            conn.execute(insert_ignore(self.engine, BlobRow.__table__, rows))
        self._remember(missing)

    def add(self, data: bytes) -> str:
        """Store `data`; return its digest."""
        digest = digest_of(data)
        self.put(digest, data)
        return digest

    def get(self, digest: str) -> bytes:
        with self.reader.connect() as conn:
            row = conn.execute(select(BlobRow.codec, BlobRow.data).where(BlobRow.digest == digest)).first()
        if row is None:
            raise KeyError(digest)
        return decode(row.codec, row.data)

    def forget(self, digests: Iterable[str]) -> None:
        """Delete blobs (used by prune, after it proved nothing references them)."""
        digests = list(digests)
        with self._lock:
            self._known.difference_update(digests)
        for start in range(0, len(digests), 500):
            with self.engine.begin() as conn:
                conn.execute(delete(BlobRow).where(BlobRow.digest.in_(digests[start : start + 500])))
