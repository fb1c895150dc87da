"""The harness's reply to a step (the next user message), rendered from agent/prompts/feedback.j2."""

from __future__ import annotations

from typing import Any

from webgen.agent.prompts import render


def _page_problems(observation: dict[str, Any]) -> list[str]:
    lines = []
    for page in observation.get("pages", []):
        route = page["route"]
        lines += [f"{route}: uncaught error: {m}" for m in page.get("page_errors", [])[:3]]
        lines += [f"{route}: console error: {m}" for m in page.get("console_errors", [])[:3]]
        lines += [f"{route}: failed request: {m}" for m in page.get("failed_requests", [])[:3]]
        if page.get("error"):
            lines.append(f"{route}: {page['error']}")
    lines += [
        f"check {c['name']}: {c['detail']}"
        for c in observation.get("checks", [])
        if not c["passed"] and c["name"] not in ("build", "served", "runtime_errors")
    ]
    return lines[:15]


_OUTAGE = "could not be reached; this says nothing about your site"


def _judge_problem(judgement: dict[str, Any]) -> str:
    """Why there is no screenshot review, in words for the coder (never the endpoint's error text)."""
    outcome = judgement.get("outcome")
    if not judgement or outcome == "ok":
        return ""
    return (
        f"the reviewer {_OUTAGE}" if outcome in ("endpoint_error", "budget") else "the reviewer's answer was unreadable"
    )


def _gui_problem(gui: dict[str, Any]) -> str:
    outcome = gui.get("outcome", "ok")
    if outcome in ("endpoint_error", "budget"):
        return f"the testing agent {_OUTAGE}"
    return gui.get("error") or ("" if outcome == "ok" else outcome)


def compose(state: dict[str, Any], *, has_error: bool) -> str:
    """The feedback message for the step in `state` (an edit, a GUI test, or an unusable reply)."""
    kind = state["kind"]
    observation = state.get("observation") or {}
    judgement = state.get("judgement") or {}
    gui = state.get("gui") or {}
    parsed = state.get("parsed") or {}
    parse_problems = list(parsed.get("problems", []))
    parse_problems += [
        f"{p}: your reply ended inside this file, so it was not written" for p in parsed.get("truncated", [])
    ]
    parse_problems += [f"{r['path']}: {r['reason']}" for r in (state.get("applied") or {}).get("rejected", [])]
    if state.get("coder_error"):  # the model server failed: say so, without its error text
        parse_problems = ["your previous reply never arrived (the model server failed), so nothing was changed"]
    if kind == "gui_request":
        clean = gui.get("outcome") == "ok" and gui.get("verdict") == "YES" and not has_error
        next_step = "finish" if clean else "gui_fix"
    elif kind == "edit":
        next_step = "fix" if has_error else "validate"
    else:
        next_step = "retry"
    build = observation.get("build", {})
    diagnostics = [
        (f"{d['file']}:{d['line']}: " if d.get("file") and d.get("line") else "") + f"[{d['source']}] {d['message']}"
        for d in build.get("diagnostics", [])[:10]
    ]
    return render(
        "feedback.j2",
        kind=kind,
        build_ok=build.get("ok", False),
        diagnostics=diagnostics,
        notes=build.get("notes", []),
        served=observation.get("served", False),
        page_problems=_page_problems(observation),
        rejected=[f"{r['path']}: {r['reason']}" for r in (state.get("applied") or {}).get("rejected", [])],
        judged=judgement.get("outcome") == "ok",
        score=judgement.get("score"),
        description=judgement.get("description", ""),
        error=judgement.get("error", "") if judgement.get("has_error") else "",
        suggestions=(gui.get("suggestions", "") if kind == "gui_request" else judgement.get("suggestions", "")),
        judge_problem=_judge_problem(judgement),
        verdict=gui.get("verdict"),
        grade=gui.get("grade"),
        gui_problem=_gui_problem(gui),
        parse_problems=parse_problems,
        next_step=next_step,
        instruction=state["instruction"],
    )
