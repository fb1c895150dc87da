"""The coordinator: feeds (task, rollout) pairs to workers (each holding one session), whatever runs them.

A backend runs the workers: `local` (processes on this machine, :mod:`webgen.collect.local`) or `ray` (actors,
:mod:`webgen.collect.ray_backend`). The coordinator owns the collection's rows: it fixes each pair's run id
before a worker takes it, so a retry after a worker dies resumes the same run and nothing is duplicated. A worker
that dies (SIGKILL, out of memory, a lost machine) is replaced and its pair retried up to `retries` times, then
marked failed. Ctrl-C (`interrupt()`, or a KeyboardInterrupt in `run`) cancels the runs in flight; they end
`cancelled` and a re-run resumes them. `stop_after` runs failing in a row (an endpoint that is down) stop the
collection with a message naming the endpoint.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from webgen.collect.local import LocalBackend, WorkerStartError
from webgen.collect.report import tagged
from webgen.collect.worker import Job, Result
from webgen.core.settings import Settings
from webgen.storage import collections
from webgen.storage.collections import Entry
from webgen.storage.store import TrajectoryStore

Message = tuple[Any, ...]
MEMORY_EVERY_S = 3.0  # sampling the workers' memory reads /proc: about 0.1-0.3 s of CPU on a busy machine


class Worker(Protocol):
    slot: int
    ready: bool
    job: Job | None

    def submit(self, job: Job) -> None: ...
    def cancel(self, run_id: str) -> None: ...
    def stop(self) -> None: ...  # retire an idle worker cleanly
    def kill(self) -> None: ...  # now, with everything it started
    def death(self) -> str: ...  # how a lost worker died, for the pair's error


class Backend(Protocol):
    name: str

    def spawn(self, slot: int) -> Any: ...
    def poll(self, workers: list[Any], timeout: float) -> list[tuple[Any, Message]]: ...
    def memory(self, workers: list[Any]) -> dict[int, float]: ...
    def close(self) -> None: ...


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
    failures: dict[str, int] = field(default_factory=dict)  # failure reason -> runs

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


def endpoint_stop(results: list[Result]) -> str:
    """Why a streak of failed runs stops the collection, naming the endpoint when they failed on one."""
    last = results[-1]
    endpoints = {(r.endpoint_role, r.endpoint_url) for r in results if r.failure == "endpoint"}
    if len(endpoints) == 1:
        role, url = endpoints.pop()
        return f"the {role} endpoint {url} is down: {len(results)} runs in a row failed on it; last error: {last.error}"
    return f"{len(results)} runs in a row failed; the last one: {last.error}"


class Collector:
    """Runs the `todo` pairs of a collection on `workers` workers; `on_update(stats)` after each change."""

    def __init__(
        self,
        settings: Settings,
        store: TrajectoryStore,
        *,
        workers: int = 1,
        retries: int = 2,
        stop_after: int = 3,
        on_update: Callable[[Stats], None] | None = None,
        backend: Backend | None = None,
    ) -> None:
        self.settings, self.store = settings, store
        self.workers, self.retries, self.stop_after = max(1, workers), retries, stop_after
        self.on_update = on_update or (lambda stats: None)
        self.backend: Backend = backend or LocalBackend(settings)
        self._interrupted = False

    def interrupt(self) -> None:
        self._interrupted = True

    def run(self, todo: list[Entry]) -> Stats:
        stats = self.stats = Stats(total=len(todo))
        self._queue: deque[Entry] = deque(todo)
        self._attempts = {e.id: e.attempts for e in todo}
        self._entries = {e.id: e for e in todo}
        self._streak: list[Result] = []  # runs that failed in a row
        self._live: set[str] = set()  # runs that reported steps as they went
        self._idle_deaths = 0
        self.pool: list[Any] = []
        stopping = cancelled_sent = False
        last_sample = 0.0
        try:
            for slot in range(min(self.workers, len(self._queue))):  # one at a time: a Ctrl-C here kills those made
                if not self._spawn(slot):
                    break
            while self.pool:
                try:
                    stopping = stopping or self._interrupted or stats.stopped is not None
                    if stopping and not cancelled_sent:
                        cancelled_sent = True
                        for worker in self.pool:
                            if worker.job:
                                worker.cancel(worker.job.run_id)
                    for worker in list(self.pool):
                        if worker.ready and not worker.job and (stopping or not self._queue):
                            self.pool.remove(worker)
                            worker.stop()
                    if not self.pool:
                        break
                    if time.monotonic() - last_sample > MEMORY_EVERY_S:
                        last_sample = time.monotonic()
                        for slot, size in self.backend.memory(self.pool).items():
                            stats.peak_pss_mb[slot] = max(stats.peak_pss_mb.get(slot, 0.0), size)
                    for worker, message in self.backend.poll(list(self.pool), 0.5):
                        self._handle(worker, message, stopping)
                        stopping = stopping or stats.stopped is not None
                        self.on_update(stats)
                except KeyboardInterrupt:
                    if stopping:  # a second Ctrl-C: stop now (the runs in flight stay resumable)
                        raise
                    self._interrupted = True
        finally:
            for worker in self.pool:
                if worker.job:
                    collections.mark(self.store, worker.job.entry_id, "interrupted", "collection stopped")
                    stats.interrupted += 1
                worker.kill()
            self.backend.close()
        if self._interrupted and not stats.stopped:
            stats.stopped = "interrupted (Ctrl-C): re-run the same command to resume"
        self.on_update(stats)
        return stats

    # -- internals --------------------------------------------------------------------------------
    def _spawn(self, slot: int) -> bool:
        try:
            self.pool.append(self.backend.spawn(slot))
        except WorkerStartError as exc:
            self.stats.stopped = f"a worker could not start: {exc}"
            return False
        return True

    def _handle(self, worker: Any, message: Message, stopping: bool) -> None:
        stats, kind = self.stats, message[0]
        if kind == "lost":
            self.pool.remove(worker)
            self._lost(worker, stopping)
            self._idle_deaths += worker.job is None
            if self._idle_deaths > 2 * self.workers + 2 and not stats.stopped:
                stats.stopped = f"workers keep dying before they take a run ({worker.death()})"
            elif self._queue and not stopping:
                self._spawn(worker.slot)
            return
        if kind == "fatal":
            stats.stopped = f"a worker could not start: {message[1]}"
            self.pool.remove(worker)
            worker.kill()
            return
        if kind == "step":
            stats.steps += 1
            stats.tokens += message[2]
            self._live.add(message[1])
            stats.last_step = time.monotonic()
            stats.first_step = stats.first_step or stats.last_step
        elif kind == "done":
            job, worker.job = worker.job, None
            result: Result = message[1]
            if result.run_id not in self._live:  # single-shot runs publish no step events
                stats.steps += result.steps
                stats.tokens += result.tokens
            self._done(job, result)
        if kind in ("ready", "done"):
            worker.ready = True
            if self._queue and not stopping and not stats.stopped:
                self._assign(worker, self._queue.popleft())

    def _assign(self, worker: Any, entry: Entry) -> None:
        run_id = entry.run_id or uuid.uuid4().hex
        collections.take(self.store, entry.id, run_id)
        self._attempts[entry.id] = self._attempts.get(entry.id, 0) + 1
        worker.submit(Job(entry_id=entry.id, task_id=entry.task_id, run_id=run_id, mode=entry.mode))

    def _done(self, job: Job | None, result: Result) -> None:
        stats = self.stats
        entry = self._entries[result.entry_id].model_copy(update={"run_id": result.run_id})
        self._entries[result.entry_id] = entry
        if job is not None and result.run_id != job.run_id:
            collections.rebind(self.store, entry.id, result.run_id)  # a new run took the pair (worker.run_job)
        if result.failure:
            stats.failures[result.failure] = stats.failures.get(result.failure, 0) + 1
        if result.status == "finished":
            collections.mark(self.store, entry.id, "finished", result.error)
            stats.done += 1
            self._streak.clear()
        elif result.status in ("cancelled", "interrupted"):
            collections.mark(self.store, entry.id, "interrupted", tagged(result.failure, result.error))
            stats.interrupted += 1
        else:
            self._streak.append(result)
            collections.mark(self.store, entry.id, "failed", tagged(result.failure, result.error))
            stats.failed += 1
            if len(self._streak) >= self.stop_after:
                stats.stopped = endpoint_stop(self._streak)
                for failed in self._streak:  # most likely the endpoint: a re-run resumes them once it is back
                    collections.mark(self.store, failed.entry_id, "interrupted", tagged(failed.failure, failed.error))
                stats.interrupted += len(self._streak)
                stats.failed -= len(self._streak)
                self._streak.clear()

    def _lost(self, worker: Any, stopping: bool) -> None:
        """A worker died: its pair goes back to the queue (same run id: resumed) or, out of retries, fails."""
        stats = self.stats
        reason = f"its worker died ({worker.death()})"
        worker.kill()
        stats.workers_lost += 1
        job = worker.job
        if job is None:
            return
        entry = self._entries[job.entry_id].model_copy(update={"run_id": job.run_id})
        self._entries[job.entry_id] = entry
        if self._attempts[job.entry_id] > self.retries:
            collections.mark(self.store, job.entry_id, "failed", tagged("crash", reason))
            with contextlib.suppress(Exception):
                if self.store.get_run(job.run_id).status == "running":
                    self.store.finish_run(job.run_id, "failed", error=reason)
            stats.failed += 1
            stats.failures["crash"] = stats.failures.get("crash", 0) + 1
        elif stopping:
            collections.mark(self.store, job.entry_id, "interrupted", tagged("crash", reason))
            stats.interrupted += 1
        else:
            stats.retried += 1
            self._queue.appendleft(entry)
