"""Which tasks a collection runs (no browser): a file imported on the fly, a stored source, --ids, --limit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from webgen.collect.tasks import TaskSelectionError, select_tasks
from webgen.storage import collections
from webgen.storage.store import TrajectoryStore


@pytest.fixture
def store(tmp_path: Path):
    with TrajectoryStore(f"sqlite:///{tmp_path / 'c.db'}") as opened:
        yield opened


def write(path: Path, lines: list) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def test_a_file_is_imported_on_the_fly_then_its_source_can_be_used(tmp_path: Path, store: TrajectoryStore) -> None:
    path = write(
        tmp_path / "webgen-bench-x.jsonl", [{"id": f"00000{i}", "instruction": f"site {i}"} for i in (3, 1, 2)]
    )
    source, tasks = select_tasks(store, tasks_file=path)
    assert source == "webgen-bench" and [t.external_id for t in tasks] == ["000003", "000001", "000002"]
    _, again = select_tasks(store, tasks_file=path)
    assert [t.id for t in again] == [t.id for t in tasks]  # imported once
    _, chosen = select_tasks(store, source="webgen-bench", ids=["000002", "000003"], limit=1)
    assert len(chosen) == 1 and chosen[0].external_id in ("000002", "000003")
    with pytest.raises(TaskSelectionError, match="no task with id 000009"):
        select_tasks(store, source="webgen-bench", ids=["000009"])
    with pytest.raises(TaskSelectionError, match="no tasks with source"):
        select_tasks(store, source="nothing")


def test_a_bad_line_is_reported_and_nothing_is_imported(tmp_path: Path, store: TrajectoryStore) -> None:
    path = write(tmp_path / "t.jsonl", [{"id": 1, "instruction": "ok"}, "not json"])
    with pytest.raises(TaskSelectionError, match="line 2"):
        select_tasks(store, tasks_file=path)
    assert store.list_tasks() == []


def test_plan_and_todo_keep_one_row_per_task_and_rollout(tmp_path: Path, store: TrajectoryStore) -> None:
    path = write(tmp_path / "t.jsonl", [{"id": i, "instruction": f"site {i}"} for i in range(2)])
    _, tasks = select_tasks(store, tasks_file=path)
    ids = [t.id for t in tasks]
    assert collections.plan(store, "c", ids, 2, "agent") == 4
    assert collections.plan(store, "c", ids, 3, "agent") == 2  # more rollouts add only the new pairs
    todo = collections.todo(store, "c", ids, 3)
    assert len(todo) == 6
    collections.take(store, todo[0].id, "run-a")
    collections.mark(store, todo[0].id, "finished")
    collections.take(store, todo[1].id, "run-b")
    collections.mark(store, todo[1].id, "failed", "boom")
    assert len(collections.todo(store, "c", ids, 3)) == 4
    assert len(collections.todo(store, "c", ids, 3, retry_failed=True)) == 5
    assert collections.summary(store, "c") == {"pending": 4, "running": 0, "finished": 1, "failed": 1, "interrupted": 0}
    assert [e.attempts for e in collections.entries(store, "c")][:2] == [1, 1]
