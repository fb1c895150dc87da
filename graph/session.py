"""The session API: the one way the CLI, the benchmarks, the tests, the UI, the collector and the trainers
start work on the engine.

One :class:`Session` per worker holds a store and a site environment (a build worker and a Chromium) and
is reused across runs; each run gets its own model clients, closed when it ends::

    with Session(settings, subscribers=[print]) as session:
        outcome = session.start("A bakery site with a menu")                 # agent mode (or mode="single-shot")
        follow = session.continue_from(outcome.run_id, 2, "Add a contact page")
        again = session.resume(run_id)                                         # a killed, failed or cancelled run
        session.cancel(run_id)                                                 # from another thread
        dist = session.build_step(outcome.run_id, 1)                           # that step's site, built (cached)
        imported = session.import_project(Path("shop.zip"))                   # step 0: an existing site
        follow = session.continue_from(imported.run_id, 0, "Add a contact page")

`start` and `continue_from` take `extra`: JSON values stored in the run's config (the UI records its
conversation there), never read by the loop.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from webgen.core.llm import OpenAIClient, TokenBudget
from webgen.core.settings import AgentSettings, Settings, SiteSettings
from webgen.feedback.evaluation.evaluator import StepEvaluator
from webgen.feedback.judge.vlm import VLMJudge
from webgen.feedback.site.environment import SiteEnvironment
from webgen.feedback.site.project_import import ProjectPlan, load_project
from webgen.feedback.site.scaffold import workspace_for
from webgen.feedback.site.workspace import Workspace
from webgen.graph.checkpoints import has_checkpoint
from webgen.graph.deps import Deps
from webgen.graph.events import Subscriber
from webgen.graph.import_run import ImportedStart, import_request, import_run
from webgen.graph.run import RunOutcome, continue_agent, resume_agent, run_agent
from webgen.graph.single_shot import run_single_shot
from webgen.storage.store import StoreError, TrajectoryStore
from webgen.storage.values import Task, TaskIn

Mode = Literal["agent", "single-shot"]
logger = logging.getLogger(__name__)
_SNAPSHOT_ID = re.compile(r"^[0-9a-zA-Z_-]{8,128}$")
#: built step sites kept under `<home>/step-sites/` (each is one `dist/`, typically under 1 MB)
STEP_SITES_KEPT = 200


class StepSiteError(RuntimeError):
    """A stored step's site does not build (the message is one line: the first located error)."""


def _gui_agent(settings: Settings, client: OpenAIClient) -> Any:
    if settings.agent.gui_agent == "browser-use":
        from webgen.feedback.gui.browser_use import BrowserUseAgent

        return BrowserUseAgent(settings.gui, chromium_path=settings.chromium_path)
    from webgen.feedback.gui.webvoyager import WebVoyagerAgent

    return WebVoyagerAgent(client, chromium_path=settings.chromium_path, waits=settings.agent.gui_waits)


