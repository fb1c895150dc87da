"""The local pool: N worker processes (each holding one session) fed (task, rollout) pairs by a coordinator.

The coordinator owns the collection's rows: it fixes each pair's run id before a worker takes it, so a retry
after a worker dies resumes the same run and nothing is duplicated. A worker that dies (SIGKILL, out of memory)
is replaced and its pair retried up to `retries` times, then marked failed. Ctrl-C (`interrupt()`, or a
KeyboardInterrupt in `run`) cancels the runs in flight; they end `cancelled` and a re-run resumes them.
`stop_after` runs failing in a row (an endpoint that is down) stop the collection with the last run's error,
which names the endpoint.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from webgen.collect.worker import Job, Result
from webgen.core.settings import Settings
from webgen.storage import collections
from webgen.storage.collections import Entry
from webgen.storage.store import TrajectoryStore


@dataclass
class Stats:
    total: int
    done: int = 0
    failed: int = 0
    interrupted: int = 0
    steps: int = 0
    tokens: int = 0
    retried: int = 0
    workers_lost: int = 0
    started: float = field(default_factory=time.monotonic)
    first_step: float | None = None  # when the first step was recorded (the workers had started)
    last_step: float | None = None
    stopped: str | None = None  # why the collection stopped early
    peak_pss_mb: dict[int, float] = field(default_factory=dict)  # worker slot -> peak PSS of its process tree

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def steps_per_minute(self) -> float:
        return 60 * self.steps / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def steady_steps_per_minute(self) -> float:
        """Between the first and the last recorded step: the rate without the workers' start-up."""
        if self.first_step is None or self.last_step is None or self.last_step <= self.first_step:
            return 0.0
        return 60 * (self.steps - 1) / (self.last_step - self.first_step)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    proc = Path("/proc")
    for entry in proc.iterdir() if proc.is_dir() else []:
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _tree(pid: int, tree: dict[int, list[int]]) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(tree.get(current, []))
    return found


