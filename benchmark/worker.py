"""GUI test cases on worker processes: each runs the WebVoyager-protocol agent (its own Chromium per case, a
fresh context, 1024x768) against a site the coordinator serves on loopback.

A worker is ``python -m webgen.benchmark.worker FD`` in a session of its own (a terminal's Ctrl-C reaches the
coordinator only, and the worker's process group can be killed whole). It talks over a socket with pickled
tuples. Coordinator -> worker: ``("settings", Settings, GUIProtocol)``, then ``("case", CaseJob)`` and ``("stop",)``.
Worker -> coordinator: ``("ready",)``, ``("fatal", message)`` and ``("done", CaseDone)``.

:class:`CasePool` is the coordinator's side: `submit` jobs, `poll` for what finished. A case that runs past
its hard limit has its worker killed (process group included) and comes back with an error; a worker that
dies has its case retried once on a new worker, then reported with the error.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field


class CaseJob(BaseModel):
    task_id: str
    rollout: int
    case_index: int
    url: str
    text: str  # the benchmark's task text (task, expected result, how to test, credentials, verdict)
    expected_result: str | None = None  # restated by the limit turn
    max_steps: int = 15
    timeout_s: float | None = None  # a wall-clock cap per case; None: none (the benchmark has none)


class CaseDone(BaseModel):
    job: CaseJob
    result: dict[str, Any] | None = None  # GUITestResult, dumped (no screenshots)
    tokens: int = 0
    error: str | None = None  # the worker could not run the case (died, killed past its limit)
    attempts: int = 1
    extra: dict[str, Any] = Field(default_factory=dict)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"[:300]


def serve(conn: Connection) -> None:
    """The worker's loop: one WebVoyager agent over the GUI endpoint, one case at a time."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's
    from webgen.core.env import apply_offline_env

    apply_offline_env()
    kind, settings, protocol = conn.recv()
    assert kind == "settings"
    try:
        from webgen.core.llm import OpenAIClient
        from webgen.feedback.gui.webvoyager import WebVoyagerAgent

        client = OpenAIClient(settings.gui, role="gui")
        agent = WebVoyagerAgent(
            client,
            chromium_path=settings.chromium_path,
            viewport=protocol.viewport,
            max_attached_images=protocol.max_attached_images,
            waits=settings.agent.gui_waits,
            protocol=protocol,
        )
    except Exception as exc:  # noqa: BLE001 - a worker that cannot start says why, once
        conn.send(("fatal", _first_line(exc)))
        return
    conn.send(("ready",))
    while True:
        message = conn.recv()
        if message[0] != "case":
            return
        job: CaseJob = message[1]
        before = client.usage.total_tokens
        result = agent.test(
            job.url, job.text, max_steps=job.max_steps, timeout_s=job.timeout_s, expected_result=job.expected_result
        )
        done = CaseDone(job=job, result=result.model_dump(mode="json"), tokens=client.usage.total_tokens - before)
        conn.send(("done", done))


def main(argv: list[str] | None = None) -> None:
    fd = int((argv or sys.argv[1:])[0])
    conn = Connection(socket.socket(fileno=fd).detach())
    try:
        serve(conn)
    except (EOFError, OSError):  # the coordinator is gone
        pass
    finally:
        conn.close()


# --- the coordinator's side -----------------------------------------------------------------------


