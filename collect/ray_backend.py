"""The Ray backend: each worker is a Ray actor holding one session (a site environment and a Chromium), reused
across runs; the coordinator (:mod:`webgen.collect.pool`) is the same as for local processes, and so is the
job logic (:func:`webgen.collect.worker.run_job`).

`address` None starts a Ray of our own on this machine (loopback, no dashboard, no usage stats) and shuts it
down after; `auto`, `host:port` or `ray://host:port` joins a running cluster. Workers on other machines need
the store and the checkpoints on Postgres (`needs_shared_store`; the CLI refuses SQLite before starting).
`ray` is imported only when a backend is made.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from typing import Any

from webgen.collect import procs
from webgen.collect.worker import Job, run_job
from webgen.core.settings import Settings

logger = logging.getLogger(__name__)
Message = tuple[Any, ...]


def needs_shared_store(address: str | None) -> bool:
    """Whether workers may run on other machines (any address but our own local Ray)."""
    return bool(address) and address != "local"


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast (ConnectionError) when a HOST:PORT or ray://HOST:PORT address does not answer; Ray itself
    retries a dead address for minutes. `auto` is checked by Ray (it reads the address of the running cluster)."""
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        if address == "auto":
            return
        raise ValueError(f"a Ray address is `auto`, HOST:PORT or ray://HOST:PORT, not {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ConnectionError(f"nothing answers at {target} ({exc.strerror or exc})") from exc


class SessionActor:
    """One worker (made a Ray actor by :class:`RayBackend`): a session for all its runs, and its step events
    buffered for the coordinator's `drain`. Threaded, so `cancel` and `drain` answer while `run` runs."""

    def __init__(self, settings: Settings) -> None:
        with contextlib.suppress(ValueError):  # only possible on the main thread; Ctrl-C is the coordinator's
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        from webgen.core.env import apply_offline_env
        from webgen.graph.events import Recorded

        apply_offline_env()
        self._lock = threading.Lock()
        self._events: list[Message] = []
        self.error: str | None = None
        self.session: Any = None

        def on_event(event: Any) -> None:
            if isinstance(event, Recorded):
                with self._lock:
                    self._events.append(("step", event.run_id, event.tokens))

        try:
            from webgen.graph.session import Session

            self.session = Session(settings, subscribers=[on_event])
        except Exception as exc:  # noqa: BLE001 - a worker that cannot start says why, once (`info`)
            self.error = f"{type(exc).__name__}: {exc}"

    def info(self) -> dict[str, Any]:
        import ray

        return {"pid": os.getpid(), "node": ray.get_runtime_context().get_node_id(), "error": self.error}

    def run(self, job: Job) -> Any:
        return run_job(self.session, job)

    def cancel(self, run_id: str) -> None:
        if self.session is not None:
            self.session.cancel(run_id)

    def drain(self) -> list[Message]:
        """The step events since the last call."""
        with self._lock:
            events, self._events = self._events, []
        return events

    def memory(self) -> tuple[list[procs.Proc], float]:
        """This worker's process tree and its memory (PSS, MB)."""
        family = procs.tree(os.getpid())
        return family, procs.pss_mb(family)

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None


class RayWorker:
    """The coordinator's handle on one actor."""

    def __init__(self, slot: int, actor: Any) -> None:
        self.slot, self.actor = slot, actor
        self.ready = False
        self.job: Job | None = None
        self.info_ref: Any = actor.info.remote()
        self.run_ref: Any = None
        self.pid: int | None = None
        self.node: str | None = None
        self.family: list[procs.Proc] = []  # its process tree, last seen (to kill what it started if it dies)
        self.died: str | None = None

    def submit(self, job: Job) -> None:
        self.job = job
        self.run_ref = self.actor.run.remote(job)

    def cancel(self, run_id: str) -> None:
        self.actor.cancel.remote(run_id)

    def stop(self) -> None:
        """Retire an idle worker: it closes its session (browser, build worker), then its actor exits."""
        import ray

        try:
            ray.get(self.actor.close.remote(), timeout=30)
            self.actor.__ray_terminate__.remote()
        except Exception:  # noqa: BLE001 - dead or stuck: killed instead
            self.kill()

    def kill(self) -> None:
        import ray

        with contextlib.suppress(Exception):
            ray.kill(self.actor, no_restart=True)
        if self.node is not None and self.node == ray.get_runtime_context().get_node_id():
            procs.kill(self.family)  # its browser and build worker, in process groups of their own

    def death(self) -> str:
        return self.died or "its Ray actor died"


def _died(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else 'the actor died'}"[:300]


class RayBackend:
    """Workers as Ray actors, one CPU each."""

    name = "ray"

    def __init__(self, settings: Settings, *, address: str | None = None, num_cpus: int = 1) -> None:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        import ray

        self.settings = settings
        self._owned = False
        if not ray.is_initialized():
            options: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,  # workers' logs stay in Ray's session folder, not over the progress bar
                "logging_level": logging.WARNING,
            }
            if needs_shared_store(address):
                check_reachable(address)
                ray.init(address=address, **options)
            else:
                ray.init(num_cpus=max(1, num_cpus), _node_ip_address="127.0.0.1", **options)
            self._owned = True
        self._actor = ray.remote(SessionActor).options(num_cpus=1, max_concurrency=4, max_restarts=0)

    def spawn(self, slot: int) -> RayWorker:
        return RayWorker(slot, self._actor.remote(self.settings))

    def poll(self, workers: list[RayWorker], timeout: float) -> list[tuple[RayWorker, Message]]:
        """Messages as the local backend gives them: ("ready",), ("fatal", text), ("step", run_id, tokens),
        ("done", Result) and ("lost",)."""
        import ray

        refs = {}
        for worker in workers:
            if worker.run_ref is not None:
                refs[worker.run_ref] = worker
            elif not worker.ready:
                refs[worker.info_ref] = worker
        finished: list[Any] = []
        if refs:
            finished, rest = ray.wait(list(refs), num_returns=1, timeout=timeout)
            if rest and finished:
                finished += ray.wait(rest, num_returns=len(rest), timeout=0)[0]
        messages: list[tuple[RayWorker, Message]] = []
        lost: set[int] = set()
        busy = [w for w in workers if w.ready and w.job is not None]
        drains = [(w, w.actor.drain.remote()) for w in busy]
        for worker, ref in drains:  # step events first: a run's last steps come before its end
            try:
                events = ray.get(ref, timeout=30)
            except ray.exceptions.GetTimeoutError:
                continue
            except ray.exceptions.RayActorError as exc:
                worker.died = _died(exc)
                lost.add(worker.slot)
                continue
            messages += [(worker, event) for event in events]
        for ref in finished:
            worker = refs[ref]
            if worker.slot in lost:
                continue
            try:
                value = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                worker.died = _died(exc)
                lost.add(worker.slot)
                continue
            if ref is worker.info_ref and not worker.ready:
                worker.pid, worker.node = value["pid"], value["node"]
                messages.append((worker, ("fatal", value["error"]) if value["error"] else ("ready",)))
            else:
                worker.run_ref = None
                messages.append((worker, ("done", value)))
        messages += [(w, ("lost",)) for w in workers if w.slot in lost]
        return messages

    def memory(self, workers: list[RayWorker]) -> dict[int, float]:
        """Slot -> PSS of each started worker's process tree, measured by the worker on its own machine."""
        import ray

        asked = [(w, w.actor.memory.remote()) for w in workers if w.ready]
        sizes = {}
        for worker, ref in asked:
            try:
                worker.family, sizes[worker.slot] = ray.get(ref, timeout=30)
            except (ray.exceptions.GetTimeoutError, ray.exceptions.RayActorError):
                continue  # a dead worker shows up in the next poll
        return sizes

    def close(self) -> None:
        import ray

        if self._owned and ray.is_initialized():
            ray.shutdown()
