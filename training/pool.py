"""The evaluator pool: environment steps of a training batch, in parallel across worker processes.

Each worker (:mod:`webgen.training.pool_worker`, a fresh interpreter in a session of its own) holds one site
environment (build worker + Chromium), a judge and a GUI agent from :class:`Settings`, reused across jobs.
:meth:`EvaluatorPool.map` hands out jobs as workers free up and returns results in job order. It never hangs
and never raises for a job: a job past ``timeout_s`` kills its worker's process tree and becomes an error
result; a worker that dies is restarted and its job retried once, then reported as an error result::

    with EvaluatorPool(settings, workers=4) as pool:
        results = pool.map([EnvJob(instruction="A bakery site", reply=completion) for completion in batch])
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from webgen.core.settings import Settings

__all__ = ["EnvJob", "EnvResult", "EvaluatorPool"]

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 120.0  # a worker's environment (scaffold check, build worker, Chromium) must be up by then


class EnvJob(BaseModel):
    """One environment step to evaluate."""

    instruction: str = Field(description="the user's request (the task)")
    files: dict[str, str] = Field(default_factory=dict, description="the site's files before the step ({}: fresh)")
    snapshot_id: str | None = Field(default=None, description="restore this stored snapshot instead (via the store)")
    reply: str = Field(description="the policy's raw reply for this step (untrusted)")
    history: list[str] = Field(default_factory=list, description="earlier replies of this rollout (repetition)")
    gui: bool = Field(default=True, description="run the GUI test when the reply asks for one")
    gate: bool = Field(
        default=False, description="single-shot: check WebGen-R1's static gate first; a failed gate builds nothing"
    )
    step: int = 0


class EnvResult(BaseModel):
    """What the step did; ``error`` set (and ``reward`` None) when the pool could not evaluate it."""

    kind: str = Field(description="edit | gui_request | finish | invalid")
    files: dict[str, str] = Field(default_factory=dict, description="the site's files after the step")
    evaluation: dict | None = Field(default=None, description="the StepEvaluation dump")
    reward: float | None = Field(default=None, description="the step's own reward; -1 bad format; None unscorable")
    cascaded: dict | None = Field(default=None, description="the cascaded reward breakdown (single-shot GRPO)")
    feedback: str = Field(default="", description="the text the coder gets next turn")
    error: str | None = None
    screenshot_score: float | None = None
    gui_grade: float | None = None
    good_format: bool = True
    has_error: bool = False
    worker: int | None = Field(default=None, description="the process id of the worker that evaluated it")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _tree(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(tree.get(current, []))
    return found


class _Worker:
    def __init__(self, settings: Settings, scratch: Path) -> None:
        parent, child = socket.socketpair()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "webgen.training.pool_worker", str(child.fileno())],
            pass_fds=(child.fileno(),),
            start_new_session=True,  # its own process group, killed whole
        )
        child.close()
        self.conn = Connection(parent.detach())
        self.conn.send(("settings", settings, str(scratch)))
        self.ready = False
        self.started = time.monotonic()
        self.slot: int | None = None  # the job in flight
        self.deadline = float("inf")
        self.descendants: list[int] = []  # refreshed as jobs start: killed even if the worker died first

    def watch(self) -> None:
        self.descendants = _tree(self.proc.pid)[1:]

    def kill(self) -> None:
        """Kill the worker with everything it started (its group, and children in groups of their own)."""
        pids = _tree(self.proc.pid) if self.proc.poll() is None else [self.proc.pid]
        for pid in dict.fromkeys([*pids, *self.descendants]):
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(("stop",))
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self.kill()


class EvaluatorPool:
    """``workers`` evaluator processes; ``map`` runs jobs across them (see the module docstring)."""

    def __init__(self, settings: Settings, workers: int = 1, *, timeout_s: float = 300, retries: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.settings, self.size, self.timeout_s, self.retries = settings, workers, timeout_s, retries
        self.scratch = Path(tempfile.mkdtemp(prefix="webgen-pool-"))
        self._workers: list[_Worker] = []
        self.restarts = 0
        self._fatal: str | None = None
        self._closed = False
        for _ in range(workers):  # they warm up (Chromium, build worker) while the caller generates
            self._workers.append(_Worker(settings, self.scratch))

    # -- lifetime ---------------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for worker in self._workers:
            worker.stop()
        self._workers.clear()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def clear_screenshots(self) -> None:
        """Delete the screenshots earlier jobs wrote under the scratch folder (``<scratch>/shots``). Call it once
        their results are stored (the store keeps the screenshots' bytes): a long run then holds only one batch."""
        shutil.rmtree(self.scratch / "shots", ignore_errors=True)

    def __enter__(self) -> EvaluatorPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pids(self) -> list[int]:
        """The workers' process ids (for tests and monitoring)."""
        return [w.proc.pid for w in self._workers]

    # -- work -------------------------------------------------------------------------------------
    def map(self, jobs: list[EnvJob], *, timeout_s: float | None = None) -> list[EnvResult]:
        """Evaluate ``jobs`` in parallel; results in job order; an unevaluable job is an error result.
        ``timeout_s`` replaces the pool's per-job limit for this call."""
        if self._closed:
            raise RuntimeError("the pool is closed")
        limit = self.timeout_s if timeout_s is None else timeout_s
        results: list[EnvResult | None] = [None] * len(jobs)
        queue: deque[int] = deque(range(len(jobs)))
        attempts = [0] * len(jobs)
        start_failures = 0
        while queue or any(w.slot is not None for w in self._workers):
            for worker in self._workers:
                if worker.ready and worker.slot is None and queue:
                    slot = queue.popleft()
                    attempts[slot] += 1
                    worker.slot, worker.deadline = slot, time.monotonic() + limit
                    worker.watch()
                    try:
                        worker.conn.send(("job", slot, jobs[slot].model_dump()))
                    except OSError:
                        worker.deadline = 0.0  # handled below as a dead worker
            by_conn = {w.conn: w for w in self._workers}
            for conn in wait(list(by_conn), timeout=0.2):
                worker = by_conn[conn]
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    self._lost(worker, jobs, results, queue, attempts, "the evaluator worker died")
                    continue
                if message[0] == "ready":
                    worker.ready = True
                    worker.watch()
                    start_failures = 0
                elif message[0] == "done":
                    _, slot, data = message
                    results[slot] = _result(data, jobs[slot])
                    worker.slot, worker.deadline = None, float("inf")
                elif message[0] == "fatal":
                    start_failures += 1
                    self._fatal = message[1]
                    self._lost(worker, jobs, results, queue, attempts, f"the evaluator could not start: {message[1]}")
            now = time.monotonic()
            for worker in list(self._workers):
                if worker.slot is not None and now > worker.deadline:
                    slot = worker.slot
                    if worker.deadline > 0:  # a real timeout: no retry, the job is the cause
                        results[slot] = EnvResult(kind="invalid", error=f"timed out after {limit:g}s")
                        worker.slot = None
                    self._lost(worker, jobs, results, queue, attempts, "the evaluator worker could not be reached")
                elif not worker.ready and now - worker.started > START_TIMEOUT_S:
                    start_failures += 1
                    self._lost(worker, jobs, results, queue, attempts, "the evaluator worker did not start")
            if start_failures >= 2 * self.size + 1:  # workers cannot start at all: fail what is left, clearly
                why = self._fatal or "evaluator workers keep failing to start"
                for slot in [*queue, *(w.slot for w in self._workers if w.slot is not None)]:
                    results[slot] = EnvResult(kind="invalid", error=why)
                queue.clear()
                for worker in self._workers:
                    worker.slot = None
        return [r if r is not None else EnvResult(kind="invalid", error="not evaluated") for r in results]

    def _lost(
        self,
        worker: _Worker,
        jobs: list[EnvJob],
        results: list[EnvResult | None],
        queue: deque[int],
        attempts: list[int],
        why: str,
    ) -> None:
        """Replace a dead (or killed) worker; retry its job once more, else report it."""
        slot = worker.slot
        worker.kill()
        self._workers.remove(worker)
        self._workers.append(_Worker(self.settings, self.scratch))
        self.restarts += 1
        if slot is None or results[slot] is not None:
            return
        if attempts[slot] <= self.retries:
            logger.warning("job %d: %s; retrying", slot, why)
            queue.appendleft(slot)
        else:
            results[slot] = EnvResult(kind="invalid", error=f"{why} (tried {attempts[slot]} times)")


def _result(data: dict[str, Any], job: EnvJob) -> EnvResult:
    if "error" in data and "kind" not in data:
        return EnvResult(kind="invalid", files=job.files, error=data["error"])
    return EnvResult.model_validate(data)
