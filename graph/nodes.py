"""The loop's working nodes: generate, apply, execute, judge, GUI test (ARCHITECTURE §4).

Each node is a thin call into the step evaluator (or the coder) that returns the next :class:`StepDraft`
and publishes a typed event. Failures of the site or of a model are observations, never exceptions.
Messages go to the store as they are made; the state keeps their references.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime

from webgen.agent.actions import parse_response
from webgen.agent.context import fit_to_budget
from webgen.core.llm import LLMError
from webgen.graph import events
from webgen.graph.deps import Deps
from webgen.graph.state import AgentState, StepDraft

#: outcomes that say a role's endpoint failed (not the site, not the reply)
ENDPOINT_FAILURES = ("endpoint_error", "budget")


def _outages(state: AgentState, role: str, failed: bool) -> dict[str, int]:
    outages = dict(state.get("outages") or {})
    outages[role] = outages.get(role, 0) + 1 if failed else 0
    return outages


def generate(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    agent = deps.settings.agent
    index, run_id = state["next_index"], state["run_id"]
    deps.emit(events.StepStarted(run_id=run_id, index=index, parent=state.get("parent")))
    prompt = fit_to_budget(deps.store.messages(state["history"]), agent.context_tokens)
    draft = StepDraft(index=index, parent=state.get("parent"), prompt=deps.store.put_messages(prompt))
    started = time.monotonic()
    try:
        completion = deps.coder.complete(prompt, temperature=agent.coder_temperature, max_tokens=agent.coder_max_tokens)
    except LLMError as exc:
        error = f"{type(exc).__name__}: {exc}"
        draft = draft.timed("generate", time.monotonic() - started, coder_error=error)
        return {"step": draft, "outages": _outages(state, "coder", True), "outage_error": f"coder: {error}"}
    [ref] = deps.store.put_messages([{"role": "assistant", "content": completion.text}])
    draft = draft.timed(
        "generate",
        time.monotonic() - started,
        completion=ref,
        completion_chars=len(completion.text),
        tokens_prompt=completion.usage.prompt_tokens,
        tokens_completion=completion.usage.completion_tokens,
    )
    return {"step": draft, "outages": _outages(state, "coder", False)}


def apply(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    draft: StepDraft = state["step"]
    workspace = deps.workspace(state["site"])
    started = time.monotonic()
    update: dict[str, Any] = {"base_snapshot": workspace.snapshot(), "kind": "invalid"}
    if draft.completion is not None:
        response = parse_response(deps.message_text(draft.completion))
        update |= {"kind": response.kind, "reply": response.summary()}
        if response.kind == "edit":
            applied = deps.evaluator.apply(workspace, response.files)
            update["applied"] = applied
            if not (applied.written or applied.unchanged):  # every file was refused: nothing usable
                update["kind"] = "invalid"
    draft = draft.timed("apply", time.monotonic() - started, **update)
    applied = draft.applied
    deps.emit(
        events.FilesApplied(
            run_id=state["run_id"],
            index=draft.index,
            kind=draft.kind,
            written=applied.written if applied else [],
            rejected=[f"{r.path}: {r.reason}" for r in applied.rejected] if applied else [],
            problems=list(draft.reply.get("problems", [])) + ([draft.coder_error] if draft.coder_error else []),
        )
    )
    return {"step": draft}


def after_apply(state: AgentState) -> str:
    kind = state["step"].kind
    if kind == "gui_request":
        return "gui_test"
    return "execute" if kind == "edit" else "record"  # finish, an unusable reply, or a coder failure


def execute(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    draft: StepDraft = state["step"]
    started = time.monotonic()
    observation = deps.evaluator.execute(Path(state["site"]), deps.run_dir / "steps" / f"{draft.index:03d}")
    draft = draft.timed("execute", time.monotonic() - started, observation=observation)
    run_id, build = state["run_id"], observation.build
    diagnostics = [d.render() for d in build.diagnostics[:10]]
    deps.emit(
        events.Built(run_id=run_id, index=draft.index, ok=build.ok, seconds=build.seconds, diagnostics=diagnostics)
    )
    if build.ok:
        routes = [
            events.RouteResult(route=p.route, ok=p.ok and not p.error, error=p.error, screenshot=p.screenshot_path)
            for p in observation.pages
        ]
        failed = [f"{c.name}: {c.detail}" for c in observation.checks if not c.passed and c.severity == "error"]
        deps.emit(
            events.Rendered(
                run_id=run_id, index=draft.index, served=observation.served, routes=routes, failed_checks=failed
            )
        )
    return {"step": draft}


def after_execute(state: AgentState) -> str:
    return "judge" if state["step"].observation.rendered else "record"


def judge(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    draft: StepDraft = state["step"]
    started = time.monotonic()
    judgment = deps.evaluator.judge(state["instruction"], draft.observation)
    draft = draft.timed("judge", time.monotonic() - started, judgment=judgment)
    if judgment is None:  # nothing to look at: no judgment rather than a made-up one
        return {"step": draft}
    deps.emit(
        events.Judged(
            run_id=state["run_id"],
            index=draft.index,
            outcome=judgment.outcome,
            score=judgment.score,
            description=judgment.description,
            suggestions=judgment.suggestions,
        )
    )
    failed = judgment.outcome in ENDPOINT_FAILURES
    update: dict[str, Any] = {"step": draft, "outages": _outages(state, "judge", failed)}
    if failed:
        update["outage_error"] = f"judge: {judgment.failure}"
    return update


def gui_test(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    draft: StepDraft = state["step"]
    started = time.monotonic()
    instruction = state.get("gui_instruction") or deps.evaluator.test_instruction(
        state["instruction"], state.get("ui_test_cases") or None
    )
    result = deps.evaluator.gui_test(Path(state["site"]), instruction)
    draft = draft.timed("gui_test", time.monotonic() - started, gui=result)
    deps.emit(
        events.GUITested(
            run_id=state["run_id"],
            index=draft.index,
            outcome=result.outcome,
            verdict=result.verdict,
            grade=result.grade,
            instruction=instruction,
        )
    )
    failed = result.outcome in ENDPOINT_FAILURES
    update: dict[str, Any] = {"step": draft, "gui_instruction": instruction, "outages": _outages(state, "gui", failed)}
    if failed:
        update["outage_error"] = f"GUI agent: {result.error or result.outcome}"
    return update
