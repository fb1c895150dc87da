"""One collection worker: a process holding ONE session (a site environment and a Chromium) for all its runs.

`run_job` (one pair's run: started, resumed or left alone) is shared with the Ray actors of
:mod:`webgen.collect.ray_backend`. The local backend (:mod:`webgen.collect.local`) forks a process that runs
`serve` in a session of its own (so a terminal's Ctrl-C reaches the coordinator only, which cancels runs
cleanly). It talks over a pipe with pickled tuples. Coordinator -> worker:
``("settings", Settings)`` first, then ``("job", Job)``, ``("cancel", run_id)`` and ``("stop",)``.
Worker -> coordinator: ``("ready", pid)``, ``("fatal", message)``, ``("step", run_id, tokens)`` and
``("done", Result)``.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import threading
import uuid
from multiprocessing.connection import Connection
from typing import Any

from pydantic import BaseModel


class Job(BaseModel):
    entry_id: int
    task_id: int
    run_id: str
    mode: str


class Result(BaseModel):
    entry_id: int
    run_id: str
    status: str  # finished / failed / cancelled / interrupted (the run's status)
    error: str | None = None
    failure: str | None = None  # why it did not finish (RunOutcome.failure): endpoint, timeout, crash, cancelled
    endpoint_role: str | None = None  # with failure "endpoint": the role and URL of the endpoint that failed
    endpoint_url: str | None = None
    steps: int = 0
    tokens: int = 0


class _Channel:
    """Sends from any thread; reads on one thread, which handles cancels at once and queues the rest."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.lock = threading.Lock()
        self.jobs: queue.Queue[Any] = queue.Queue()
        self.current: str | None = None  # the run in flight

    def send(self, *message: Any) -> None:
        with self.lock:
            self.conn.send(message)

    def read(self, session: Any) -> None:
        try:
            while True:
                message = self.conn.recv()
                if message[0] == "cancel":
                    session.cancel(message[1])
                else:
                    self.jobs.put(message)
        except (EOFError, OSError):  # the coordinator is gone: cancel the run in flight (resumable), then stop
            if self.current:
                session.cancel(self.current)
            self.jobs.put(("stop",))


def run_job(session: Any, job: Job) -> Result:
    """Start the pair's run, or resume it if an earlier attempt stored it (same run id: nothing duplicated)."""
    from webgen.graph.run import RunCrashed
    from webgen.storage.store import StoreError

    store = session.store
    try:
        try:
            existing = store.get_run(job.run_id)
        except StoreError:
            existing = None
        task = store.get_task(job.task_id)
        if existing is None:
            outcome = session.start(task, mode=job.mode, run_id=job.run_id)
        elif existing.status == "finished":
            outcome = None
        elif store.next_index(job.run_id) == 0 or existing.mode != "agent":
            # killed before its first checkpoint or step (or a single-shot run, which cannot be resumed):
            # the empty run is closed and a new one takes the pair
            store.finish_run(job.run_id, "failed", error="superseded: its worker died before it had a step")
            job = job.model_copy(update={"run_id": uuid.uuid4().hex})
            outcome = session.start(task, mode=job.mode, run_id=job.run_id)
        else:
            outcome = session.resume(job.run_id)
        run = store.get_run(job.run_id)
        error = outcome.error if outcome else run.error
        return Result(
            entry_id=job.entry_id,
            run_id=job.run_id,
            status=run.status,
            error=error,
            failure=outcome.failure if outcome else None,
            endpoint_role=outcome.endpoint_role if outcome else None,
            endpoint_url=outcome.endpoint_url if outcome else None,
            steps=store.next_index(job.run_id),
            tokens=run.tokens_prompt + run.tokens_completion,
        )
    except RunCrashed as exc:
        return Result(entry_id=job.entry_id, run_id=job.run_id, status="failed", error=exc.message, failure="crash")
    except Exception as exc:  # noqa: BLE001 - reported to the coordinator, which marks the pair
        error = f"{type(exc).__name__}: {exc}"
        return Result(entry_id=job.entry_id, run_id=job.run_id, status="failed", error=error, failure="crash")


def serve(conn: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's: it cancels our run
    from webgen.core.env import apply_offline_env
    from webgen.graph.events import Recorded
    from webgen.graph.session import Session

    apply_offline_env()
    channel = _Channel(conn)
    try:
        kind, settings = conn.recv()
    except (EOFError, OSError):  # the coordinator went before it sent the settings (a Ctrl-C as workers start)
        return
    assert kind == "settings"

    def on_event(event: Any) -> None:
        if isinstance(event, Recorded):
            with contextlib.suppress(OSError):  # a coordinator that is gone must not fail the run
                channel.send("step", event.run_id, event.tokens)

    try:
        session = Session(settings, subscribers=[on_event])
    except Exception as exc:  # noqa: BLE001 - a worker that cannot start says why, once
        channel.send("fatal", f"{type(exc).__name__}: {exc}")
        return
    with session:
        threading.Thread(target=channel.read, args=(session,), daemon=True).start()

        channel.send("ready", os.getpid())
        while True:
            message = channel.jobs.get()
            if message[0] != "job":
                return
            channel.current = message[1].run_id
            result = run_job(session, message[1])
            channel.current = None
            try:
                channel.send("done", result)
            except OSError:  # the coordinator is gone
                return
