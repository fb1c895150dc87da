"""Drive the loop: a new run, a run that continues from a stored step, a resumed run; no run left `running`.

These take a ready :class:`Deps`; :mod:`webgen.graph.session` builds it and is what callers use.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import shutil
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from webgen.core import templates
from webgen.core.settings import Settings
from webgen.feedback.site.scaffold import PROTECTED_FILES
from webgen.feedback.site.workspace import Workspace
from webgen.graph.build import build_graph
from webgen.graph.checkpoints import checkpointer, log_path
from webgen.graph.deps import Deps
from webgen.graph.recording import dead_endpoint
from webgen.storage.store import StoreError
from webgen.storage.values import Step, Task

logger = logging.getLogger(__name__)


#: why a run did not finish: a model endpoint kept failing, the run's time limit, an unexpected error, a cancel
Failure = Literal["endpoint", "timeout", "crash", "cancelled", "interrupted"]


class RunOutcome(BaseModel):
    run_id: str
    status: str
    best_step: int | None
    steps: int
    site: Path
    error: str | None = None
    failure: Failure | None = None
    endpoint_role: str | None = None  # with failure "endpoint": coder, judge or gui
    endpoint_url: str | None = None


class RunCrashed(RuntimeError):
    """The run stopped on an unexpected error; it is stored as failed, and the traceback is in `log`."""

    def __init__(self, run_id: str, message: str, log: Path) -> None:
        super().__init__(f"run {run_id} failed: {message}")
        self.run_id, self.message, self.log = run_id, message, log
        self.failure: Failure = "crash"


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


def system_messages(deps: Deps, instruction: str, template: str = "system.j2") -> list[dict[str, str]]:
    """The system prompt (what it says about the scaffold: its packages and the files it owns) and the request."""
    declared = deps.env.scaffold.package_json()
    packages = sorted({*declared.get("dependencies", {})} - {"react", "react-dom"})
    system = templates.render("webgen.agent", template, packages=packages, protected=sorted(PROTECTED_FILES))
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": templates.render("webgen.agent", "instruction.j2", instruction=instruction)},
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


def initial_state(deps: Deps, task: Task, run_id: str, site: Path, snapshot: str, history: list[str]) -> dict:
    """The loop's state before its first step: the run, its site and files, and the conversation so far."""
    return {
        "run_id": run_id,
        "task_id": task.id,
        "instruction": task.instruction,
        "ui_test_cases": task.ui_test_cases,
        "site": str(site),
        "initial_snapshot": snapshot,
        "history": history,
        "parent": None,
        "next_index": 0,
        "steps": [],
        "outages": {},
        "gui_instruction": None,
        "step": None,
    }


@functools.cache
def _compiled() -> Any:
    return build_graph()


def _graph(saver: Any) -> Any:
    """The loop's graph with this run's checkpointer. It is compiled once per process (compiling reads the type
    hints of every node: about 0.1 s of CPU per run otherwise) and shared; invocations keep no state in it."""
    return _compiled().copy(update={"checkpointer": saver})


def _invoke(deps: Deps, run_id: str, state: dict[str, Any]) -> RunOutcome:
    with checkpointer(deps.settings) as saver:
        graph = _graph(saver)
        final = graph.invoke(state, _config(deps.settings, run_id), context=deps)
        return outcome_of(deps, final)


def run_agent(deps: Deps, task: Task, run_id: str) -> RunOutcome:
    """Run the loop from a fresh scaffold for a run already started in the store (`store.start_run`)."""
    with guarded(deps, run_id):
        site, workspace = fresh_site(deps)
        initial = workspace.snapshot()
        deps.store.register_snapshot(initial)
        history = deps.store.put_messages(system_messages(deps, task.instruction))
        return _invoke(deps, run_id, initial_state(deps, task, run_id, site, initial, history))


