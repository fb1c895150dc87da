"""Record each step in the store before routing; backtrack; select the best step and credit rewards at the end."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime

from webgen.feedback.evaluation.assess import RewardStep, assess, good_format, step_rewards
from webgen.feedback.evaluation.evaluator import StepEvaluation
from webgen.graph import events, rules
from webgen.graph.deps import Deps
from webgen.graph.feedback_text import compose
from webgen.graph.state import AgentState, StepDraft
from webgen.storage.values import StepRecord


def _good_format(draft: StepDraft, text: str) -> bool:
    lowered = text.lower()
    has_artifact = "<boltartifact" in lowered or "<webartifact" in lowered
    repetitive = bool(draft.reply.get("repetitive"))
    return good_format(draft.kind, draft.completion_chars, has_artifact=has_artifact, repetitive=repetitive)


def record(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    draft: StepDraft = state["step"]
    steps: list[rules.StepSummary] = list(state.get("steps") or [])
    parent = next((s for s in steps if s.index == draft.parent), None)
    evaluation = StepEvaluation(
        applied=draft.applied, observation=draft.observation, judgment=draft.judgment, gui=draft.gui
    )
    verdict = assess(draft.kind, evaluation, parent)
    snapshot = deps.workspace(state["site"]).snapshot()
    deps.store.register_snapshot(snapshot)
    feedback = (
        "" if draft.kind == "finish" else compose(draft, instruction=state["instruction"], has_error=verdict.has_error)
    )
    completion = deps.message_text(draft.completion) if draft.completion else ""
    gui = draft.gui
    deps.store.add_step(
        state["run_id"],
        StepRecord(
            index=draft.index,
            parent_index=draft.parent,
            kind=draft.kind,
            prompt_refs=draft.prompt,
            completion=completion,
            feedback=feedback,
            actions=draft.reply,
            base_snapshot_id=draft.base_snapshot,
            snapshot_id=snapshot,
            observation=draft.observation,
            errors=[draft.coder_error] if draft.coder_error else [],
            has_error=verdict.has_error,
            screenshot_score=verdict.screenshot_score,
            judge=draft.judgment.model_dump(mode="json") if draft.judgment else {},
            gui_verdict=gui.verdict if gui else None,
            gui_grade=verdict.gui_grade,
            gui=gui.model_dump(mode="json") if gui else {},
            tokens_prompt=draft.tokens_prompt,
            tokens_completion=draft.tokens_completion,
            latency=draft.latency,
        ),
    )
    summary = rules.StepSummary(
        index=draft.index,
        parent_index=draft.parent,
        kind=draft.kind,
        screenshot_score=verdict.screenshot_score,
        gui_grade=verdict.gui_grade,
        has_error=verdict.has_error,
        judged=verdict.judged,
        good_format=_good_format(draft, completion),
        snapshot_id=snapshot,
    )
    reply = draft.completion or deps.store.put_messages([{"role": "assistant", "content": ""}])[0]
    history = [*state["history"], reply]
    if feedback:
        history += deps.store.put_messages([{"role": "user", "content": feedback}])
    deps.emit(
        events.Recorded(
            run_id=state["run_id"],
            index=draft.index,
            kind=draft.kind,
            has_error=verdict.has_error,
            judged=verdict.judged,
            screenshot_score=verdict.screenshot_score,
            gui_grade=verdict.gui_grade,
            tokens=draft.tokens_prompt + draft.tokens_completion,
            seconds=sum(draft.latency.values()),
        )
    )
    return {"steps": [*steps, summary], "history": history, "parent": draft.index, "next_index": draft.index + 1}


def _gave_up(state: AgentState, deps: Deps) -> bool:
    return max((state.get("outages") or {}).values(), default=0) > deps.settings.agent.restart_limit


def route(state: AgentState, runtime: Runtime[Deps]) -> str:
    deps = runtime.context
    agent = deps.settings.agent
    steps = state["steps"]
    stop = _gave_up(state, deps) or time.monotonic() > deps.deadline or deps.cancelled.is_set()
    return rules.route_after_record(
        kind=steps[-1].kind,
        steps_taken=state["next_index"],
        max_steps=agent.max_steps,
        errors_in_a_row=rules.consecutive_errors(steps, state["parent"]),
        error_limit=agent.error_limit,
        gave_up=stop,
    )


def backtrack(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Restore the best good step's files (from the store's snapshot) and history, or start fresh.
    Only a good step (judged, score >= good_score, no error) is a target: an unjudged one is not."""
    deps = runtime.context
    best, good = rules.select_best(state["steps"], deps.settings.agent.good_score)
    workspace = deps.workspace(state["site"])
    if good and best is not None:
        stored = deps.store.get_step(state["run_id"], best.index)
        workspace.restore(best.snapshot_id)
        history = [*stored.prompt_refs, *deps.store.put_messages([{"role": "assistant", "content": stored.completion}])]
        if stored.feedback:
            history += deps.store.put_messages([{"role": "user", "content": stored.feedback}])
        deps.emit(events.Backtracked(run_id=state["run_id"], to=best.index))
        return {"history": history, "parent": best.index}
    workspace.restore(state["initial_snapshot"])
    deps.emit(events.Backtracked(run_id=state["run_id"], to=None))
    return {"history": state["history"][:2], "parent": None}


