"""Record each step in the store before routing; backtrack; select the best step at the end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime

from webgen.graph import rules
from webgen.graph.deps import Deps
from webgen.graph.feedback_text import compose
from webgen.graph.state import AgentState
from webgen.storage.values import StepRecord
from webgen.types import Observation


def _observation(state: AgentState) -> Observation | None:
    """The step's observation with its screenshots read back from disk (the store keeps them as blobs)."""
    data = state.get("observation")
    if not data:
        return None
    observation = Observation.model_validate(data)
    for page in observation.pages:
        if page.screenshot_path and page.screenshot_path.is_file():
            page.screenshot = page.screenshot_path.read_bytes()
        if page.full_screenshot_path and page.full_screenshot_path.is_file():
            page.full_screenshot = page.full_screenshot_path.read_bytes()
    return observation


def _assess(state: AgentState, parent: rules.StepSummary | None) -> tuple[float | None, float | None, bool]:
    """(screenshot score, GUI grade, stage failed) of the step in progress."""
    kind = state["kind"]
    judgement = state.get("judgement") or {}
    if state.get("coder_error") or (kind == "edit" and not state["parsed"].get("files")):
        return None, None, True
    if kind == "edit":
        observation = state.get("observation") or {}
        failed_checks = any(not c["passed"] and c["severity"] == "error" for c in observation.get("checks", []))
        score = judgement.get("score") if judgement.get("outcome") == "ok" else None
        return score, None, failed_checks or bool(judgement.get("has_error")) or not observation
    inherited_score = parent.screenshot_score if parent else None
    inherited_error = parent.has_error if parent else True
    if kind == "gui_request":
        gui = state.get("gui") or {}
        return inherited_score, gui.get("grade"), inherited_error or gui.get("outcome") != "ok"
    # finish: the same files as its parent, which stays the state that selection prefers (ties go to later steps)
    return inherited_score, None, inherited_error


def record(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    index, kind = state["next_index"], state["kind"]
    steps = [rules.StepSummary.model_validate(s) for s in state.get("steps", [])]
    parent = next((s for s in steps if s.index == state.get("parent")), None)
    score, gui_grade, stage_failed = _assess(state, parent)
    has_error = rules.is_error_step(stage_failed=stage_failed, screenshot_score=score)
    workspace = deps.workspace(state["site"])
    snapshot = workspace.snapshot()
    deps.store.register_snapshot(snapshot)
    feedback = "" if kind == "finish" else compose(dict(state), has_error=has_error)
    errors = [state["coder_error"]] if state.get("coder_error") else []
    gui = state.get("gui") or {}
    deps.store.add_step(
        state["run_id"],
        StepRecord(
            index=index,
            parent_index=state.get("parent"),
            kind=kind,
            prompt=state["prompt"],
            completion=state["completion"],
            feedback=feedback,
            actions=state.get("parsed") or {},
            base_snapshot_id=state.get("base_snapshot"),
            snapshot_id=snapshot,
            observation=_observation(state),
            errors=errors,
            has_error=has_error,
            screenshot_score=score,
            judge=state.get("judgement") or {},
            gui_verdict=gui.get("verdict"),
            gui_grade=gui_grade,
            gui=gui,
            tokens_prompt=state.get("tokens", {}).get("prompt", 0),
            tokens_completion=state.get("tokens", {}).get("completion", 0),
            latency=state.get("latency", {}),
        ),
    )
    summary = rules.StepSummary(
        index=index,
        parent_index=state.get("parent"),
        kind=kind,
        screenshot_score=score,
        gui_grade=gui_grade,
        has_error=has_error,
        snapshot_id=snapshot,
    )
    steps.append(summary)
    history = [*state["history"], {"role": "assistant", "content": state["completion"]}]
    if feedback:
        history.append({"role": "user", "content": feedback})
    deps.emit("step", index=index, kind=kind, score=score, gui_grade=gui_grade, has_error=has_error)
    return {"steps": [s.model_dump() for s in steps], "history": history, "parent": index, "next_index": index + 1}


def route(state: AgentState, runtime: Runtime[Deps]) -> str:
    agent = runtime.context.settings.agent
    steps = [rules.StepSummary.model_validate(s) for s in state["steps"]]
    return rules.route_after_record(
        kind=steps[-1].kind,
        steps_taken=state["next_index"],
        max_steps=agent.max_steps,
        errors_in_a_row=rules.consecutive_errors(steps, state["parent"]),
        error_limit=agent.error_limit,
        gave_up=state.get("restarts", 0) > agent.restart_limit,
    )


def backtrack(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Restore the best step's files (from the store's snapshot) and history, or start fresh."""
    deps = runtime.context
    steps = [rules.StepSummary.model_validate(s) for s in state["steps"]]
    best, good = rules.select_best(steps, deps.settings.agent.good_score)
    workspace = deps.workspace(state["site"])
    if good and best is not None:
        stored = next(s for s in deps.store.steps(state["run_id"]) if s.index == best.index)
        workspace.restore(best.snapshot_id)
        history = deps.store.messages(stored.prompt_refs) + [{"role": "assistant", "content": stored.completion}]
        if stored.feedback:
            history.append({"role": "user", "content": stored.feedback})
        deps.emit("backtrack", to=best.index)
        return {"history": history, "parent": best.index}
    workspace.restore(state["initial_snapshot"])
    deps.emit("backtrack", to=None)
    return {"history": state["history"][:2], "parent": None}


def select_best(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    steps = [rules.StepSummary.model_validate(s) for s in state.get("steps", [])]
    best, _ = rules.select_best(steps, deps.settings.agent.good_score)
    if best is not None and best.snapshot_id:
        deps.workspace(state["site"]).restore(best.snapshot_id)
    gave_up = state.get("restarts", 0) > deps.settings.agent.restart_limit
    status = "failed" if gave_up else "finished"
    deps.store.finish_run(
        state["run_id"],
        status,
        best_step=best.index if best else None,
        error="the coder endpoint kept failing" if gave_up else None,
    )
    deps.emit("done", best=best.index if best else None, status=status, site=str(Path(state["site"])))
    return {"best": best.index if best else None, "status": status}
