"""LangGraph's checkpoints of the loop (resume only; training data lives in the store), thread = run id.

SQLite under home by default, or Postgres (the store's database when it is Postgres, or `checkpoint_url`),
so that every machine of a batch can resume any run. The serializer is told which typed state values it
may rebuild (LangGraph refuses unregistered types in strict mode).
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import time
import types
import typing
from collections.abc import Iterator
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from pydantic import BaseModel

from webgen.core.settings import Settings


def checkpoint_target(settings: Settings) -> str:
    """`checkpoint_url` (postgresql:// or sqlite:///PATH), else the store's database when it is Postgres,
    else a SQLite file under home."""
    if settings.checkpoint_url and settings.checkpoint_url.startswith("sqlite:///"):
        return settings.checkpoint_url.removeprefix("sqlite:///")
    url = settings.checkpoint_url or settings.resolved_database_url
    if url.startswith("postgresql"):
        return url.replace("postgresql+psycopg://", "postgresql://", 1)
    return str(settings.home / "checkpoints.sqlite")


def _models(annotation: object, found: set[type[BaseModel]]) -> None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation not in found:
            found.add(annotation)
            for field in annotation.model_fields.values():
                _models(field.annotation, found)
        return
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            _models(arg, found)


def serializer() -> JsonPlusSerializer:
    """LangGraph's serializer, allowed to rebuild every pydantic value the loop's state can hold."""
    from webgen.graph.state import AgentState

    found: set[type[BaseModel]] = set()
    for annotation in typing.get_type_hints(AgentState).values():
        _models(annotation, found)
    allowed = sorted((model.__module__, model.__name__) for model in found)
    return JsonPlusSerializer(allowed_msgpack_modules=allowed)


_SETUP_LOCK_KEY = 0x77656267656E  # "webgen": one advisory lock for creating the checkpoint tables


def _setup_postgres(saver: typing.Any, timeout_s: float = 120.0) -> None:
    """Create or migrate the checkpoint tables under a Postgres advisory lock: workers on several machines
    starting at once would otherwise race on CREATE TABLE (a duplicate pg_type key error).

    The lock is polled (`pg_try_advisory_lock`), never waited for inside a statement: a waiting statement is an
    open transaction, which the holder's CREATE INDEX CONCURRENTLY waits for in turn (a deadlock)."""
    deadline = time.monotonic() + timeout_s
    with saver.conn.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_try_advisory_lock(%s) AS locked", (_SETUP_LOCK_KEY,))
            row = cursor.fetchone()
            if (row["locked"] if isinstance(row, dict) else row[0]) is True:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the checkpoint tables' set-up lock was held for over {timeout_s:g}s")
            time.sleep(0.05)
        try:
            saver.setup()
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK_KEY,))


@contextlib.contextmanager
def checkpointer(settings: Settings) -> Iterator[BaseCheckpointSaver]:
    target = checkpoint_target(settings)
    if target.startswith("postgresql://"):
        from langgraph.checkpoint.postgres import PostgresSaver  # the `postgres` extra

        with PostgresSaver.from_conn_string(target) as saver:
            saver.serde = serializer()
            _setup_postgres(saver)
            yield saver
        return
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(target, check_same_thread=False, timeout=60)
    conn.execute("PRAGMA journal_mode=WAL")
    try:
        yield SqliteSaver(conn, serde=serializer())
    finally:
        conn.close()


def has_checkpoint(settings: Settings, run_id: str) -> bool:
    """Whether the run ever got as far as its first checkpoint."""
    with checkpointer(settings) as saver:
        return saver.get_tuple({"configurable": {"thread_id": run_id}}) is not None


def log_path(settings: Settings, run_id: str) -> Path:
    """Where a run's crash report (the traceback) goes."""
    return settings.home / "logs" / f"{run_id}.log"


def discard_run_files(settings: Settings, run_ids: list[str]) -> int:
    """Delete what a run leaves outside the store: its checkpoints, its folder under home and its crash log
    (`webgen db prune` calls this for the runs it deletes). Returns how many run folders were removed."""
    if not run_ids:
        return 0
    with checkpointer(settings) as saver:
        for run_id in run_ids:
            saver.delete_thread(run_id)
    removed = 0
    for run_id in run_ids:
        folder = settings.home / "runs" / run_id
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
        log_path(settings, run_id).unlink(missing_ok=True)
    return removed
