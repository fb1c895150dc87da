"""Typed run events as chat messages (`gr.ChatMessage`), one or more per event, in the order they happen."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import gradio as gr
from PIL import Image

from webgen.graph.events import (
    Backtracked,
    Built,
    FilesApplied,
    Finished,
    GUITested,
    Judged,
    Recorded,
    Rendered,
    RunEvent,
    StepStarted,
)

_MAX_LINES = 30
#: the chat's screenshot thumbnails' width in pixels
THUMB_WIDTH = 360


def _bullets(lines: list[str], limit: int = _MAX_LINES) -> str:
    shown = [f"- `{line}`" for line in lines[:limit]]
    if len(lines) > limit:
        shown.append(f"- ... and {len(lines) - limit} more")
    return "\n".join(shown)


def _code(lines: list[str]) -> str:
    body = "\n".join(lines[:_MAX_LINES]).replace("```", "` ` `")
    return f"```text\n{body}\n```"


def _step(event: RunEvent) -> str:
    return f"step {event.index}" if event.index is not None else "run"


def render_event(event: RunEvent) -> list[gr.ChatMessage]:
    """The messages that show `event` (its screenshots are already copies in the session's folder)."""
    say = gr.ChatMessage
    if isinstance(event, StepStarted):
        if event.imported is not None:
            return [say(role="assistant", content=f"**Step {event.index}** imports the project {event.imported}.")]
        parent = f" (from step {event.parent})" if event.parent is not None else ""
        return [say(role="assistant", content=f"**Step {event.index}** started{parent}.")]
    if isinstance(event, FilesApplied):
        body = _bullets(event.written) or "no files written"
        if event.rejected:
            body += "\n\nrefused:\n" + _bullets(event.rejected)
        if event.problems:
            body += "\n\nproblems:\n" + _bullets(event.problems)
        title = f"{_step(event)}: {event.kind}, {len(event.written)} file(s) written"
        return [say(role="assistant", content=body, metadata={"title": title, "status": "done"})]
    if isinstance(event, Built):
        if event.ok:
            return [say(role="assistant", content=f"{_step(event)}: build ok ({event.seconds:.1f} s)")]
        body = _code(event.diagnostics) if event.diagnostics else "no located errors"
        return [
            say(role="assistant", content=f"❌ {_step(event)}: build failed ({event.seconds:.1f} s)"),
            say(role="assistant", content=body, metadata={"title": "Build errors", "status": "done"}),
        ]
    if isinstance(event, Rendered):
        return _rendered(event)
    if isinstance(event, Judged):
        score = "no score" if event.score is None else f"score {event.score:g}/5"
        text = f"{_step(event)}: judge {event.outcome}, **{score}**"
        if event.description:
            text += f"\n\n{event.description}"
        if event.suggestions:
            text += f"\n\nSuggestions: {event.suggestions}"
        return [say(role="assistant", content=text)]
    if isinstance(event, GUITested):
        grade = "" if event.grade is None else f", grade {event.grade:g}"
        text = f"{_step(event)}: GUI test {event.outcome}: verdict {event.verdict or 'none'}{grade}"
        if event.instruction:
            text += f"\n\nTested: {event.instruction}"
        return [say(role="assistant", content=text)]
    if isinstance(event, Recorded):
        return []  # the timeline shows it
    if isinstance(event, Backtracked):
        to = "a fresh start" if event.to is None else f"step {event.to}"
        return [say(role="assistant", content=f"↩ backtracking to {to}")]
    if isinstance(event, Finished):
        best = "no best step" if event.best_step is None else f"best step {event.best_step}"
        text = f"Run **{event.status}**: {best}."
        if event.error:
            text += f"\n\n{event.error}"
        return [say(role="assistant", content=text)]
    return []


def thumbnail(path: Path, width: int = THUMB_WIDTH) -> str | None:
    """`path`'s image, shrunk by a whole factor to at most `width` pixels wide, as a JPEG data URI (None when it
    cannot be read). The chat shows these instead of the full screenshots: a browser redrawing a chat of full-size
    images took CPU from the run it shows. A box reduction costs half a resampling resize."""
    try:
        with Image.open(path) as image:
            small = image.reduce(max(1, -(-image.width // width))).convert("RGB")
    except (OSError, ValueError):
        return None
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _rendered(event: Rendered) -> list[gr.ChatMessage]:
    """One message for the step's routes: each route's status and a thumbnail of its screenshot (full size in the
    Steps tab)."""
    if not event.served:
        return [gr.ChatMessage(role="assistant", content=f"{_step(event)}: the site could not be served")]
    parts: list[str] = []
    for route in event.routes:
        status = "ok" if route.ok else f"error: {route.error or 'failed'}"
        label = f"Screenshot {route.route} ({status})"
        uri = thumbnail(Path(route.screenshot)) if route.screenshot is not None else None
        parts.append(f"{label}\n\n![{route.route}]({uri})" if uri else label)
    title = f"{_step(event)}: {len(event.routes)} route(s) rendered"
    messages = [gr.ChatMessage(role="assistant", content="\n\n".join(parts) or "no routes", metadata={"title": title})]
    if event.failed_checks:
        messages.append(
            gr.ChatMessage(
                role="assistant",
                content=_bullets(event.failed_checks),
                metadata={"title": "Failed checks", "status": "done"},
            )
        )
    return messages
