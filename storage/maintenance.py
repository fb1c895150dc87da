"""Store statistics and pruning (deleting runs frees the blobs nothing else references)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from webgen.core.manifests import UnknownSnapshot, read_manifest
from webgen.storage.models import BlobRow, JudgmentRow, RunRow, ScreenshotRow, SnapshotRow, StepRow, TaskRow
from webgen.storage.store import TrajectoryStore
from webgen.storage.values import PruneReport, RunStatus


def stats(store: TrajectoryStore) -> dict[str, Any]:
    with Session(store.reader) as session:
        count = lambda model: session.scalar(select(func.count()).select_from(model))  # noqa: E731
        runs = dict(session.execute(select(RunRow.status, func.count()).group_by(RunRow.status)).all())
        blob_bytes = session.execute(
            select(func.coalesce(func.sum(BlobRow.size), 0), func.coalesce(func.sum(func.length(BlobRow.data)), 0))
        ).one()
        return {
            "url": store.engine.url.render_as_string(hide_password=True),
            "tasks": count(TaskRow),
            "runs": runs,
            "steps": count(StepRow),
            "snapshots": count(SnapshotRow),
            "screenshots": count(ScreenshotRow),
            "judgments": count(JudgmentRow),
            "blobs": count(BlobRow),
            "blob_bytes_raw": int(blob_bytes[0]),
            "blob_bytes_stored": int(blob_bytes[1]),
        }


def _referenced(store: TrajectoryStore, session: Session, excluding: set[int]) -> tuple[set[str], set[str]]:
    """(blob digests, snapshot ids) referenced by the steps other than `excluding`, and their screenshots."""
    blobs: set[str] = set()
    snapshots: set[str] = set()
    for step_id, blob in session.execute(select(ScreenshotRow.step_id, ScreenshotRow.blob)):
        if step_id not in excluding:
            blobs.add(blob)
    query = select(StepRow.id, StepRow.prompt_refs, StepRow.base_snapshot_id, StepRow.snapshot_id)
    for step_id, refs, base, snap in session.execute(query):
        if step_id not in excluding:
            blobs.update(refs)
            snapshots.update(s for s in (base, snap) if s)
    for snapshot_id in snapshots:
        blobs.add(snapshot_id)
        try:
            blobs.update(read_manifest(store.blobs, snapshot_id).values())
        except UnknownSnapshot:
            continue
    return blobs, snapshots


def prune(
    store: TrajectoryStore,
    *,
    run_ids: list[str] | None = None,
    status: RunStatus | None = None,
    before: datetime | None = None,
    dry_run: bool = False,
) -> PruneReport:
    """Delete the selected runs with their steps and screenshots, then every blob and snapshot nothing
    references any more. Run it while no writer is active (a writer's in-flight blobs look unreferenced)."""
    if not (run_ids or status or before):
        raise ValueError("choose what to prune: run ids, a status, or a date")
    query = select(RunRow.id)
    if run_ids:
        query = query.where(RunRow.id.in_(run_ids))
    if status:
        query = query.where(RunRow.status == status)
    if before:
        query = query.where(RunRow.started_at < before)
    report = PruneReport(dry_run=dry_run)
    with Session(store.engine) as session, session.begin():
        victims = list(session.scalars(query))
        step_ids = set(session.scalars(select(StepRow.id).where(StepRow.run_id.in_(victims))))
        keep_blobs, keep_snapshots = _referenced(store, session, excluding=step_ids)
        orphan_snapshots = list(set(session.scalars(select(SnapshotRow.id))) - keep_snapshots)
        orphans = [
            (d, size) for d, size in session.execute(select(BlobRow.digest, BlobRow.size)) if d not in keep_blobs
        ]
        report.runs, report.steps, report.run_ids = len(victims), len(step_ids), list(victims)
        report.snapshots, report.blobs = len(orphan_snapshots), len(orphans)
        report.bytes_freed = sum(size for _, size in orphans)
        if dry_run:
            return report
        ids = list(step_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            session.execute(delete(ScreenshotRow).where(ScreenshotRow.step_id.in_(chunk)))
            session.execute(delete(StepRow).where(StepRow.id.in_(chunk)))
        for start in range(0, len(victims), 500):
            session.execute(delete(RunRow).where(RunRow.id.in_(victims[start : start + 500])))
        for start in range(0, len(orphan_snapshots), 500):
            session.execute(delete(SnapshotRow).where(SnapshotRow.id.in_(orphan_snapshots[start : start + 500])))
    store.blobs.forget(digest for digest, _ in orphans)
    return report