def _pss_mb(pid: int) -> float:
    """Proportional set size (shared pages split between their users), so a pool's numbers add up."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    return 0.0


class _Worker:
    def __init__(self, slot: int, settings: Settings) -> None:
        parent, child = socket.socketpair()
        self.slot = slot
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "webgen.collect.worker", str(child.fileno())],
            pass_fds=(child.fileno(),),
            start_new_session=True,  # no terminal Ctrl-C here, and its process group can be killed whole
        )
        child.close()
        self.conn = Connection(parent.detach())
        self.conn.send(("settings", settings))
        self.ready = False
        self.job: Job | None = None
        self.descendants: list[int] = []

    def send(self, *message: Any) -> bool:
        try:
            self.conn.send(message)
            return True
        except OSError:
            return False

    def kill(self) -> None:
        """Kill it with everything it started (its group, and the children it put in groups of their own)."""
        for pid in [self.proc.pid, *self.descendants]:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        self.conn.close()


class Collector:
    """Runs the `todo` pairs of a collection on `workers` processes; `on_update(stats)` after each change."""

    def __init__(
        self,
        settings: Settings,
        store: TrajectoryStore,
        *,
        workers: int = 1,
        retries: int = 2,
        stop_after: int = 3,
        on_update: Callable[[Stats], None] | None = None,
    ) -> None:
        self.settings, self.store = settings, store
        self.workers, self.retries, self.stop_after = max(1, workers), retries, stop_after
        self.on_update = on_update or (lambda stats: None)
        self._interrupted = False

    def interrupt(self) -> None:
        self._interrupted = True

    def run(self, todo: list[Entry]) -> Stats:
        stats = Stats(total=len(todo))
        queue: deque[Entry] = deque(todo)
        attempts = {e.id: e.attempts for e in todo}
        entries = {e.id: e for e in todo}
        pool: list[_Worker] = []
        streak: list[int] = []  # entries whose runs failed in a row
        live: set[str] = set()  # runs that reported steps as they went
        idle_deaths = 0
        stopping = cancelled_sent = False
        last_sample = 0.0
        try:
            pool = [_Worker(slot, self.settings) for slot in range(min(self.workers, len(queue)))]
            while pool:
                try:
                    stopping = stopping or self._interrupted or stats.stopped is not None
                    if stopping and not cancelled_sent:
                        cancelled_sent = True
                        for worker in pool:
                            if worker.job:
                                worker.send("cancel", worker.job.run_id)
                    for worker in list(pool):
                        if worker.ready and not worker.job and (stopping or not queue):
                            worker.send("stop")
                            pool.remove(worker)
                            self._retire(worker)
                    if not pool:
                        break
                    if time.monotonic() - last_sample > 1.0:
                        last_sample = time.monotonic()
                        tree = _children()
                        for worker in pool:
                            worker.descendants = _tree(worker.proc.pid, tree)[1:]
                            rss = sum(_pss_mb(pid) for pid in [worker.proc.pid, *worker.descendants])
                            stats.peak_pss_mb[worker.slot] = max(stats.peak_pss_mb.get(worker.slot, 0.0), rss)
                    by_conn = {worker.conn: worker for worker in pool}
                    for conn in wait(list(by_conn), timeout=0.5):
                        worker = by_conn[conn]
                        try:
                            message = conn.recv()
                        except (EOFError, OSError):
                            pool.remove(worker)
                            self._lost(worker, stats, queue, attempts, entries, stopping)
                            idle_deaths += worker.job is None
                            if idle_deaths > 2 * self.workers + 2 and not stats.stopped:
                                code = worker.proc.returncode
                                stats.stopped = f"workers keep dying before they take a run (exit code {code})"
                                stopping = True
                            if queue and not stopping:
                                pool.append(_Worker(worker.slot, self.settings))
                            continue
                        kind = message[0]
                        if kind == "fatal":
                            stats.stopped = f"a worker could not start: {message[1]}"
                            stopping = True
                            pool.remove(worker)
                            self._retire(worker)
                            continue
                        if kind == "step":
                            stats.steps += 1
                            stats.tokens += message[2]
                            live.add(message[1])
                            stats.last_step = time.monotonic()
                            stats.first_step = stats.first_step or stats.last_step
                        elif kind == "done":
                            job, worker.job = worker.job, None
                            result = message[1]
                            if result.run_id not in live:  # single-shot runs publish no step events
                                stats.steps += result.steps
                                stats.tokens += result.tokens
                            self._done(job, result, stats, streak, entries)
                        if kind in ("ready", "done"):
                            worker.ready = True
                            stopping = stopping or stats.stopped is not None
                            if queue and not stopping:
                                worker.job = self._assign(worker, queue.popleft(), attempts)
                        self.on_update(stats)
                except KeyboardInterrupt:
                    if stopping:  # a second Ctrl-C: stop now (the runs in flight stay resumable)
                        raise
                    self._interrupted = True
        finally:
            for worker in pool:
                if worker.job:
                    collections.mark(self.store, worker.job.entry_id, "interrupted", "collection stopped")
                    stats.interrupted += 1
                worker.kill()
        if self._interrupted and not stats.stopped:
            stats.stopped = "interrupted (Ctrl-C): re-run the same command to resume"
        self.on_update(stats)
        return stats

    # -- internals --------------------------------------------------------------------------------
    def _assign(self, worker: _Worker, entry: Entry, attempts: dict[int, int]) -> Job:
        run_id = entry.run_id or uuid.uuid4().hex
        collections.take(self.store, entry.id, run_id)
        attempts[entry.id] = attempts.get(entry.id, 0) + 1
        job = Job(entry_id=entry.id, task_id=entry.task_id, run_id=run_id, mode=entry.mode)
        worker.send("job", job)
        return job

    def _done(
        self, job: Job | None, result: Result, stats: Stats, streak: list[int], entries: dict[int, Entry]
    ) -> None:
        entry = entries[result.entry_id] = entries[result.entry_id].model_copy(update={"run_id": result.run_id})
        if job is not None and result.run_id != job.run_id:
            collections.rebind(self.store, entry.id, result.run_id)  # a new run took the pair (worker.run_job)
        if result.status == "finished":
            collections.mark(self.store, entry.id, "finished", result.error)
            stats.done += 1
            streak.clear()
        elif result.status in ("cancelled", "interrupted"):
            collections.mark(self.store, entry.id, "interrupted", result.error)
            stats.interrupted += 1
        else:
            streak.append(entry.id)
            collections.mark(self.store, entry.id, "failed", result.error)
            stats.failed += 1
            if len(streak) >= self.stop_after:
                stats.stopped = f"{len(streak)} runs in a row failed; the last one: {result.error}"
                for entry_id in streak:  # most likely the endpoint: a re-run resumes them once it is back
                    collections.mark(self.store, entry_id, "interrupted", result.error)
                stats.interrupted += len(streak)
                stats.failed -= len(streak)
                streak.clear()

    def _lost(
        self,
        worker: _Worker,
        stats: Stats,
        queue: deque[Entry],
        attempts: dict[int, int],
        entries: dict[int, Entry],
        stopping: bool,
    ) -> None:
        """A worker died: its pair goes back to the queue (same run id: resumed) or, out of retries, fails."""
        worker.kill()
        stats.workers_lost += 1
        job = worker.job
        if job is None:
            return
        entry = entries[job.entry_id] = entries[job.entry_id].model_copy(update={"run_id": job.run_id})
        reason = f"its worker died (exit code {worker.proc.returncode})"
        if attempts[job.entry_id] > self.retries:
            collections.mark(self.store, job.entry_id, "failed", reason)
            with contextlib.suppress(Exception):
                if self.store.get_run(job.run_id).status == "running":
                    self.store.finish_run(job.run_id, "failed", error=reason)
            stats.failed += 1
        elif stopping:
            collections.mark(self.store, job.entry_id, "interrupted", reason)
            stats.interrupted += 1
        else:
            stats.retried += 1
            queue.appendleft(entry)

    def _retire(self, worker: _Worker) -> None:
        try:
            worker.proc.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        worker.conn.close()
