"""The harness's reply to a step (the next user message), rendered from agent/prompts/feedback.j2."""

from __future__ import annotations

from webgen.core import templates
from webgen.core.types import Observation
from webgen.feedback.gui.types import GUITestResult
from webgen.feedback.judge.vlm import Judgment
from webgen.graph.state import StepDraft

_OUTAGE = "could not be reached; this says nothing about your site"


def _page_problems(observation: Observation | None) -> list[str]:
    if observation is None:
        return []
    lines = []
    for page in observation.pages:
        lines += [f"{page.route}: uncaught error: {m}" for m in page.page_errors[:3]]
        lines += [f"{page.route}: console error: {m}" for m in page.console_errors[:3]]
        lines += [f"{page.route}: failed request: {m}" for m in page.failed_requests[:3]]
        if page.error:
            lines.append(f"{page.route}: {page.error}")
    lines += [
        f"check {c.name}: {c.detail}"
        for c in observation.checks
        if not c.passed and c.name not in ("build", "served", "runtime_errors")
    ]
    return lines[:15]


def _judge_problem(judgment: Judgment | None) -> str:
    """Why there is no screenshot review, in words for the coder (never the endpoint's error text)."""
    if judgment is None or judgment.outcome == "ok":
        return ""
    if judgment.outcome in ("endpoint_error", "budget"):
        return f"the reviewer {_OUTAGE}"
    return "the reviewer's answer was unreadable"


def _gui_problem(gui: GUITestResult | None) -> str:
    if gui is None or gui.outcome == "ok":
        return ""
    if gui.outcome in ("endpoint_error", "budget"):
        return f"the testing agent {_OUTAGE}"
    return gui.error or gui.outcome


def compose(step: StepDraft, *, instruction: str, has_error: bool) -> str:
    """The feedback message for `step` (an edit, a GUI test, or an unusable reply)."""
    reply, applied = step.reply, step.applied
    rejected = [f"{r.path}: {r.reason}" for r in applied.rejected] if applied else []
    parse_problems = list(reply.get("problems", []))
    parse_problems += [
        f"{p}: your reply ended inside this file, so it was not written" for p in reply.get("truncated", [])
    ]
    parse_problems += rejected
    if step.coder_error:  # the model server failed: say so, without its error text
        parse_problems = ["your previous reply never arrived (the model server failed), so nothing was changed"]
    gui, judgment, observation = step.gui, step.judgment, step.observation
    if step.kind == "gui_request":
        clean = gui is not None and gui.outcome == "ok" and gui.verdict == "YES" and not has_error
        next_step = "finish" if clean else "gui_fix"
    elif step.kind == "edit":
        next_step = "fix" if has_error else "validate"
    else:
        next_step = "retry"
    build = observation.build if observation else None
    diagnostics = [
        (f"{d.file}:{d.line}: " if d.file and d.line else "") + f"[{d.source}] {d.message}"
        for d in (build.diagnostics[:10] if build else [])
    ]
    judged = judgment is not None and judgment.outcome == "ok"
    return templates.render(
        "webgen.agent",
        "feedback.j2",
        kind=step.kind,
        build_ok=bool(build and build.ok),
        diagnostics=diagnostics,
        notes=build.notes if build else [],
        served=bool(observation and observation.served),
        page_problems=_page_problems(observation),
        rejected=rejected,
        judged=judged,
        score=judgment.score if judgment else None,
        description=judgment.description if judgment else "",
        error=judgment.error if judgment and judgment.has_error else "",
        suggestions=(gui.suggestions if gui else "")
        if step.kind == "gui_request"
        else (judgment.suggestions if judgment else ""),
        judge_problem=_judge_problem(judgment),
        verdict=gui.verdict if gui else None,
        grade=gui.grade if gui else None,
        gui_problem=_gui_problem(gui),
        parse_problems=parse_problems,
        next_step=next_step,
        instruction=instruction,
    )
