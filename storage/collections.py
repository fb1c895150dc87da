"""Batch collections: a named set of (task, rollout) pairs, each held by at most one run in the store.

The table (`collection_runs`, migration 0003) has one row per (collection, task, rollout). A row is `pending`
until a worker takes it, `running` while it runs, then `finished`, `failed` (out of retries) or `interrupted`
(cancelled, or stopped with the collection: a re-run resumes its run). `attempts` counts the times a worker
took it; the run id stays the same across attempts, so a retry resumes the same run and nothing is duplicated.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
    update,
)

from webgen.storage.blobs import insert_ignore
from webgen.storage.models import Base, utcnow
from webgen.storage.store import TrajectoryStore

EntryStatus = Literal["pending", "running", "finished", "failed", "interrupted"]

collection_runs = Table(
    "collection_runs",
    Base.metadata,  # one metadata for every table of the store: Alembic's autogenerate sees them all
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("collection", String(128), nullable=False),
    Column("task_id", Integer, ForeignKey("tasks.id"), nullable=False),
    Column("rollout", Integer, nullable=False),
    Column("mode", String(16), nullable=False),
    Column("run_id", String(64)),
    Column("attempts", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", Text),
    Column("updated_at", DateTime(timezone=True)),
    UniqueConstraint("collection", "task_id", "rollout", name="uq_collection_runs_pair"),
    Index("ix_collection_runs_collection_status", "collection", "status"),
)


class Entry(BaseModel):
    id: int
    collection: str
    task_id: int
    rollout: int
    mode: str
    run_id: str | None = None
    attempts: int = 0
    status: EntryStatus = "pending"
    error: str | None = None


def plan(store: TrajectoryStore, name: str, task_ids: Iterable[int], rollouts: int, mode: str) -> int:
    """Add the missing (task, rollout) pairs (existing ones are kept as they are); returns how many were added."""
    rows = [
        {"collection": name, "task_id": t, "rollout": r, "mode": mode, "attempts": 0, "status": "pending"}
        for t in task_ids
        for r in range(rollouts)
    ]
    if not rows:
        return 0
    before = len(entries(store, name))
    with store.engine.begin() as conn:
        for start in range(0, len(rows), 500):
            conn.execute(insert_ignore(store.engine, collection_runs, rows[start : start + 500]))
    return len(entries(store, name)) - before


def entries(store: TrajectoryStore, name: str) -> list[Entry]:
    query = select(collection_runs).where(collection_runs.c.collection == name)
    with store.reader.connect() as conn:
        rows = conn.execute(query.order_by(collection_runs.c.task_id, collection_runs.c.rollout)).mappings()
        return [Entry.model_validate(dict(row)) for row in rows]


def todo(
    store: TrajectoryStore, name: str, task_ids: Iterable[int], rollouts: int, *, retry_failed: bool = False
) -> list[Entry]:
    """The pairs of these tasks and rollouts still to run: everything not finished (not failed either, unless
    `retry_failed`). A `running` row here was left by a collector that died: its run is resumed."""
    wanted = set(task_ids)
    skip = {"finished"} | (set() if retry_failed else {"failed"})
    return [e for e in entries(store, name) if e.task_id in wanted and e.rollout < rollouts and e.status not in skip]


def take(store: TrajectoryStore, entry_id: int, run_id: str) -> None:
    """A worker takes the pair: its run id is fixed and one more attempt is counted."""
    values = {
        "run_id": run_id,
        "status": "running",
        "attempts": collection_runs.c.attempts + 1,
        "updated_at": utcnow(),
    }
    with store.engine.begin() as conn:
        conn.execute(update(collection_runs).where(collection_runs.c.id == entry_id).values(**values))


def rebind(store: TrajectoryStore, entry_id: int, run_id: str) -> None:
    """A new run took the pair (its earlier run died before it had a step)."""
    with store.engine.begin() as conn:
        conn.execute(update(collection_runs).where(collection_runs.c.id == entry_id).values(run_id=run_id))


def mark(store: TrajectoryStore, entry_id: int, status: EntryStatus, error: str | None = None) -> None:
    values = {"status": status, "error": error, "updated_at": utcnow()}
    with store.engine.begin() as conn:
        conn.execute(update(collection_runs).where(collection_runs.c.id == entry_id).values(**values))


def summary(store: TrajectoryStore, name: str) -> dict[str, int]:
    """How many pairs are in each status (every status present, zeros included)."""
    counts = Counter(e.status for e in entries(store, name))
    return {s: counts.get(s, 0) for s in ("pending", "running", "finished", "failed", "interrupted")}


def names(store: TrajectoryStore) -> list[str]:
    with store.reader.connect() as conn:
        query = select(collection_runs.c.collection).distinct().order_by(collection_runs.c.collection)
        return list(conn.scalars(query))
