"""The local backend: each worker is a process on this machine (`python -m webgen.collect.worker FD`), fed over a
socket pair. A worker runs in a session of its own (no terminal Ctrl-C; its group can be killed whole)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from multiprocessing.connection import Connection, wait
from typing import Any

from webgen.collect import procs
from webgen.collect.worker import Job
from webgen.core.settings import Settings

Message = tuple[Any, ...]


class LocalWorker:
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
        self.ready = False
        self.job: Job | None = None
        self.family: list[procs.Proc] = []  # its process tree, last seen
        self._send("settings", settings)

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
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()
        self.conn.close()

    def kill(self) -> None:
        """Kill it with everything it started (its group, and the children it put in groups of their own)."""
        procs.kill([*procs.tree(self.proc.pid), *self.family])
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        self.conn.close()

    def death(self) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        return f"exit code {self.proc.returncode}"


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