def descendants(pid: int) -> set[int]:
    """The live processes below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


class _Worker:
    def __init__(self, settings: Any, protocol: Any) -> None:
        parent, child = socket.socketpair()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "webgen.benchmark.worker", str(child.fileno())],
            pass_fds=(child.fileno(),),
            start_new_session=True,
        )
        child.close()
        self.conn = Connection(parent.detach())
        self.conn.send(("settings", settings, protocol))
        self.ready = False
        self.start_by = time.monotonic() + START_TIMEOUT_S
        self.job: CaseJob | None = None
        self.attempts = 1  # of the case it holds
        self.descendants: set[int] = set()  # its process tree as last seen
        self.deadline = float("inf")

    def kill(self) -> None:
        """Kill its process group, and the groups of the processes it started (Playwright puts Chromium in one
        of its own): those alive now, and those seen while it ran (it may have died already)."""
        for pid in {*self.descendants, *descendants(self.proc.pid)}:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        self.conn.close()


START_TIMEOUT_S = 120.0


class CasePool:
    """Up to `workers` worker processes, started when there is work; `close()` kills what is left."""

    def __init__(self, settings: Any, workers: int, *, grace_s: float = 60.0, protocol: Any = None) -> None:
        from webgen.feedback.gui.protocol import GUIProtocol

        self.settings, self.size, self.grace_s = settings, max(1, workers), grace_s
        self.protocol = protocol or GUIProtocol()
        self.queue: deque[tuple[CaseJob, int]] = deque()
        self.workers: list[_Worker] = []
        self.fatal: str | None = None
        self._early_deaths = 0  # workers that died before they were ready
        self._sampled = 0.0

    @property
    def pending(self) -> int:
        return len(self.queue) + sum(1 for w in self.workers if w.job is not None)

    def submit(self, job: CaseJob) -> None:
        self.queue.append((job, 1))
        self._top_up()

    def _top_up(self) -> None:
        while self.fatal is None and len(self.workers) < min(self.size, self.pending):
            self.workers.append(_Worker(self.settings, self.protocol))

    def poll(self, timeout: float) -> list[CaseDone]:
        """Hand out queued cases and collect the finished ones, waiting at most `timeout` seconds."""
        finished: list[CaseDone] = []
        self._assign()
        by_conn = {w.conn: w for w in self.workers}
        for conn in wait(list(by_conn), timeout=timeout) if by_conn else []:
            worker = by_conn[conn]
            try:
                message = conn.recv()
            except (EOFError, OSError):
                finished += self._lost(worker, f"its worker died (exit code {worker.proc.poll()})")
                continue
            if message[0] == "fatal":
                self.fatal = f"a GUI worker could not start: {message[1]}"
                self._drop(worker)
            elif message[0] == "ready":
                worker.ready = True
            elif message[0] == "done":
                done: CaseDone = message[1]
                finished.append(done.model_copy(update={"attempts": worker.attempts}))
                worker.job, worker.deadline = None, float("inf")
        now = time.monotonic()
        if now - self._sampled > 1.0:  # remember each busy worker's processes, to kill them should it die
            self._sampled = now
            for worker in self.workers:
                if worker.job is not None:
                    worker.descendants = descendants(worker.proc.pid)
        for worker in list(self.workers):
            if worker.job is not None and now > worker.deadline:
                limit = (worker.job.timeout_s or 0.0) + self.grace_s
                finished += self._lost(worker, f"the test did not finish within {limit:g}s (its worker was killed)")
            elif not worker.ready and now > worker.start_by:
                finished += self._lost(worker, f"it was not ready within {START_TIMEOUT_S:g}s")
        self._assign()
        return finished

    def _assign(self) -> None:
        for worker in self.workers:
            if worker.ready and worker.job is None and self.queue:
                job, attempt = self.queue.popleft()
                try:
                    worker.conn.send(("case", job))
                except OSError:
                    self.queue.appendleft((job, attempt))
                    continue
                worker.job, worker.attempts = job, attempt
                # no cap: no deadline (each step of the agent is bounded; a worker that dies is seen at once)
                cap = float("inf") if job.timeout_s is None else job.timeout_s
                worker.deadline = time.monotonic() + cap + self.grace_s

    def _lost(self, worker: _Worker, reason: str) -> list[CaseDone]:
        """A worker died or was killed: its case is retried once on a new worker, else reported."""
        if not worker.ready:
            self._early_deaths += 1
            if self._early_deaths > 2 * self.size + 2:
                self.fatal = f"GUI workers keep dying before they are ready (the last one: {reason})"
        job, attempt, retry = worker.job, worker.attempts, "died" in reason and worker.attempts < 2
        if job is not None and retry:
            self.queue.appendleft((job, attempt + 1))
        self._drop(worker)
        return [] if job is None or retry else [CaseDone(job=job, error=reason, attempts=attempt)]

    def _drop(self, worker: _Worker) -> None:
        worker.kill()
        self.workers.remove(worker)
        self._top_up()

    def close(self) -> None:
        """Stop the idle workers and kill the busy ones (their cases stay unrecorded: a re-run does them)."""
        for worker in self.workers:
            if worker.job is None and worker.ready:
                with contextlib.suppress(OSError):
                    worker.conn.send(("stop",))
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.proc.wait(5)
            worker.kill()
        self.workers.clear()
        self.queue.clear()


if __name__ == "__main__":  # run under its own module name, so what it pickles unpickles in the coordinator
    from webgen.benchmark.worker import main as module_main

    module_main()
