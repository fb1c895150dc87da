"""Run the agent on a task, or resume a killed run: the one entry point the CLI, batch jobs and the UI use."""

from __future__ import annotations

import contextlib
import logging
import shutil
import sqlite3
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from pydantic import BaseModel

from webgen.agent.llm import OpenAIClient, TokenBudget
from webgen.agent.prompts import render
from webgen.feedback.environment import SiteEnvironment
from webgen.feedback.judge import VLMJudge
from webgen.feedback.scaffold import PROTECTED_FILES
from webgen.feedback.workspace import Workspace
from webgen.graph.build import build_graph
from webgen.graph.deps import Deps
from webgen.settings import Settings
from webgen.storage.store import StoreError, TrajectoryStore
from webgen.storage.values import Task

logger = logging.getLogger(__name__)


class RunOutcome(BaseModel):
    run_id: str
    status: str
    best_step: int | None
    steps: int
    site: Path
    error: str | None = None


def make_gui_agent(settings: Settings, client: OpenAIClient) -> Any:
    if settings.agent.gui_agent == "browser-use":
        from webgen.feedback.gui_browser_use import BrowserUseAgent

        return BrowserUseAgent(settings.gui, chromium_path=settings.chromium_path)
    from webgen.feedback.webvoyager import WebVoyagerAgent

    return WebVoyagerAgent(client, chromium_path=settings.chromium_path, waits=settings.agent.gui_waits)


def make_deps(
    settings: Settings,
    store: TrajectoryStore,
    env: SiteEnvironment,
    run_id: str,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> Deps:
    """Clients per role (one shared token budget), the judge with the store as its cache, the GUI agent."""
    budget = TokenBudget(settings.agent.token_budget)
    coder = OpenAIClient(settings.coder, budget=budget, role="coder")
    judge_client = OpenAIClient(settings.judge, budget=budget, role="judge")
    gui_client = OpenAIClient(settings.gui, budget=budget, role="gui")
    return Deps(
        settings=settings,
        store=store,
        env=env,
        coder=coder,
        judge=VLMJudge(
            judge_client, model=settings.judge.model, cache=store, max_images=settings.agent.judge_max_images
        ),
        gui_agent=make_gui_agent(settings, gui_client),
        feedback_llm=judge_client,
        run_dir=settings.home / "runs" / run_id,
        on_event=on_event,
    )


def checkpoint_target(settings: Settings) -> str:
    """Where checkpoints go: `checkpoint_url`, else the store's database when it is Postgres (so every
    machine of a batch can resume any run), else a SQLite file under home."""
    if settings.checkpoint_url and settings.checkpoint_url.startswith("sqlite:///"):
        return settings.checkpoint_url.removeprefix("sqlite:///")
    url = settings.checkpoint_url or settings.resolved_database_url
    if url.startswith("postgresql"):
        return url.replace("postgresql+psycopg://", "postgresql://", 1)
    return str(settings.home / "checkpoints.sqlite")


@contextlib.contextmanager
def checkpointer(settings: Settings) -> Iterator[BaseCheckpointSaver]:
    """LangGraph's checkpoints (resume only; training data lives in the store), thread = run id."""
    target = checkpoint_target(settings)
    if target.startswith("postgresql://"):
        from langgraph.checkpoint.postgres import PostgresSaver  # the `postgres` extra

        with PostgresSaver.from_conn_string(target) as saver:
            saver.setup()
            yield saver
        return
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(target, check_same_thread=False, timeout=60)
    conn.execute("PRAGMA journal_mode=WAL")
    try:
        yield SqliteSaver(conn)
    finally:
        conn.close()


def scaffold_values(deps: Deps) -> dict[str, object]:
    """What the system prompt says about the scaffold: its packages and the files it owns."""
    declared = deps.env.scaffold.package_json()
    return {
        "packages": sorted({*declared.get("dependencies", {})} - {"react", "react-dom"}),
        "protected": sorted(PROTECTED_FILES),
    }


def system_messages(deps: Deps, instruction: str, template: str = "system.j2") -> list[dict[str, str]]:
    system = render(template, **scaffold_values(deps))
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": render("instruction.j2", instruction=instruction)},
    ]


