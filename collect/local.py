"""The local backend: each worker is a process on this machine, fed over a pipe. A worker runs in a session of
its own (no terminal Ctrl-C; its group can be killed whole).

Workers are forked from a multiprocessing fork server that has imported what a worker needs once (LangGraph,
the OpenAI client, Playwright, SQLAlchemy: ~3-4 CPU-seconds a process), instead of each new worker importing it
again: on 2 cores, four workers starting together used to spend their first seconds importing.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from multiprocessing.connection import Connection, wait
from typing import Any

from webgen.collect import procs
from webgen.collect.worker import Job
from webgen.core.settings import Settings

Message = tuple[Any, ...]
#: Imported once by the fork server (an ImportError is ignored there): first a module that takes it out of the
#: terminal's session (no Ctrl-C for it or its workers), then the script that started us (its workers then skip
#: running it again as `__mp_main__`; it must start a collection under `if __name__ == "__main__":`), then what
#: `worker.serve` uses.
PRELOAD = [
    "webgen.collect.forkserver_session",
    "__main__",
    "webgen.collect.worker",
    "webgen.core.env",
    "webgen.graph.events",
    "webgen.graph.session",
    "webgen.feedback.gui.webvoyager",
    "playwright.async_api",
    "openai.resources",
]


def _forkserver() -> Any:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)  # no effect once this process's fork server runs
    return context


def _worker_main(conn: Connection) -> None:
    """A worker process: its own session, so the terminal's Ctrl-C reaches the coordinator only."""
    from webgen.collect import worker

    os.setsid()
    try:
        worker.serve(conn)
    finally:
        conn.close()


class WorkerStartError(RuntimeError):
    """A worker process could not be started (the fork server failed)."""


class LocalWorker:
    def __init__(self, slot: int, settings: Settings) -> None:
        context = _forkserver()
        parent, child = context.Pipe()
        self.slot = slot
        self.proc = context.Process(target=_worker_main, args=(child,), name=f"webgen-collect-worker-{slot}")
        try:
            self.proc.start()
        except (EOFError, OSError) as exc:  # the fork server died: it printed why (an error in a preloaded module)
            parent.close()
            raise WorkerStartError(
                f"the fork server that starts workers failed ({type(exc).__name__}; see the error above). A script "
                'that runs a collection must start it under `if __name__ == "__main__":`'
            ) from exc
        finally:
            child.close()
        self.conn = parent
        self.ready = False
        self.job: Job | None = None
        self.family: list[procs.Proc] = []  # its process tree, last seen
        try:
            self._send("settings", settings)
        except BaseException:  # a Ctrl-C before the pool holds it: it would be left running
            self.kill()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _send(self, *message: Any) -> None:
        with contextlib.suppress(OSError):  # a dead worker shows up as a lost one on the next poll
            self.conn.send(message)

    def submit(self, job: Job) -> None:
        self.job = job
        self._send("job", job)

    def cancel(self, run_id: str) -> None:
        self._send("cancel", run_id)

    def stop(self) -> None:
        """Retire an idle worker: it closes its session and exits."""
        self._send("stop")
        self.proc.join(30)
        if self.proc.exitcode is None:
            self.kill()
        self.conn.close()

    def kill(self) -> None:
        """Kill it with everything it started (its group, and the children it put in groups of their own). Once it
        has exited (the fork server reaps it at once), its pid may be another process's: only its descendants
        seen while it lived are killed then."""
        alive = self.proc.exitcode is None
        procs.kill([*(procs.tree(self.proc.pid) if alive else []), *self.family])
        self.proc.join(5)
        self.conn.close()

    def death(self) -> str:
        self.proc.join(5)
        return f"exit code {self.proc.exitcode}"


class LocalBackend:
    """Worker processes on this machine."""

    name = "local"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def spawn(self, slot: int) -> LocalWorker:
        return LocalWorker(slot, self.settings)

    def poll(self, workers: list[Any], timeout: float) -> list[tuple[Any, Message]]:
        """Messages from the workers: ("ready",), ("step", run_id, tokens), ("done", Result), ("fatal", text),
        and ("lost",) for a worker that died."""
        by_conn = {worker.conn: worker for worker in workers}
        messages: list[tuple[Any, Message]] = []
        for conn in wait(list(by_conn), timeout=timeout):
            worker = by_conn[conn]
            try:
                messages.append((worker, conn.recv()))
            except (EOFError, OSError):
                messages.append((worker, ("lost",)))
        return messages

    def memory(self, workers: list[Any]) -> dict[int, float]:
        """Slot -> PSS of each worker's process tree now (and the tree is remembered, to kill it if it dies)."""
        table = procs.children()
        sizes = {}
        for worker in workers:
            worker.family = procs.tree(worker.proc.pid, table)
            sizes[worker.slot] = procs.pss_mb(worker.family)
        return sizes

    def close(self) -> None:
        return None
