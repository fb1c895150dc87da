"""The loop's working nodes: generate, apply, execute, screenshot feedback, GUI test (ARCHITECTURE §4).

Each node is a function of (state, runtime) returning a partial state update; side effects go through
`runtime.context` (Deps). Failures of the site or of a model are observations, never exceptions.
Messages go to the store as they are made; the state keeps their references.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime

from webgen.agent.actions import parse_response
from webgen.agent.context import fit_to_budget
from webgen.agent.llm import LLMError
from webgen.feedback.gui_grading import derive_test_instruction, grade_transcript
from webgen.feedback.gui_types import GUITestResult
from webgen.feedback.report import save_observation
from webgen.graph.deps import Deps
from webgen.graph.state import AgentState

STEP_RESET: dict[str, Any] = {
    "completion": None,
    "coder_error": None,
    "parsed": {},
    "applied": {},
    "base_snapshot": None,
    "observation": None,
    "judgement": None,
    "gui": None,
    "tokens": {},
    "latency": {},
}
#: outcomes that say a role's endpoint failed (not the site, not the reply)
ENDPOINT_FAILURES = ("endpoint_error", "budget")


def _outages(state: AgentState, role: str, failed: bool) -> dict[str, int]:
    outages = dict(state.get("outages") or {})
    outages[role] = outages.get(role, 0) + 1 if failed else 0
    return outages


def generate(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    agent = deps.settings.agent
    prompt = fit_to_budget(deps.store.messages(state["history"]), agent.context_tokens)
    deps.emit("generate", index=state["next_index"])
    started = time.monotonic()
    update: dict[str, Any] = {**STEP_RESET, "prompt": deps.store.put_messages(prompt)}
    try:
        completion = deps.coder.complete(prompt, temperature=agent.coder_temperature, max_tokens=agent.coder_max_tokens)
    except LLMError as exc:
        error = f"{type(exc).__name__}: {exc}"
        return {
            **update,
            "coder_error": error,
            "outages": _outages(state, "coder", True),
            "outage_error": f"coder: {error}",
            "latency": {"generate": time.monotonic() - started},
        }
    tokens = {"prompt": completion.usage.prompt_tokens, "completion": completion.usage.completion_tokens}
    [ref] = deps.store.put_messages([{"role": "assistant", "content": completion.text}])
    return {
        **update,
        "completion": ref,
        "outages": _outages(state, "coder", False),
        "tokens": tokens,
        "latency": {"generate": time.monotonic() - started},
    }


def apply(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    workspace = deps.workspace(state["site"])
    started = time.monotonic()
    base = workspace.snapshot()
    if state.get("coder_error") or state.get("completion") is None:
        kind, parsed, applied = "invalid", {}, {}
    else:
        response = parse_response(deps.message_text(state["completion"]))
        kind, parsed, applied = response.kind, response.summary(), {}
        if kind == "edit":
            applied = workspace.apply(response.files).model_dump()
            if not (applied["written"] or applied["unchanged"]):  # every file was refused: nothing usable
                kind = "invalid"
    latency = {**state.get("latency", {}), "apply": time.monotonic() - started}
    deps.emit("apply", index=state["next_index"], kind=kind, files=len(parsed.get("files", [])))
    return {"parsed": parsed, "kind": kind, "applied": applied, "base_snapshot": base, "latency": latency}


def after_apply(state: AgentState) -> str:
    if state["kind"] == "gui_request":
        return "gui_test"
    if state["kind"] == "edit":
        return "execute"
    return "record"  # finish, an unusable reply, or a coder failure


def _step_dir(deps: Deps, state: AgentState) -> Path:
    return deps.run_dir / "steps" / f"{state['next_index']:03d}"


def execute(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    started = time.monotonic()
    observation = deps.env.observe(Path(state["site"]))
    save_observation(observation, _step_dir(deps, state))  # screenshots to disk: state holds paths, not bytes
    deps.emit(
        "execute",
        index=state["next_index"],
        build_ok=observation.build.ok,
        pages=len(observation.pages),
        errors=[d.render() for d in observation.build.diagnostics[:3]]
        + [c.detail for c in observation.checks if not c.passed and c.severity == "error" and c.name != "build"],
    )
    latency = {**state.get("latency", {}), "execute": time.monotonic() - started}
    return {"observation": observation.model_dump(mode="json"), "latency": latency}


def after_execute(state: AgentState) -> str:
    observation = state.get("observation") or {}
    rendered = observation.get("served") and any(p.get("ok") for p in observation.get("pages", []))
    return "screenshot_feedback" if rendered else "record"


def screenshot_feedback(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    pages = (state.get("observation") or {}).get("pages", [])
    shots = [Path(p["screenshot_path"]).read_bytes() for p in pages if p.get("screenshot_path")]
    if not shots:  # nothing to look at: no judgement rather than a made-up one
        return {"judgement": None}
    started = time.monotonic()
    judgement = deps.judge.grade(state["instruction"], shots[: deps.settings.agent.judge_max_images])
    deps.emit("judge", index=state["next_index"], score=judgement.score, outcome=judgement.outcome)
    latency = {**state.get("latency", {}), "judge": time.monotonic() - started}
    failed = judgement.outcome in ENDPOINT_FAILURES
    update: dict[str, Any] = {"judgement": judgement.model_dump(mode="json"), "latency": latency}
    update["outages"] = _outages(state, "judge", failed)
    if failed:
        update["outage_error"] = f"judge: {judgement.failure}"
    return update


def gui_test(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    agent = deps.settings.agent
    started = time.monotonic()
    instruction = state.get("gui_instruction") or derive_test_instruction(
        deps.feedback_llm, instruction=state["instruction"], ui_test_cases=state.get("ui_test_cases") or None
    )
    site = Path(state["site"])
    build = deps.env.build(site)  # the files may have been restored since the last build
    if not build.ok:
        result = GUITestResult(outcome="browser_error", error="the site does not build, so it could not be tested")
    else:
        with deps.env.serve(site) as server:
            result = deps.gui_agent.test(
                server.url, instruction, max_steps=agent.gui_max_steps, timeout_s=agent.gui_timeout_s
            )
        if result.outcome == "ok":
            result = grade_transcript(deps.feedback_llm, instruction=instruction, result=result)
    deps.emit("gui_test", index=state["next_index"], verdict=result.verdict, grade=result.grade, outcome=result.outcome)
    latency = {**state.get("latency", {}), "gui_test": time.monotonic() - started}
    failed = result.outcome in ENDPOINT_FAILURES
    update: dict[str, Any] = {"gui": result.model_dump(mode="json"), "gui_instruction": instruction}
    update |= {"latency": latency, "outages": _outages(state, "gui", failed)}
    if failed:
        update["outage_error"] = f"GUI agent: {result.error or result.outcome}"
    return update
