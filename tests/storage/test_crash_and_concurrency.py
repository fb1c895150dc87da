"""Killed writers leave a consistent store that resumes cleanly; many writers share one SQLite file."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from webgen.storage.store import TrajectoryStore
from webgen.storage.values import TaskIn

WRITER = Path(__file__).with_name("writer.py")


def _writer(url: str, run_id: str, start: int, stop: int, delay: float, site: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WRITER), url, run_id, str(start), str(stop), str(delay), str(site)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _new_run(store: TrajectoryStore, n: int = 0) -> str:
    task = store.ensure_task(TaskIn(source="crash", external_id=str(n), instruction="Bakery"))
    return store.start_run(task.id, "agent")


@pytest.mark.slow
def test_sigkill_mid_run_then_resume(store_url: str, tmp_path: Path) -> None:
    with TrajectoryStore(store_url) as store:
        run_id = _new_run(store)
    writer = _writer(store_url, run_id, 0, 10_000, 0.0, tmp_path / "site")
    written = 0
    deadline = time.monotonic() + 60
    while written < 15 and time.monotonic() < deadline:
        if writer.stdout.readline():
            written += 1
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert written >= 15

    with TrajectoryStore(store_url) as store:
        if store_url.startswith("sqlite"):
            with store.engine.connect() as conn:
                assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        indices = [s.index for s in store.steps(run_id)]
        assert indices == list(range(len(indices))) and len(indices) >= written
        resume_from = store.next_index(run_id)
    # the resumed writer replays the last stored step (as a resumed run does), then goes on
    resumed = _writer(store_url, run_id, resume_from - 1, resume_from + 10, 0.0, tmp_path / "site")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    with TrajectoryStore(store_url) as store:
        steps = store.steps(run_id)
        assert [s.index for s in steps] == list(range(resume_from + 10))
        assert store.get_run(run_id).tokens_prompt == resume_from + 10  # the replayed step was not counted twice
        for step in steps:
            assert store.messages(step.prompt_refs)[-2:][0]["content"].startswith(("step", "You"))
            assert "src/App.tsx" in store.manifest(step.snapshot_id)


@pytest.mark.slow
def test_eight_sqlite_writers_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    with TrajectoryStore(url) as store:
        runs = [_new_run(store, n) for n in range(8)]
    writers = [_writer(url, run_id, 0, 25, 0.0, tmp_path / f"site{n}") for n, run_id in enumerate(runs)]
    results = [w.communicate(timeout=300) for w in writers]
    for writer, (_, err) in zip(writers, results, strict=True):
        assert writer.returncode == 0, err
        assert "locked" not in err
    with TrajectoryStore(url) as store:
        for run_id in runs:
            assert [s.index for s in store.steps(run_id)] == list(range(25))
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
