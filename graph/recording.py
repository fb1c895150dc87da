"""Record each step in the store before routing; backtrack; select the best step at the end."""

from __future__ import annotations

import time
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


def _assess(state: AgentState, parent: rules.StepSummary | None) -> tuple[float | None, float | None, bool, bool]:
    """(screenshot score, GUI grade, stage failed, judged) of the step in progress. An edit that rendered but
    whose judge failed is *unjudged*: no score, not an error, and never a good step."""
    kind = state["kind"]
    judgement = state.get("judgement") or {}
    if kind == "invalid":
        return None, None, True, False
    if kind == "edit":
        observation = state.get("observation") or {}
        failed_checks = any(not c["passed"] and c["severity"] == "error" for c in observation.get("checks", []))
        judged = judgement.get("outcome") == "ok"
        score = judgement.get("score") if judged else None
        return score, None, failed_checks or bool(judgement.get("has_error")) or not observation, judged
    inherited_score = parent.screenshot_score if parent else None
    inherited_error = parent.has_error if parent else True
    judged = parent.judged if parent else False
    if kind == "gui_request":
        gui = state.get("gui") or {}
        return inherited_score, gui.get("grade"), inherited_error or gui.get("outcome") != "ok", judged
    # finish: the same files as its parent, which stays the state that selection prefers (ties go to later steps)
    return inherited_score, None, inherited_error, judged


def record(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    index, kind = state["next_index"], state["kind"]
    steps = [rules.StepSummary.model_validate(s) for s in state.get("steps", [])]
    parent = next((s for s in steps if s.index == state.get("parent")), None)
    score, gui_grade, stage_failed, judged = _assess(state, parent)
    has_error = rules.is_error_step(stage_failed=stage_failed, screenshot_score=score)
    workspace = deps.workspace(state["site"])
    snapshot = workspace.snapshot()
    deps.store.register_snapshot(snapshot)
    feedback = "" if kind == "finish" else compose(dict(state), has_error=has_error)
    errors = [state["coder_error"]] if state.get("coder_error") else []
    gui = state.get("gui") or {}
    completion_ref = state.get("completion")
    deps.store.add_step(
        state["run_id"],
        StepRecord(
            index=index,
            parent_index=state.get("parent"),
            kind=kind,
            prompt_refs=state["prompt"],
            completion=deps.message_text(completion_ref) if completion_ref else "",
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
        judged=judged,
        snapshot_id=snapshot,
    )
    steps.append(summary)
    reply = completion_ref or deps.store.put_messages([{"role": "assistant", "content": ""}])[0]
    history = [*state["history"], reply]
    if feedback:
        history += deps.store.put_messages([{"role": "user", "content": feedback}])
    deps.emit("step", index=index, kind=kind, score=score, gui_grade=gui_grade, has_error=has_error, judged=judged)
    return {"steps": [s.model_dump() for s in steps], "history": history, "parent": index, "next_index": index + 1}


def _gave_up(state: AgentState, deps: Deps) -> bool:
    return max((state.get("outages") or {}).values(), default=0) > deps.settings.agent.restart_limit


def route(state: AgentState, runtime: Runtime[Deps]) -> str:
    deps = runtime.context
    agent = deps.settings.agent
    steps = [rules.StepSummary.model_validate(s) for s in state["steps"]]
    return rules.route_after_record(
        kind=steps[-1].kind,
        steps_taken=state["next_index"],
        max_steps=agent.max_steps,
        errors_in_a_row=rules.consecutive_errors(steps, state["parent"]),
        error_limit=agent.error_limit,
        gave_up=_gave_up(state, deps) or time.monotonic() > deps.deadline,
    )


def backtrack(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Restore the best good step's files (from the store's snapshot) and history, or start fresh.
    Only a good step (judged, score >= good_score, no error) is a target: an unjudged one is not."""
    deps = runtime.context
    steps = [rules.StepSummary.model_validate(s) for s in state["steps"]]
    best, good = rules.select_best(steps, deps.settings.agent.good_score)
    workspace = deps.workspace(state["site"])
    if good and best is not None:
        stored = deps.store.get_step(state["run_id"], best.index)
        workspace.restore(best.snapshot_id)
        history = [*stored.prompt_refs, *deps.store.put_messages([{"role": "assistant", "content": stored.completion}])]
        if stored.feedback:
            history += deps.store.put_messages([{"role": "user", "content": stored.feedback}])
        deps.emit("backtrack", to=best.index)
        return {"history": history, "parent": best.index}
    workspace.restore(state["initial_snapshot"])
    deps.emit("backtrack", to=None)
    return {"history": state["history"][:2], "parent": None}


def _stop_reason(state: AgentState, deps: Deps) -> str | None:
    """Why the run ends early, if it does: an endpoint that keeps failing, or the time limit."""
    if _gave_up(state, deps):
        role, count = max((state.get("outages") or {}).items(), key=lambda item: item[1])
        endpoint = getattr(deps.settings, role if role in ("coder", "judge", "gui") else "coder").base_url
        return (
            f"the {role} endpoint {endpoint} failed {count} times in a row; last error: {state.get('outage_error')}. "
            "Fix the endpoint, then continue with `webgen build --resume RUN_ID`"
        )
    if time.monotonic() > deps.deadline:
        return f"stopped at the run time limit (agent.run_timeout_s = {deps.settings.agent.run_timeout_s:g}s)"
    return None


def select_best(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    steps = [rules.StepSummary.model_validate(s) for s in state.get("steps", [])]
    best, good = rules.select_best(steps, deps.settings.agent.good_score)
    if best is not None and best.snapshot_id:
        deps.workspace(state["site"]).restore(best.snapshot_id)
    reason = _stop_reason(state, deps)
    status = "failed" if reason and (_gave_up(state, deps) or not good) else "finished"
    best_index = best.index if best else None
    deps.store.finish_run(state["run_id"], status, best_step=best_index, error=reason)
    deps.emit("done", best=best_index, status=status, error=reason, site=str(Path(state["site"])))
    return {"best": best_index, "status": status, "error": reason}
