"""Store queries for the trainers: SFT conversations, Step-GRPO state rows, and runs for scored completions.

Training writes no tables of its own: each completion a trainer scores is stored as a run of one step (its
prompt, completion, observation, scores and reward), and the run's ``config["training"]`` names the trainer,
its output folder, the optimizer step, and the trainer's resolved config.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from webgen.core.manifests import write_manifest
from webgen.storage import collections
from webgen.storage.models import RunRow, StepRow, TaskRow
from webgen.storage.store import StoreError, TrajectoryStore
from webgen.storage.values import RunMode, StepRecord, Task

__all__ = ["collection_run_ids", "conversations", "record_scored_run", "snapshot_of", "state_rows", "tasks_of"]


def collection_run_ids(store: TrajectoryStore, name: str) -> set[str]:
    """The runs a collection holds; a StoreError when no collection has that name."""
    entries = collections.entries(store, name)
    if not entries:
        known = ", ".join(collections.names(store)) or "none"
        raise StoreError(f"no collection {name!r} (collections: {known})")
    return {e.run_id for e in entries if e.run_id}


def tasks_of(
    store: TrajectoryStore, *, collection: str | None = None, source: str | None = None, limit: int | None = None
) -> list[Task]:
    """The tasks of a collection's pairs, or of a source, or every task (in id order)."""
    if collection is not None:
        wanted = sorted({e.task_id for e in collections.entries(store, collection)})
        if not wanted:
            collection_run_ids(store, collection)  # raises, naming the known collections
        tasks = [store.get_task(task_id) for task_id in wanted]
        if source is not None:
            tasks = [t for t in tasks if t.source == source]
        return tasks[:limit] if limit is not None else tasks
    return store.list_tasks(source=source, limit=limit)


def _messages(store: TrajectoryStore, refs: list[str], cache: dict[str, dict]) -> list[dict[str, Any]]:
    out = []
    for ref in refs:
        if ref not in cache:
            cache[ref] = json.loads(store.blobs.get(ref))
        message = cache[ref]
        content = message.get("content")
        if isinstance(content, str):  # a chat turn the policy can read (no images, no tool calls)
            out.append({"role": message.get("role", "user"), "content": content})
    return out


def conversations(
    store: TrajectoryStore,
    *,
    run_ids: set[str] | None = None,
    min_score: float = 3.0,
    status: str | None = "finished",
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """One chat per run: the prompt of its best step plus that step's reply, when the best step is not an error
    step and its screenshot (or GUI) score is at least ``min_score``. An import run (a project brought by the
    user, `config["imported"]`) is left out: its one step's reply is the project's files, not a model's."""
    query = select(RunRow, StepRow).join(StepRow, (StepRow.run_id == RunRow.id) & (StepRow.index == RunRow.best_step))
    if status:
        query = query.where(RunRow.status == status)
    rows: list[dict[str, Any]] = []
    cache: dict[str, dict] = {}
    with Session(store.reader) as session:
        for run, step in session.execute(query.order_by(RunRow.started_at, RunRow.id)):
            if (run_ids is not None and run.id not in run_ids) or "imported" in (run.config or {}):
                continue
            score = max(step.screenshot_score or 0.0, step.gui_grade or 0.0)
            if step.has_error or score < min_score or not step.completion.strip():
                continue
            messages = _messages(store, step.prompt_refs, cache)
            if not messages:
                continue
            messages.append({"role": "assistant", "content": step.completion})
            rows.append({"messages": messages, "run_id": run.id, "step": step.index, "score": score})
            if limit is not None and len(rows) >= limit:
                break
    return rows


def state_rows(
    store: TrajectoryStore,
    *,
    run_ids: set[str] | None = None,
    min_score: float | None = None,
    max_score: float | None = None,
    include_error_steps: bool = False,
    status: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Step-GRPO states: a stored step's prompt (its history) and the snapshot its reply was applied to, once per
    distinct (prompt, snapshot). Score filters use the step's screenshot score (a step with none is left out)."""
    query = (
        select(StepRow, TaskRow.id, TaskRow.instruction)
        .select_from(StepRow)
        .join(RunRow, StepRow.run_id == RunRow.id)
        .join(TaskRow, RunRow.task_id == TaskRow.id)
        .where(StepRow.base_snapshot_id.is_not(None))
    )
    if status:
        query = query.where(RunRow.status == status)
    if not include_error_steps:
        query = query.where(StepRow.has_error.is_(False))
    if min_score is not None:
        query = query.where(StepRow.screenshot_score >= min_score)
    if max_score is not None:
        query = query.where(StepRow.screenshot_score <= max_score)
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, ...]] = set()
    cache: dict[str, dict] = {}
    with Session(store.reader) as session:
        for step, task_id, instruction in session.execute(query.order_by(StepRow.run_id, StepRow.index)):
            if run_ids is not None and step.run_id not in run_ids:
                continue
            key = (step.base_snapshot_id, *step.prompt_refs)
            if not step.prompt_refs or key in seen:
                continue
            seen.add(key)
            prompt = _messages(store, step.prompt_refs, cache)
            if not prompt or prompt[-1]["role"] != "user":
                continue
            rows.append(
                {
                    "prompt": prompt,
                    "instruction": instruction,
                    "task_id": task_id,
                    "snapshot_id": step.base_snapshot_id,
                    "source_run": step.run_id,
                    "source_step": step.index,
                }
            )
            if limit is not None and len(rows) >= limit:
                break
    return rows


def snapshot_of(store: TrajectoryStore, files: dict[str, str]) -> str | None:
    """Store ``files`` (path -> text) as a workspace snapshot; returns its id (None for no files)."""
    if not files:
        return None
    manifest = {path: store.blobs.add(content.encode("utf-8")) for path, content in sorted(files.items())}
    snapshot_id = write_manifest(store.blobs, manifest)
    store.register_snapshot(snapshot_id)
    return snapshot_id


def record_scored_run(
    store: TrajectoryStore,
    task_id: int,
    mode: RunMode,
    record: StepRecord,
    *,
    config: dict[str, Any],
    models: dict[str, Any] | None = None,
    error: str | None = None,
) -> str:
    """One scored completion as a finished run of one step (``failed`` with ``error`` when it could not be
    evaluated); returns the run id."""
    run_id = store.start_run(task_id, mode, config=config, models=models or {})
    store.add_step(run_id, record)
    store.finish_run(run_id, "failed" if error else "finished", best_step=record.index, error=error)
    return run_id