def continue_agent(deps: Deps, task: Task, run_id: str, origin: Step) -> RunOutcome:
    """Run the loop from a stored step of any run: its files, its conversation (prompt, reply, feedback), then
    the new request as the next user message. Backtracking's fresh start is that step's state."""
    with guarded(deps, run_id):
        site, workspace = fresh_site(deps)
        if origin.snapshot_id is None:
            raise StoreError(f"step {origin.index} of run {origin.run_id} has no snapshot to continue from")
        workspace.restore(origin.snapshot_id)
        messages = [{"role": "assistant", "content": origin.completion}]
        if origin.feedback:
            messages.append({"role": "user", "content": origin.feedback})
        follow_up = templates.render("webgen.agent", "follow_up.j2", instruction=task.instruction)
        messages.append({"role": "user", "content": follow_up})
        history = [*origin.prompt_refs, *deps.store.put_messages(messages)]
        return _invoke(deps, run_id, initial_state(deps, task, run_id, site, origin.snapshot_id, history))


def resume_agent(deps: Deps, run_id: str) -> RunOutcome:
    """Continue a run from its last checkpoint: a killed or crashed run re-runs the node it stopped in (the
    store's idempotent steps absorb a replayed write); a run that ended failed, cancelled, interrupted, or with
    fewer steps than `agent.max_steps` now allows, goes on from its last step. A run that finished by its own
    choice is left as it is."""
    with guarded(deps, run_id), checkpointer(deps.settings) as saver:
        graph = _graph(saver)
        config = _config(deps.settings, run_id)
        snapshot = graph.get_state(config)
        if not snapshot.values:
            raise StoreError(f"run {run_id} has no checkpoint to resume from")
        values = snapshot.values
        _ensure_site(deps, values)
        if not snapshot.next:
            if not _can_continue(deps, values):
                return outcome_of(deps, values)
            _reopen(deps, values)
            graph.update_state(config, {"outages": {}, "status": None, "error": None}, as_node="backtrack")
        deps.store.finish_run(run_id, "running")
        return outcome_of(deps, graph.invoke(None, config, context=deps))


def _can_continue(deps: Deps, state: dict[str, Any]) -> bool:
    steps = state.get("steps") or []
    if state.get("status") in ("failed", "cancelled") or state.get("error"):
        return True
    return bool(steps) and steps[-1].kind != "finish" and len(steps) < deps.settings.agent.max_steps


def _reopen(deps: Deps, state: dict[str, Any]) -> None:
    """The run ended with the best step's files in place; its history goes on from the last step's files."""
    parent = next((s for s in state.get("steps") or [] if s.index == state.get("parent")), None)
    deps.workspace(state["site"]).restore(parent.snapshot_id if parent else state["initial_snapshot"])


def _ensure_site(deps: Deps, state: dict[str, Any]) -> None:
    """A run moved to another machine (or whose folder was deleted) gets its files back from the store."""
    site = Path(state["site"])
    if site.is_dir():
        return
    deps.env.new_site(site)
    steps = state.get("steps") or []
    deps.workspace(str(site)).restore(steps[-1].snapshot_id if steps else state["initial_snapshot"])


def _endpoint_url(deps: Deps, role: str) -> str:
    return getattr(deps.settings, role if role in ("coder", "judge", "gui") else "coder").base_url


def outcome_of(deps: Deps, state: dict[str, Any]) -> RunOutcome:
    """How a run ended, from the loop's final state."""
    status = state.get("status", "running")
    failure: Failure | None = None
    role = url = None
    dead = dead_endpoint(state, deps)
    if status == "cancelled":
        failure = "cancelled"
    elif status == "failed" and dead:
        failure, role = "endpoint", dead[0]
        url = _endpoint_url(deps, role)
    elif status == "failed" and time.monotonic() > deps.deadline:
        failure = "timeout"
    return RunOutcome(
        run_id=state["run_id"],
        status=status,
        best_step=state.get("best"),
        steps=len(state.get("steps", [])),
        site=Path(state["site"]),
        error=state.get("error"),
        failure=failure,
        endpoint_role=role,
        endpoint_url=url,
    )