class Session:
    """Runs, continues, resumes and cancels runs; releases every client, browser and process it opened."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: TrajectoryStore | None = None,
        env: SiteEnvironment | None = None,
        subscribers: Iterable[Subscriber] = (),
    ) -> None:
        self.settings = settings
        self._owned: list[Any] = []
        if store is None:
            store = TrajectoryStore(settings.resolved_database_url)
            self._owned.append(store)
        self.store = store
        if env is None:
            env = SiteEnvironment(settings)
            self._owned.append(env)
            env.start()
        self.env = env
        self.subscribers: list[Subscriber] = list(subscribers)
        self._cancel: dict[str, threading.Event] = {}
        self._failed_builds: dict[str, str] = {}  # snapshot id -> why its site does not build
        self._lock = threading.Lock()

    # -- lifetime ---------------------------------------------------------------------------------
    def close(self) -> None:
        for owned in reversed(self._owned):
            owned.close()
        self._owned.clear()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def subscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.append(subscriber)

    # -- runs -------------------------------------------------------------------------------------
    def start(
        self,
        task: Task | TaskIn | str,
        *,
        mode: Mode = "agent",
        run_id: str | None = None,
        settings: Settings | None = None,
        extra: dict[str, Any] | None = None,
    ) -> RunOutcome:
        """A new run of `task` (a stored task, one to store, or a request) from a fresh scaffold."""
        cfg = settings or self.settings
        stored = self._task(task)
        run_id = run_id or uuid.uuid4().hex
        with self._running(run_id):  # a cancel counts from the moment the run exists
            self._start_run(stored, mode, cfg, run_id, extra)
            with self._deps(cfg, run_id) as deps:
                runner = run_agent if mode == "agent" else run_single_shot
                return runner(deps, stored, run_id)

    def continue_from(
        self,
        run_id: str,
        step: int,
        instruction: str,
        *,
        new_run_id: str | None = None,
        settings: Settings | None = None,
        extra: dict[str, Any] | None = None,
    ) -> RunOutcome:
        """A new agent run that starts from step `step` of run `run_id`: that step's files and history, plus
        `instruction` as the next request. Its steps are stored under the new run."""
        origin = self.store.get_step(run_id, step)
        cfg = settings or self.settings
        task = self._task(instruction)
        stored_extra = {**(extra or {}), "continued_from": {"run_id": run_id, "step": step}}
        new_run_id = new_run_id or uuid.uuid4().hex
        with self._running(new_run_id):
            self._start_run(task, "agent", cfg, new_run_id, stored_extra)
            with self._deps(cfg, new_run_id) as deps:
                return continue_agent(deps, task, new_run_id, origin)

    def import_project(
        self,
        project: Path | ProjectPlan,
        *,
        run_id: str | None = None,
        settings: Settings | None = None,
        extra: dict[str, Any] | None = None,
    ) -> RunOutcome:
        """A new run whose step 0 is an existing Vite + React project (a folder or a zip, or a checked
        :class:`ProjectPlan`): its files are snapshotted, built, rendered and judged like a step. Continue it
        with `continue_from(outcome.run_id, 0, request)`. ProjectImportError (before any run exists): bad input."""
        plan = project if isinstance(project, ProjectPlan) else load_project(project)
        cfg = settings or self.settings
        snapshot = self._snapshot_project(plan)
        found = plan.project
        imported = ImportedStart(
            name=found.name,
            source=str(found.source),
            snapshot=snapshot,
            files=len(found.files),
            total_bytes=found.total_bytes,
        )
        task = self._task(TaskIn(source="import", external_id=snapshot[:16], instruction=import_request(found.name)))
        run_id = run_id or uuid.uuid4().hex
        with self._running(run_id):
            self._start_run(task, "agent", cfg, run_id, {**(extra or {}), "imported": imported.model_dump()})
            with self._deps(cfg, run_id) as deps:
                return import_run(deps, task, run_id, imported)

    def _snapshot_project(self, plan: ProjectPlan) -> str:
        """Write the project into a scratch folder and store its files as a snapshot; returns the snapshot id."""
        root = self.settings.home / "imports"
        root.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix="import-", dir=root))
        try:
            plan.write(scratch / "site")
            snapshot = Workspace(scratch / "site", self.store.blobs).snapshot()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        self.store.register_snapshot(snapshot)
        return snapshot

    def resume(self, run_id: str, *, max_steps: int | None = None) -> RunOutcome:
        """Continue a killed, crashed, failed, interrupted or cancelled run with the agent settings it was started
        with (`max_steps` may be raised); endpoints and keys come from this session's settings."""
        run = self.store.get_run(run_id)
        if run.mode != "agent":
            raise StoreError(f"run {run_id} is {run.mode}: it has one step and nothing to resume")
        if "imported" in run.config:
            return self._resume_import(run_id, run.task_id, ImportedStart.model_validate(run.config["imported"]))
        stored = run.config
        overrides = {"max_steps": max_steps} if max_steps else {}
        agent = AgentSettings.model_validate({**stored.get("agent", {}), **overrides})
        site = SiteSettings.model_validate(stored["site"]) if stored.get("site") else self.settings.site
        cfg = self.settings.model_copy(update={"agent": agent, "site": site})
        with self._running(run_id), self._deps(cfg, run_id) as deps:
            if not has_checkpoint(cfg, run_id) and self.store.next_index(run_id) == 0:  # killed before it began
                return run_agent(deps, self.store.get_task(run.task_id), run_id)
            return resume_agent(deps, run_id)

    def _resume_import(self, run_id: str, task_id: int, imported: ImportedStart) -> RunOutcome:
        """An import run stopped before its step was recorded does the step again (its files are in the store)."""
        if self.store.next_index(run_id) > 0:
            raise StoreError(
                f"run {run_id} imported {imported.name} and its step is recorded: nothing to resume "
                "(continue from its step 0, or import the project again)"
            )
        with self._running(run_id), self._deps(self.settings, run_id) as deps:
            return import_run(deps, self.store.get_task(task_id), run_id, imported)

    def cancel(self, run_id: str) -> None:
        """Ask a run of this session to stop (thread-safe): the step in flight finishes and is recorded, then
        the run ends with status `cancelled`; `resume` can continue it. A run that is not running is left alone."""
        with self._lock:
            running = self._cancel.get(run_id)
        if running is None:
            logger.info("cancel: run %s is not running in this session", run_id)
            return
        running.set()

    def build_step(self, run_id: str, index: int) -> Path:
        """The built site (a `dist/` folder) of a stored step: its files restored into a scratch folder and built
        with this session's site environment, cached under `<home>/step-sites/<snapshot id>/` (steps with the same
        files share it; the `STEP_SITES_KEPT` most recently used are kept). StoreError: no such step, or no files;
        StepSiteError: the site does not build.
        The environment does one thing at a time: do not call this while a run uses the same environment."""
        step = self.store.get_step(run_id, index)
        snapshot = step.snapshot_id or step.base_snapshot_id
        if snapshot is None or not _SNAPSHOT_ID.match(snapshot):
            raise StoreError(f"step {index} of run {run_id} has no stored files to build")
        root = self.settings.home / "step-sites"
        dist = root / snapshot / "dist"
        if (dist / "index.html").is_file():
            with contextlib.suppress(OSError):
                os.utime(dist.parent)  # most recently used: pruned last
            return dist
        with self._lock:
            failed = self._failed_builds.get(snapshot)
        if failed is not None:
            raise StepSiteError(failed)
        root.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix="build-", dir=root))
        try:
            site = self.env.new_site(scratch / "site")
            workspace_for(site, self.store.blobs).restore(snapshot)
            result = self.env.build(site)
            if not result.ok:
                first = result.diagnostics[0].render() if result.diagnostics else "the build failed"
                message = f"step {index} of run {run_id[:8]} does not build: {first.splitlines()[0][:300]}"
                with self._lock:
                    self._failed_builds[snapshot] = message
                raise StepSiteError(message)
            staged = scratch / "dist"
            (site / "dist").rename(staged)
            dist.parent.mkdir(exist_ok=True)
            try:
                staged.rename(dist)  # atomic: a reader sees no half-copied site
            except OSError:  # built meanwhile by another session: keep that one
                if not (dist / "index.html").is_file():
                    raise
            prune_step_sites(root, keep=STEP_SITES_KEPT)
            return dist
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    # -- internals --------------------------------------------------------------------------------
    def _task(self, task: Task | TaskIn | str) -> Task:
        if isinstance(task, Task):
            return task
        if isinstance(task, str):
            request = task.strip()
            task = TaskIn(
                source="adhoc", external_id=hashlib.sha256(request.encode()).hexdigest()[:16], instruction=request
            )
        return self.store.ensure_task(task)

    @contextlib.contextmanager
    def _running(self, run_id: str) -> Iterator[None]:
        """Register the run as running in this session (so `cancel` can reach it) until it returns."""
        with self._lock:
            self._cancel[run_id] = threading.Event()
        try:
            yield
        finally:
            with self._lock:
                self._cancel.pop(run_id, None)

    def _start_run(self, task: Task, mode: Mode, cfg: Settings, run_id: str, extra: dict | None) -> str:
        models = {role: getattr(cfg, role).model for role in ("coder", "judge", "gui")}
        public = cfg.public()
        if clash := sorted(set(extra or {}) & set(public)):
            raise ValueError(f"extra may not replace the run's settings: {', '.join(clash)}")
        config = {**public, **(extra or {})}
        return self.store.start_run(task.id, mode, config=config, models=models, run_id=run_id)

    @contextlib.contextmanager
    def _deps(self, cfg: Settings, run_id: str) -> Iterator[Deps]:
        """The run's clients (one token budget over all roles), judge, GUI agent and evaluator; closed after."""
        budget = TokenBudget(cfg.agent.token_budget)
        clients = {
            role: OpenAIClient(getattr(cfg, role), budget=budget, role=role) for role in ("coder", "judge", "gui")
        }
        agent = cfg.agent
        judge = VLMJudge(clients["judge"], model=cfg.judge.model, cache=self.store, max_images=agent.judge_max_images)
        evaluator = StepEvaluator(
            self.env,
            judge,
            gui_agent=_gui_agent(cfg, clients["gui"]),
            client=clients["judge"],
            judge_max_images=agent.judge_max_images,
            gui_max_steps=agent.gui_max_steps,
            gui_timeout_s=agent.gui_timeout_s,
        )
        with self._lock:
            cancelled = self._cancel[run_id]
        deps = Deps(
            settings=cfg,
            store=self.store,
            env=self.env,
            coder=clients["coder"],
            evaluator=evaluator,
            run_dir=cfg.home / "runs" / run_id,
            subscribers=self.subscribers,
            cancelled=cancelled,
        )
        try:
            yield deps
        finally:
            for client in clients.values():
                client.close()


def prune_step_sites(root: Path, *, keep: int) -> int:
    """Remove all but the `keep` most recently used built step sites under `root` (by folder mtime, which
    `Session.build_step` refreshes on use); scratch `build-*` folders of builds in flight are left alone.
    Returns how many were removed. A preview already copied elsewhere is not affected."""
    try:
        names = [p for p in root.iterdir() if _SNAPSHOT_ID.match(p.name) and not p.name.startswith("build-")]
        sites = [p for p in names if p.is_dir()]
    except OSError:
        return 0
    sites.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in sites[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    return max(0, len(sites) - keep)
