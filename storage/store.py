"""TrajectoryStore: every task, run and step in SQL; SQLite by default, any SQLAlchemy URL (Postgres) works.

Writes are short transactions, each step is written whole or not at all, and `add_step` is idempotent
per (run, index), so a run killed at any point resumes with no lost or duplicated step.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from webgen.core.blobs import digest_of
from webgen.core.manifests import read_manifest
from webgen.core.text import safe_data
from webgen.storage import db
from webgen.storage.blobs import SQLBlobStore, insert_ignore
from webgen.storage.models import BlobRow, JudgmentRow, RunRow, ScreenshotRow, SnapshotRow, StepRow, TaskRow, utcnow
from webgen.storage.values import Run, RunMode, RunStatus, Screenshot, Step, StepRecord, Task, TaskIn

log = logging.getLogger(__name__)


class StoreError(RuntimeError):
    """A request the store cannot satisfy (unknown run, conflicting step...)."""


class DuplicateStep(StoreError):
    """A different step is already stored at this (run, index)."""


def _message_bytes(message: dict[str, Any]) -> bytes:
    return json.dumps(message, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class TrajectoryStore:
    """The one store every layer uses. Safe to share between threads; one per process."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine: Engine = db.make_engine(url)
        # Reads never take SQLite's write lock (WAL lets them run beside writers); on other backends it is one engine.
        self.reader: Engine = db.make_engine(url, immediate=False) if db.is_sqlite(url) else self.engine
        if migrate:
            db.upgrade(self.engine)
        self.blobs = SQLBlobStore(self.engine, reader=self.reader)

    @classmethod
    def from_settings(cls, settings: Any) -> TrajectoryStore:
        return cls(settings.resolved_database_url)

    def close(self) -> None:
        self.engine.dispose()
        self.reader.dispose()

    def __enter__(self) -> TrajectoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- tasks ----------------------------------------------------------------------------------
    def add_tasks(self, tasks: Iterable[TaskIn], *, update_existing: bool = False) -> tuple[int, int]:
        """Insert tasks in one transaction; existing (source, external_id) are kept or updated.
        Returns (inserted, updated_or_kept)."""
        tasks = list(tasks)
        inserted = kept = 0
        with Session(self.engine) as session, session.begin():
            for start in range(0, len(tasks), 500):
                chunk = tasks[start : start + 500]
                keys = {(t.source, t.external_id) for t in chunk}
                existing = {
                    (row.source, row.external_id): row
                    for row in session.scalars(
                        select(TaskRow).where(
                            TaskRow.source.in_({s for s, _ in keys}), TaskRow.external_id.in_({e for _, e in keys})
                        )
                    )
                }
                for task in chunk:
                    row = existing.get((task.source, task.external_id))
                    if row is None:
                        row = TaskRow(**task.model_dump())
                        session.add(row)
                        existing[(task.source, task.external_id)] = row
                        inserted += 1
                    else:
                        kept += 1
                        if update_existing:
                            for key, value in task.model_dump().items():
                                setattr(row, key, value)
        return inserted, kept

    def ensure_task(self, task: TaskIn) -> Task:
        self.add_tasks([task])
        found = self.find_task(task.source, task.external_id)
        assert found is not None
        return found

    def find_task(self, source: str, external_id: str) -> Task | None:
        with Session(self.reader) as session:
            row = session.scalar(select(TaskRow).where(TaskRow.source == source, TaskRow.external_id == external_id))
            return Task.model_validate(row) if row else None

    def get_task(self, task_id: int) -> Task:
        with Session(self.reader) as session:
            row = session.get(TaskRow, task_id)
            if row is None:
                raise StoreError(f"no task {task_id}")
            return Task.model_validate(row)

    def list_tasks(self, source: str | None = None, limit: int | None = None, offset: int = 0) -> list[Task]:
        query = select(TaskRow).order_by(TaskRow.id).offset(offset).limit(limit)
        if source:
            query = query.where(TaskRow.source == source)
        with Session(self.reader) as session:
            return [Task.model_validate(row) for row in session.scalars(query)]

    # -- runs -----------------------------------------------------------------------------------
    def start_run(
        self,
        task_id: int,
        mode: RunMode,
        *,
        config: dict | None = None,
        models: dict | None = None,
        run_id: str | None = None,
    ) -> str:
        run_id = run_id or uuid.uuid4().hex
        with Session(self.engine) as session, session.begin():
            session.add(RunRow(id=run_id, task_id=task_id, mode=mode, config=config or {}, models=models or {}))
        return run_id

    def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        *,
        best_step: int | None = None,
        error: str | None = None,
        timings: dict | None = None,
        cost: float | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status, "best_step": best_step, "error": error}
        values["finished_at"] = None if status == "running" else utcnow()
        if timings is not None:
            values["timings"] = timings
        if cost is not None:
            values["cost"] = cost
        with self.engine.begin() as conn:
            if conn.execute(update(RunRow).where(RunRow.id == run_id).values(**values)).rowcount == 0:
                raise StoreError(f"no run {run_id}")

    def get_run(self, run_id: str) -> Run:
        with Session(self.reader) as session:
            row = session.get(RunRow, run_id)
            if row is None:
                raise StoreError(f"no run {run_id}")
            return Run.model_validate(row)

    def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        task_id: int | None = None,
        before: datetime | None = None,
        limit: int | None = None,
    ) -> list[Run]:
        query = select(RunRow).order_by(RunRow.started_at).limit(limit)
        if status:
            query = query.where(RunRow.status == status)
        if task_id is not None:
            query = query.where(RunRow.task_id == task_id)
        if before is not None:
            query = query.where(RunRow.started_at < before)
        with Session(self.reader) as session:
            return [Run.model_validate(row) for row in session.scalars(query)]

    # -- steps ----------------------------------------------------------------------------------
    def add_step(self, run_id: str, record: StepRecord) -> int:
        """Write one step (its messages, screenshots and totals) atomically; returns the step id.
        Writing the same step again (a resumed run replaying its last write) returns the stored id."""
        refs = record.prompt_refs or self.put_messages(record.prompt)
        shots = self._put_screenshots(record)
        observation = safe_data(record.observation.model_dump(mode="json")) if record.observation else {}
        obs = record.observation
        has_error = record.has_error
        if has_error is None:
            has_error = bool(record.errors) or bool(obs and obs.has_error)
        # text from models and pages is made storable here, once, for every backend
        fields = safe_data(record.model_dump(exclude={"prompt", "prompt_refs", "observation", "has_error"}))
        row = StepRow(
            run_id=run_id,
            prompt_refs=refs,
            observation=observation,
            has_error=has_error,
            build_ok=obs.build.ok if obs else None,
            served=obs.served if obs else None,
            rendered=obs.rendered if obs else None,
            **fields,
        )
        with Session(self.engine) as session, session.begin():
            existing = session.scalar(select(StepRow).where(StepRow.run_id == run_id, StepRow.index == record.index))
            if existing is not None:
                if existing.completion == record.completion and existing.kind == record.kind:
                    return existing.id
                raise DuplicateStep(f"run {run_id} already has a different step {record.index}")
            if session.get(RunRow, run_id) is None:
                raise StoreError(f"no run {run_id}")
            session.add(row)
            session.flush()
            session.add_all(ScreenshotRow(step_id=row.id, route=r, kind=k, blob=d) for r, k, d in shots)
            session.execute(
                update(RunRow)
                .where(RunRow.id == run_id)
                .values(
                    tokens_prompt=RunRow.tokens_prompt + record.tokens_prompt,
                    tokens_completion=RunRow.tokens_completion + record.tokens_completion,
                )
            )
            return row.id

    def put_messages(self, messages: Sequence[dict[str, Any]]) -> list[str]:
        """Store each message once (by content) and return the digests: steps and the loop's checkpoints
        keep only these references."""
        encoded = [_message_bytes(safe_data(m)) for m in messages]
        blobs = {digest_of(data): data for data in encoded}
        self.blobs.put_many(blobs)
        return [digest_of(data) for data in encoded]

    def _put_screenshots(self, record: StepRecord) -> list[tuple[str, str, str]]:
        if record.observation is None:
            return []
        shots = []
        for page in record.observation.pages:
            for kind, png, path in (
                ("viewport", page.screenshot, page.screenshot_path),
                ("full", page.full_screenshot, page.full_screenshot_path),
            ):
                if png is None and path is not None and path.is_file():  # the loop keeps screenshots as paths
                    png = path.read_bytes()
                if png:
                    shots.append((page.route, kind, self.blobs.add(png)))
        return shots

    def steps(self, run_id: str) -> list[Step]:
        with Session(self.reader) as session:
            rows = session.scalars(select(StepRow).where(StepRow.run_id == run_id).order_by(StepRow.index))
            return [Step.model_validate(row) for row in rows]

    def set_rewards(self, run_id: str, rewards: dict[int, float | None]) -> None:
        """Store each step's reward (e.g. the Step-GRPO step rewards computed when a run ends)."""
        with self.engine.begin() as conn:
            for index, reward in rewards.items():
                conn.execute(
                    update(StepRow).where(StepRow.run_id == run_id, StepRow.index == index).values(reward=reward)
                )

    def get_step(self, run_id: str, index: int) -> Step:
        """One stored step, without loading the rest of its run."""
        with Session(self.reader) as session:
            row = session.scalar(select(StepRow).where(StepRow.run_id == run_id, StepRow.index == index))
            if row is None:
                raise StoreError(f"run {run_id} has no step {index}")
            return Step.model_validate(row)

    def next_index(self, run_id: str) -> int:
        """The index the next step of a (resumed) run gets."""
        with self.reader.connect() as conn:
            last = conn.scalar(select(func.max(StepRow.index)).where(StepRow.run_id == run_id))
        return 0 if last is None else last + 1

    def messages(self, refs: Sequence[str]) -> list[dict[str, Any]]:
        return [json.loads(self.blobs.get(ref)) for ref in refs]

    def screenshots(self, step_id: int) -> list[Screenshot]:
        with Session(self.reader) as session:
            rows = list(session.scalars(select(ScreenshotRow).where(ScreenshotRow.step_id == step_id)))
        return [Screenshot(route=r.route, kind=r.kind, png=self.blobs.get(r.blob)) for r in rows]

    # -- snapshots ------------------------------------------------------------------------------
    def register_snapshot(self, snapshot_id: str) -> None:
        """Record a Workspace snapshot (its manifest and files must already be blobs here)."""
        files = read_manifest(self.blobs, snapshot_id)
        query = select(func.coalesce(func.sum(BlobRow.size), 0)).where(BlobRow.digest.in_(set(files.values())))
        with self.reader.connect() as conn:
            size = conn.scalar(query)
        row = {"id": snapshot_id, "files": len(files), "bytes": int(size or 0), "created_at": utcnow()}
        with self.engine.begin() as conn:
            conn.execute(insert_ignore(self.engine, SnapshotRow.__table__, [row]))

    def manifest(self, snapshot_id: str) -> dict[str, str]:
        return read_manifest(self.blobs, snapshot_id)

    # -- judgment cache -------------------------------------------------------------------------
    @staticmethod
    def judgment_key(model: str, prompt_hash: str, image_hash: str) -> str:
        return digest_of(f"{model}\0{prompt_hash}\0{image_hash}".encode())

    def get_judgment(self, model: str, prompt_hash: str, image_hash: str) -> dict[str, Any] | None:
        key = self.judgment_key(model, prompt_hash, image_hash)
        with self.reader.connect() as conn:
            return conn.scalar(select(JudgmentRow.value).where(JudgmentRow.key == key))

    def put_judgment(self, model: str, prompt_hash: str, image_hash: str, value: dict[str, Any]) -> None:
        row = {
            "key": self.judgment_key(model, prompt_hash, image_hash),
            "model": model,
            "prompt_hash": prompt_hash,
            "image_hash": image_hash,
            "value": value,
            "created_at": utcnow(),
        }
        with self.engine.begin() as conn:
            conn.execute(insert_ignore(self.engine, JudgmentRow.__table__, [row]))
