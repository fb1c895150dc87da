"""A stored conversation's chat, rebuilt from the store: each run's request, then its steps as the events the loop
published while it ran (re-created from what each step recorded), rendered as a live run renders them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from webgen.graph.events import (
    Built,
    FilesApplied,
    Finished,
    GUITested,
    Judged,
    Rendered,
    RouteResult,
    RunEvent,
    StepStarted,
)
from webgen.storage.store import StoreError, TrajectoryStore
from webgen.storage.values import Run, Step
from webgen.ui.render import render_event


def _changed(store: TrajectoryStore, step: Step) -> list[str]:
    if step.snapshot_id is None or step.snapshot_id == step.base_snapshot_id:
        return []
    before = store.manifest(step.base_snapshot_id) if step.base_snapshot_id else {}
    after = store.manifest(step.snapshot_id)
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))


def _diagnostic(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    where = str(item.get("file") or "")
    if where and item.get("line"):
        where += f":{item['line']}"
    return f"[{item.get('source', 'build')}] {where + ': ' if where else ''}{item.get('message', '')}"


def _rendered(store: TrajectoryStore, step: Step, media: Path) -> Rendered:
    pages = [p for p in step.observation.get("pages", []) if isinstance(p, dict)]
    errors = {p.get("route"): p.get("error") for p in pages}
    shots = [s for s in store.screenshots(step.id) if s.kind == "viewport"]
    media.mkdir(parents=True, exist_ok=True)
    routes = []
    for i, shot in enumerate(shots):
        path = media / f"stored-{step.run_id[:8]}-{step.index}-{i}.png"
        path.write_bytes(shot.png)
        error = errors.get(shot.route)
        routes.append(RouteResult(route=shot.route, ok=not error, error=error, screenshot=path))
    checks = [c for c in step.observation.get("checks", []) if isinstance(c, dict)]
    failed = [f"{c.get('name')}: {c.get('detail', '')}" for c in checks if not c.get("passed", True)]
    return Rendered(run_id=step.run_id, index=step.index, served=bool(step.served), routes=routes, failed_checks=failed)


def step_events(store: TrajectoryStore, step: Step, media: Path) -> list[RunEvent]:
    """The events the loop published for `step`, from what the step recorded (screenshots copied to `media`)."""
    run_id, index = step.run_id, step.index
    events: list[RunEvent] = [
        StepStarted(run_id=run_id, index=index, parent=step.parent_index),
        FilesApplied(run_id=run_id, index=index, kind=step.kind, written=_changed(store, step)),
    ]
    build = step.observation.get("build") if isinstance(step.observation.get("build"), dict) else None
    if step.build_ok is not None and build is not None:
        diagnostics = [_diagnostic(d) for d in build.get("diagnostics", [])[:10]]
        seconds = float(build.get("seconds") or 0.0)
        events.append(Built(run_id=run_id, index=index, ok=step.build_ok, seconds=seconds, diagnostics=diagnostics))
        if step.build_ok:
            events.append(_rendered(store, step, media))
    judge = step.judge
    if judge:
        events.append(
            Judged(
                run_id=run_id,
                index=index,
                outcome=str(judge.get("outcome", "")),
                score=step.screenshot_score,
                description=str(judge.get("description", "")),
                suggestions=str(judge.get("suggestions", "")),
            )
        )
    if step.gui:
        outcome = str(step.gui.get("outcome", ""))
        events.append(
            GUITested(run_id=run_id, index=index, outcome=outcome, verdict=step.gui_verdict, grade=step.gui_grade)
        )
    return events


def run_chat(store: TrajectoryStore, run: Run, media: Path) -> list[gr.ChatMessage]:
    """One run as the chat showed it: the request, every step, and how the run ended."""
    try:
        request = store.get_task(run.task_id).instruction
    except StoreError:
        request = "(the request is no longer stored)"
    messages = [gr.ChatMessage(role="user", content=request)]
    imported = (run.config.get("imported") or {}).get("name")  # a run whose step 0 is an uploaded project
    for step in store.steps(run.id):
        for event in step_events(store, step, media):
            if imported and isinstance(event, StepStarted) and event.index == 0:
                event = event.model_copy(update={"imported": str(imported)})
            messages.extend(render_event(event))
    end = Finished(run_id=run.id, status=run.status, best_step=run.best_step, error=run.error)
    messages.extend(render_event(end))
    return messages
