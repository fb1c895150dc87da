"""Run the agent on a task, or resume a killed run: the one entry point the CLI, batch jobs and the UI use."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
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


class RunOutcome(BaseModel):
    run_id: str
    status: str
    best_step: int | None
    steps: int
    site: Path


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
    settings.home.mkdir(parents=True, exist_ok=True)
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


def run_agent(deps: Deps, task: Task, run_id: str) -> RunOutcome:
    """Run the loop for a run already started in the store (`store.start_run`)."""
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
        "history": system_messages(deps, task.instruction),
        "parent": None,
        "next_index": 0,
        "steps": [],
        "restarts": 0,
        "gui_instruction": None,
    }
    with checkpointer(deps.settings) as saver:
        final = build_graph(saver).invoke(state, _config(deps.settings, run_id), context=deps)
    return _outcome(final)


def resume_agent(deps: Deps, run_id: str) -> RunOutcome:
    """Continue a killed run from its last checkpoint; the store's idempotent steps absorb a replayed write."""
    with checkpointer(deps.settings) as saver:
        graph = build_graph(saver)
        config = _config(deps.settings, run_id)
        snapshot = graph.get_state(config)
        if not snapshot.values:
            raise StoreError(f"run {run_id} has no checkpoint to resume from")
        _ensure_site(deps, snapshot.values)
        final = graph.invoke(None, config, context=deps) if snapshot.next else snapshot.values
    return _outcome(final)


def _ensure_site(deps: Deps, state: dict[str, Any]) -> None:
    """A run moved to another machine (or whose folder was deleted) gets its files back from the store."""
    site = Path(state["site"])
    if site.is_dir():
        return
    deps.env.new_site(site)
    steps = state.get("steps") or []
    deps.workspace(str(site)).restore(steps[-1]["snapshot_id"] if steps else state["initial_snapshot"])


def _outcome(state: dict[str, Any]) -> RunOutcome:
    return RunOutcome(
        run_id=state["run_id"],
        status=state.get("status", "running"),
        best_step=state.get("best"),
        steps=len(state.get("steps", [])),
        site=Path(state["site"]),
    )