def _config(settings: Settings, run_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": run_id}, "recursion_limit": settings.agent.max_steps * 10 + 50}


def fresh_site(deps: Deps) -> tuple[Path, Workspace]:
    """The run's site folder, new from the scaffold, and its Workspace."""
    site = deps.run_dir / "site"
    if site.exists():
        shutil.rmtree(site)
    deps.env.new_site(site)
    return site, deps.workspace(str(site))


def log_path(settings: Settings, run_id: str) -> Path:
    """Where a run's crash report (the traceback) goes."""
    return settings.home / "logs" / f"{run_id}.log"


@contextlib.contextmanager
def guarded(deps: Deps, run_id: str) -> Iterator[None]:
    """No run is left `running` by an exception: any error marks it failed (with its text; the traceback goes
    to the run's log file) and Ctrl-C marks it interrupted; both can be continued with a resume."""
    deps.deadline = time.monotonic() + deps.settings.agent.run_timeout_s
    try:
        yield
    except KeyboardInterrupt:
        deps.store.finish_run(run_id, "interrupted", error="interrupted (Ctrl-C)")
        raise
    except Exception as exc:
        path = log_path(deps.settings, run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} run {run_id}\n{traceback.format_exc()}\n")
        message = f"{type(exc).__name__}: {exc}"
        logger.error("run %s failed: %s (traceback in %s)", run_id, message, path)
        deps.store.finish_run(run_id, "failed", error=message[:2000])
        raise RunCrashed(run_id, message, path) from exc


class RunCrashed(RuntimeError):
    """The run stopped on an unexpected error; it is stored as failed, and the traceback is in `log`."""

    def __init__(self, run_id: str, message: str, log: Path) -> None:
        super().__init__(f"run {run_id} failed: {message}")
        self.run_id, self.message, self.log = run_id, message, log


def run_agent(deps: Deps, task: Task, run_id: str) -> RunOutcome:
    """Run the loop for a run already started in the store (`store.start_run`)."""
    with guarded(deps, run_id):
        site, workspace = fresh_site(deps)
        initial = workspace.snapshot()
        deps.store.register_snapshot(initial)
        state = {
            "run_id": run_id,
            "task_id": task.id,
            "instruction": task.instruction,
            "ui_test_cases": task.ui_test_cases,
            "site": str(site),
            "initial_snapshot": initial,
            "history": deps.store.put_messages(system_messages(deps, task.instruction)),
            "parent": None,
            "next_index": 0,
            "steps": [],
            "outages": {},
            "gui_instruction": None,
        }
        with checkpointer(deps.settings) as saver:
            final = build_graph(saver).invoke(state, _config(deps.settings, run_id), context=deps)
        return _outcome(deps, final)


def resume_agent(deps: Deps, run_id: str) -> RunOutcome:
    """Continue a run from its last checkpoint: a killed or crashed run re-runs the node it stopped in (the
    store's idempotent steps absorb a replayed write); a run that ended failed, or with fewer steps than
    `agent.max_steps` now allows, goes on from its last step. A run that finished by its own choice is left."""
    with guarded(deps, run_id), checkpointer(deps.settings) as saver:
        graph = build_graph(saver)
        config = _config(deps.settings, run_id)
        snapshot = graph.get_state(config)
        if not snapshot.values:
            raise StoreError(f"run {run_id} has no checkpoint to resume from")
        values = snapshot.values
        _ensure_site(deps, values)
        if not snapshot.next:
            if not _can_continue(deps, values):
                return _outcome(deps, values)
            _reopen(deps, values)
            graph.update_state(config, {"outages": {}, "status": None, "error": None}, as_node="backtrack")
        deps.store.finish_run(run_id, "running")
        final = graph.invoke(None, config, context=deps)
        return _outcome(deps, final)


def _can_continue(deps: Deps, state: dict[str, Any]) -> bool:
    steps = state.get("steps") or []
    if state.get("status") == "failed" or state.get("error"):
        return True
    return bool(steps) and steps[-1]["kind"] != "finish" and len(steps) < deps.settings.agent.max_steps


def _reopen(deps: Deps, state: dict[str, Any]) -> None:
    """The run ended with the best step's files in place; its history goes on from the last step's files."""
    steps = {s["index"]: s for s in state.get("steps") or []}
    parent = steps.get(state.get("parent"))
    snapshot = parent["snapshot_id"] if parent else state["initial_snapshot"]
    deps.workspace(state["site"]).restore(snapshot)


def _ensure_site(deps: Deps, state: dict[str, Any]) -> None:
    """A run moved to another machine (or whose folder was deleted) gets its files back from the store."""
    site = Path(state["site"])
    if site.is_dir():
        return
    deps.env.new_site(site)
    steps = state.get("steps") or []
    deps.workspace(str(site)).restore(steps[-1]["snapshot_id"] if steps else state["initial_snapshot"])


def _outcome(deps: Deps, state: dict[str, Any]) -> RunOutcome:
    return RunOutcome(
        run_id=state["run_id"],
        status=state.get("status", "running"),
        best_step=state.get("best"),
        steps=len(state.get("steps", [])),
        site=Path(state["site"]),
        error=state.get("error"),
    )


def discard_run_files(settings: Settings, run_ids: list[str]) -> int:
    """Delete what a run leaves outside the store: its LangGraph checkpoints and its folder under home
    (`webgen db prune` calls this for the runs it deletes). Returns how many run folders were removed."""
    if not run_ids:
        return 0
    with checkpointer(settings) as saver:
        for run_id in run_ids:
            saver.delete_thread(run_id)
    removed = 0
    for run_id in run_ids:
        folder = settings.home / "runs" / run_id
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
        log_path(settings, run_id).unlink(missing_ok=True)
    return removed
