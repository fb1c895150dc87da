"""Which tasks a collection runs: a JSONL file (imported on the fly) or a source already in the store."""

from __future__ import annotations

from pathlib import Path

from webgen.storage.io import guess_source, read_tasks
from webgen.storage.store import TrajectoryStore
from webgen.storage.values import Task


class TaskSelectionError(ValueError):
    """Bad input: an unreadable or invalid file, an unknown source, ids that are not there."""


def select_tasks(
    store: TrajectoryStore,
    *,
    tasks_file: Path | None = None,
    source: str | None = None,
    ids: list[str] | None = None,
    limit: int | None = None,
) -> tuple[str, list[Task]]:
    """(source, tasks in file or store order), filtered by external `ids` and cut to `limit`."""
    if tasks_file is not None:
        source = source or guess_source(tasks_file)
        try:
            parsed, problems, _ = read_tasks(tasks_file, source)
        except OSError as exc:
            raise TaskSelectionError(f"cannot read {tasks_file}: {exc.strerror or exc}") from exc
        if problems:
            listed = "; ".join(f"line {p.line}: {p.message}" for p in problems[:5])
            raise TaskSelectionError(f"{tasks_file}: {len(problems)} bad line(s): {listed}")
        store.add_tasks(parsed)
        order = [t.external_id for t in parsed]
        found = {t.external_id: t for t in store.list_tasks(source)}
        tasks = [found[e] for e in order if e in found]
    elif source:
        tasks = store.list_tasks(source)
        if not tasks:
            raise TaskSelectionError(f"no tasks with source {source!r} in the store (`webgen db import FILE`)")
    else:
        raise TaskSelectionError("give a TASKS.jsonl file or --source NAME")
    if ids:
        wanted = set(ids)
        missing = wanted - {t.external_id for t in tasks}
        if missing:
            raise TaskSelectionError(f"no task with id {', '.join(sorted(missing))} in {source}")
        tasks = [t for t in tasks if t.external_id in wanted]
    if limit is not None:
        tasks = tasks[:limit]
    return source, tasks
