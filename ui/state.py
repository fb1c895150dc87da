"""Per-browser-session state: its settings, its runs, its preview server and the thread that runs the loop.

One :class:`UIWorld` per app holds what is shared (the store and the site environment); one
:class:`UISession` per browser session (keyed by Gradio's session hash) holds that session's work. Runs go
through :class:`webgen.graph.session.Session`; its typed events land in a queue that the chat handler drains.
"""

from __future__ import annotations

import logging
import queue
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from webgen.core.settings import Settings
from webgen.feedback.site.environment import SiteEnvironment
from webgen.feedback.site.project_import import ProjectPlan
from webgen.graph.events import Built, Rendered, RouteResult, RunEvent
from webgen.graph.run import RunOutcome
from webgen.graph.session import Session
from webgen.storage.conversations import conversation_runs, labels
from webgen.storage.store import StoreError, TrajectoryStore
from webgen.ui.preview import PreviewServer

logger = logging.getLogger(__name__)
#: how long later run events are gathered into one chat update
GATHER_S = 0.5


class Selection(BaseModel):
    """A step of one of the session's runs."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    step: int


class RunDone(BaseModel):
    """The end of a run as the runner thread saw it (the outcome, or the one-line error that stopped it)."""

    run_id: str
    outcome: RunOutcome | None = None
    error: str | None = None


class UIWorld:
    """What every browser session shares: settings, the store and the site environment (started lazily)."""

    def __init__(self, settings: Settings, *, host: str = "127.0.0.1", env: SiteEnvironment | None = None) -> None:
        self.settings = settings
        self.host = host
        self._env = env
        self._owned: list[Any] = []
        self._store: TrajectoryStore | None = None
        self._lock = threading.Lock()  # the sessions
        self._store_lock = threading.Lock()
        self._env_lock = threading.Lock()
        self._closed = False
        self.ready = threading.Event()  # set when `warm_up` is done
        #: one run at a time over the shared site environment (its build worker and browser)
        self.run_lock = threading.Lock()
        self.sessions: dict[str, UISession] = {}
        self.empty_dir = Path(tempfile.mkdtemp(prefix="webgen-ui-empty-"))  # the file tree's root with no step

    @property
    def store(self) -> TrajectoryStore:
        with self._store_lock:
            if self._closed:
                raise RuntimeError("the UI is shutting down")
            if self._store is None:
                self._store = TrajectoryStore(self.settings.resolved_database_url)
                self._owned.append(self._store)
            return self._store

    @property
    def env(self) -> SiteEnvironment:
        with self._env_lock:
            if self._closed:
                raise RuntimeError("the UI is shutting down")
            if self._env is None:
                self._env = SiteEnvironment(self.settings).start()
                self._owned.append(self._env)
            return self._env

    def warm_up(self) -> None:
        """Open the store (migrating it), start the site environment and load the loop's lazily imported parts,
        so that the first Send does not wait for them (run on a thread when the app starts)."""
        try:
            _ = self.store, self.env
            if self.settings.agent.gui_agent != "browser-use":
                import webgen.feedback.gui.webvoyager  # noqa: F401  (imported by the first run otherwise)
        except Exception:  # the first run reports the same problem in the chat
            logger.exception("warming up the UI failed")
        finally:
            self.ready.set()

    def session(self, key: str) -> UISession:
        with self._lock:
            if key not in self.sessions:
                self.sessions[key] = UISession(self, key)
            return self.sessions[key]

    def drop(self, key: str) -> None:
        with self._lock:
            ui = self.sessions.pop(key, None)
        if ui is not None:
            ui.close()

    def close(self) -> None:
        for key in list(self.sessions):
            self.drop(key)
        with self._env_lock, self._store_lock:  # waits for a warm-up in progress; none starts after
            self._closed = True
            for owned in reversed(self._owned):
                try:
                    owned.close()
                except Exception:
                    logger.exception("closing %r failed", owned)
            self._owned.clear()
        shutil.rmtree(self.empty_dir, ignore_errors=True)


class UISession:
    """One browser session's work: settings, runs (in order), the selected step and the preview server."""

    def __init__(self, world: UIWorld, key: str) -> None:
        self.world = world
        self.key = key
        self.settings = world.settings
        self.workdir = Path(tempfile.mkdtemp(prefix="webgen-ui-"))
        self.runs: list[str] = []
        self.selected: Selection | None = None
        self.origin: Selection | None = None  # "Continue from here"
        self.chat: list[Any] = []
        # once a run ends, until the UI shows its panels: the view they were read for and the future of their values
        self.ended: tuple[int, Future] | None = None
        self.view = 0  # bumped by `show`: what changed the shown step (a pick, an opened conversation, a new chat)
        self.conversation: str | None = None  # the stored conversation this chat adds its runs to
        self.title = ""
        self.events: queue.Queue[RunEvent | RunDone] = queue.Queue()
        self.current_run: str | None = None
        self._thread: threading.Thread | None = None
        self._preview: PreviewServer | None = None
        self._session: Session | None = None

    # -- resources ------------------------------------------------------------------------------
    @property
    def preview(self) -> PreviewServer:
        if self._preview is None:
            self._preview = PreviewServer(self.workdir / "previews", host=self.world.host).start()
        return self._preview

    def _engine(self) -> Session:
        if self._session is None:
            self._session = Session(
                self.settings, store=self.world.store, env=self.world.env, subscribers=[self._on_event]
            )
        self._session.settings = self.settings
        return self._session

    def close(self) -> None:
        if self.current_run and self._session is not None:
            self._session.cancel(self.current_run)
        if self._thread is not None:
            self._thread.join(timeout=120)
        if self._preview is not None:
            self._preview.stop()
        if self._session is not None:
            self._session.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- runs -----------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _on_event(self, event: RunEvent) -> None:
        """Called on the loop's thread: a built step's `dist/` is copied for the preview before it moves on."""
        if isinstance(event, Built) and event.ok and event.index is not None:
            dist = self.settings.home / "runs" / event.run_id / "site" / "dist"
            if dist.is_dir():
                try:
                    self.preview.add(event.run_id, event.index, dist)
                except OSError:
                    logger.exception("copying the preview of %s/%s failed", event.run_id, event.index)
        if isinstance(event, Rendered):
            event = event.model_copy(update={"routes": [self._keep(event, i, r) for i, r in enumerate(event.routes)]})
        self.events.put(event)

    def _keep(self, event: Rendered, i: int, route: RouteResult) -> RouteResult:
        """A copy of the route's screenshot in the session's folder (the run's own folder goes when it ends)."""
        if route.screenshot is None or not Path(route.screenshot).is_file():
            return route
        media = self.workdir / "media"
        media.mkdir(parents=True, exist_ok=True)
        copy = media / f"{event.run_id[:8]}-{event.index}-{i}.png"
        shutil.copyfile(route.screenshot, copy)
        return route.model_copy(update={"screenshot": copy})

    def send(self, message: str) -> str:
        """Start a run for `message` on a thread: from scratch, or from the chosen step. Returns its id."""
        origin = self.origin or self.selected

        def run(engine: Session, run_ids: list[str], extra: dict[str, Any]) -> RunOutcome:
            if origin is None:
                return engine.start(message, run_id=run_ids[0], extra=extra)
            return engine.continue_from(origin.run_id, origin.step, message, new_run_id=run_ids[0], extra=extra)

        return self._launch(message, run)

    def send_project(self, project: ProjectPlan, request: str | None) -> str:
        """Start a run whose step 0 is an uploaded project and, with a request, a second run that continues from
        it (both in this conversation, their events in one stream). Returns the import run's id."""
        name = project.project.name

        def run(engine: Session, run_ids: list[str], extra: dict[str, Any]) -> RunOutcome:
            imported = engine.import_project(project, run_id=run_ids[0], extra=extra)
            if request is None or imported.status != "finished":
                return imported
            run_ids.append(uuid.uuid4().hex)
            self.runs.append(run_ids[-1])
            self.current_run = run_ids[-1]
            return engine.continue_from(run_ids[0], 0, request, new_run_id=run_ids[-1], extra=extra)

        return self._launch(f"Project {name}" + (f": {request}" if request else ""), run)

    def _launch(self, title: str, run: Callable[[Session, list[str], dict[str, Any]], RunOutcome]) -> str:
        """Run `run(engine, run_ids, extra)` on the session's thread (one run at a time over the shared site
        environment); its end goes to the event queue as a `RunDone`. Returns the first run's id."""
        if self.running:
            raise RuntimeError("a run is going: wait for it, or press Stop")
        engine = self._engine()
        run_ids = [uuid.uuid4().hex]
        self.current_run = run_ids[0]
        self.events = queue.Queue()
        if self.conversation is None:
            self.conversation, self.title = uuid.uuid4().hex, title
        extra = labels(self.conversation, self.title)

        def work() -> None:
            done = RunDone(run_id=run_ids[0])
            try:
                with self.world.run_lock:
                    done.outcome = run(engine, run_ids, extra)
            except Exception as exc:  # shown as one line in the chat; the UI stays usable
                logger.exception("run %s failed", run_ids[-1])
                done.error = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            finally:
                for run_id in run_ids:
                    shutil.rmtree(self.settings.home / "runs" / run_id, ignore_errors=True)
                self.events.put(done)

        self.runs.append(run_ids[0])
        self.origin = None
        self._thread = threading.Thread(target=work, name=f"webgen-ui-run-{run_ids[0][:8]}", daemon=True)
        self._thread.start()
        return run_ids[0]

    def next_events(self, window: float) -> list[RunEvent | RunDone]:
        """The next events: the first one (waiting up to 0.25 s for it), then whatever else comes within `window`
        seconds, up to the run's end. Each chat update makes the browser redraw the chat, so events are shown in
        bursts (a step's build, screenshots and grade together) rather than one update each."""
        try:
            batch = [self.events.get(timeout=0.25)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + window
        while not isinstance(batch[-1], RunDone):
            try:
                batch.append(self.events.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return batch

    def cancel(self) -> bool:
        if not self.running or self.current_run is None or self._session is None:
            return False
        self._session.cancel(self.current_run)
        return True

    def open_conversation(self, conversation_id: str) -> list[str]:
        """Make a stored conversation this chat's: its runs (in order) become the session's; returns them."""
        if self.running:
            raise RuntimeError("a run is going: wait for it, or press Stop")
        runs = [run.id for run in conversation_runs(self.world.store, conversation_id)]
        if not runs:
            raise StoreError(f"no stored conversation {conversation_id[:8]}")
        self.conversation, self.runs, self.origin, self.selected = conversation_id, runs, None, None
        self.title = str(self.world.store.get_run(runs[0]).config.get("ui", {}).get("title", ""))
        return runs

    def new_conversation(self) -> None:
        if self.running:
            raise RuntimeError("a run is going: wait for it, or press Stop")
        self.conversation, self.title, self.runs, self.chat = None, "", [], []
        self.origin = None
        self.show(None)

    def show(self, selection: Selection | None) -> None:
        """Make `selection` the shown step, by the user's choice (a run that ends shows its own best step, which a
        choice made since it ended overrides)."""
        self.selected, self.view = selection, self.view + 1

    def site_of(self, run_id: str, step: int, wait_s: float = 1.0) -> Path:
        """The built site of a stored step (built now, or cached), for a step this session has not built live.
        RuntimeError: a run holds the shared site environment; StepSiteError / StoreError: no site to show."""
        if not self.world.run_lock.acquire(timeout=wait_s):
            raise RuntimeError("the site is built for the preview when the run in progress ends: select it again then")
        try:
            return self._engine().build_step(run_id, step)
        finally:
            self.world.run_lock.release()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