def dead_endpoint(state: AgentState | dict[str, Any], deps: Deps) -> tuple[str, int] | None:
    """(role, failed calls in a row) when an endpoint is to blame for the run: it failed more than
    `agent.restart_limit` calls in a row (the loop gave up), or it failed on every step of the run (a run of
    `max_steps <= restart_limit` steps ends without giving up, with nothing but failed calls)."""
    outages = state.get("outages") or {}
    if not outages:
        return None
    role, count = max(outages.items(), key=lambda item: item[1])
    steps = len(state.get("steps") or [])
    if count > deps.settings.agent.restart_limit or (steps and count >= steps):
        return role, count
    return None


def _stop_reason(state: AgentState, deps: Deps) -> str | None:
    """Why the run ends early, if it does: an endpoint that keeps failing, a cancel, or the time limit."""
    dead = dead_endpoint(state, deps)
    if dead:
        role, count = dead
        endpoint = getattr(deps.settings, role if role in ("coder", "judge", "gui") else "coder").base_url
        gave_up = count > deps.settings.agent.restart_limit
        how = f"{count} times in a row" if gave_up else f"on every step ({count} calls)"
        return (
            f"the {role} endpoint {endpoint} failed {how}; last error: {state.get('outage_error')}. "
            "Fix the endpoint, then continue with `webgen build --resume RUN_ID`"
        )
    if deps.cancelled.is_set():
        return "cancelled"
    if time.monotonic() > deps.deadline:
        return f"stopped at the run time limit (agent.run_timeout_s = {deps.settings.agent.run_timeout_s:g}s)"
    return None


def select_best(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    steps = state.get("steps") or []
    best, good = rules.select_best(steps, deps.settings.agent.good_score)
    if best is not None and best.snapshot_id:
        deps.workspace(state["site"]).restore(best.snapshot_id)
    rewards = step_rewards([RewardStep.model_validate(s.model_dump()) for s in steps])
    deps.store.set_rewards(state["run_id"], {s.index: r for s, r in zip(steps, rewards, strict=True)})
    reason = _stop_reason(state, deps)
    if reason == "cancelled":
        status = "cancelled"
    else:
        status = "failed" if reason and (dead_endpoint(state, deps) or not good) else "finished"
    best_index = best.index if best else None
    deps.store.finish_run(state["run_id"], status, best_step=best_index, error=reason)
    site = Path(state["site"])
    deps.emit(events.Finished(run_id=state["run_id"], status=status, best_step=best_index, error=reason, site=site))
    return {"best": best_index, "status": status, "error": reason}
