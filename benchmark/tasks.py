"""Which tasks an eval covers: a JSONL file (imported into the store on the fly), a source already in the store,
or the tasks of a collection; then `ids` and `limit`."""

from __future__ import annotations

from pathlib import Path

from webgen.benchmark.sites import EvalInputError
from webgen.storage import collections
from webgen.storage.io import guess_source, read_tasks
from webgen.storage.store import TrajectoryStore
from webgen.storage.values import Task


def tasks_from_file(store: TrajectoryStore, path: Path) -> list[Task]:
    """Every task of a WebGen-Bench-style JSONL file, in file order (all or nothing: a bad line is an error)."""
    source = guess_source(path)
    try:
        parsed, problems, _ = read_tasks(path, source)
    except OSError as exc:
        raise EvalInputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if problems:
        listed = "; ".join(f"line {p.line}: {p.message}" for p in problems[:5])
        raise EvalInputError(f"{path}: {len(problems)} bad line(s): {listed}")
    store.add_tasks(parsed)
    found = {t.external_id: t for t in store.list_tasks(source)}
    return [found[t.external_id] for t in parsed if t.external_id in found]


def tasks_from_source(store: TrajectoryStore, source: str) -> list[Task]:
    tasks = store.list_tasks(source)
    if not tasks:
        raise EvalInputError(
            f"no tasks with source {source!r} in the store: pass --tasks FILE.jsonl (WebGen-Bench's test.jsonl) "
            "or import it with `webgen db import FILE.jsonl`"
        )
    return tasks


def tasks_of_collection(store: TrajectoryStore, name: str) -> list[Task]:
    entries = collections.entries(store, name)
    if not entries:
        known = ", ".join(collections.names(store)) or "none"
        raise EvalInputError(f"no collection {name} (collections: {known})")
    ids = list(dict.fromkeys(e.task_id for e in entries))
    return [store.get_task(i) for i in ids]


def narrow(tasks: list[Task], ids: list[str] | None, limit: int | None) -> list[Task]:
    """`tasks` cut to these external ids (all must be there) and to `limit`; tasks need test cases."""
    if ids:
        missing = set(ids) - {t.external_id for t in tasks}
        if missing:
            raise EvalInputError(f"no task with id {', '.join(sorted(missing))}")
        tasks = [t for t in tasks if t.external_id in set(ids)]
    if limit is not None:
        tasks = tasks[:limit]
    if not tasks:
        raise EvalInputError("no tasks to evaluate")
    if not any(t.ui_test_cases for t in tasks):
        raise EvalInputError("the selected tasks have no ui_instruct test cases (is this WebGen-Bench data?)")
    return tasks
