"""The step panels' values for a selection: preview iframe, routes, screenshots, files, code, diff, zip."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import gradio as gr

from webgen.graph.session import StepSiteError
from webgen.storage.store import StoreError
from webgen.storage.values import Step
from webgen.ui import steps as st
from webgen.ui.state import Selection, UISession

EMPTY_PREVIEW = '<div id="site-empty" class="webgen-preview-note">No site yet: send a request to build one.</div>'


def _note(text: str) -> str:
    return f'<div id="site-empty" class="webgen-preview-note">{html.escape(text)}</div>'


def _snapshot(step: Step) -> str | None:
    return step.snapshot_id or step.base_snapshot_id


def _previewed(ui: UISession, step: Step) -> tuple[Selection | None, str | None]:
    """The step whose built site shows `step`'s files: one this session built live with the same files (the step
    itself, or the step a GUI test or finish rests on), else the stored step, built now (cached by its files).
    A step whose files never built (it failed, or the loop never built them) gets a note instead."""
    store = ui.world.store
    files = _snapshot(step)
    built = False
    current: Step | None = step
    while current is not None and _snapshot(current) == files:
        if current.build_ok is False:
            return None, f"The build of step {current.index} failed: there is no site to preview for it."
        if current.build_ok and ui.preview.has(current.run_id, current.index):
            return Selection(run_id=current.run_id, step=current.index), None
        built = built or bool(current.build_ok)
        if current.parent_index is None:
            break
        current = st.get_step(store, Selection(run_id=current.run_id, step=current.parent_index))
    if files is None or not built:
        return None, f"Step {step.index} has no built site to preview."
    try:
        dist = ui.site_of(step.run_id, step.index)
    except (StepSiteError, StoreError, RuntimeError) as exc:
        return None, f"No preview of step {step.index}: {(str(exc).splitlines() or ['no site'])[0]}"
    ui.preview.add(step.run_id, step.index, dist)
    return Selection(run_id=step.run_id, step=step.index), None


def preview_html(ui: UISession, sel: Selection | None, route: str = "/", host: str | None = None) -> str:
    if sel is None:
        return EMPTY_PREVIEW
    step = st.get_step(ui.world.store, sel)
    if step is None:
        return EMPTY_PREVIEW
    shown, problem = _previewed(ui, step)
    if shown is None:
        return _note(problem or "No preview.")
    src = html.escape(ui.preview.url(shown.run_id, shown.step, route or "/", host=host), quote=True)
    return (
        f'<iframe id="site-frame" title="site preview" src="{src}" sandbox="allow-scripts allow-forms" '
        'referrerpolicy="no-referrer" style="width:100%;height:640px;border:1px solid #ddd;border-radius:8px">'
        "</iframe>"
    )


def step_panels(ui: UISession, host: str | None = None) -> dict[str, Any]:
    """Every step panel's value for the session's selected step (keyed by panel name)."""
    store = ui.world.store
    views = st.timeline(store, ui.runs)
    choices = [(f"{v.row[1]} step {v.row[0]} {v.row[2]} {v.row[8]}".strip(), v.key) for v in views]
    sel = ui.selected
    key = st.step_key(sel) if sel else None
    step = st.get_step(store, sel) if sel else None
    out: dict[str, Any] = {
        "timeline": gr.update(value=[v.row for v in views] or None),
        "picker": gr.update(choices=choices, value=key),
    }
    if step is None or sel is None:
        out.update(
            routes=gr.update(choices=["/"], value="/"),
            preview=EMPTY_PREVIEW,
            gallery=None,
            files=gr.update(root_dir=str(ui.world.empty_dir), value=None),
            code="",
            diff="",
            download=gr.update(value=None),
        )
        return out
    routes = st.routes_of(store, step)
    snapshot = st.site_snapshot(store, sel)
    files = sorted(st.files_of(store, snapshot))
    first = next((f for f in files if f.endswith("App.tsx")), files[0] if files else None)
    tree = st.file_tree(store, snapshot, ui.workdir / "trees") if snapshot else ui.world.empty_dir
    shots = st.screenshots(store, step, ui.workdir / "shots")
    zip_path = st.export_zip(store, sel, ui.workdir / "zips")
    out.update(
        routes=gr.update(choices=routes, value=routes[0]),
        preview=preview_html(ui, sel, routes[0], host),
        gallery=[(path, route) for path, route in shots] or None,
        files=gr.update(root_dir=str(tree), value=str(tree / first) if first else None),
        code=st.file_text(store, snapshot, first) if first else "",
        diff=_diff(store, step),
        download=gr.update(value=str(zip_path) if zip_path else None),
    )
    return out


def _diff(store: Any, step: Step) -> str:
    against = "the files it started from" if step.parent_index is None else f"its parent, step {step.parent_index}"
    body = st.diff(store, step).replace("```", "` ` `")
    return f"Step {step.index} against {against}:\n\n```diff\n{body}\n```"


def chosen_file(ui: UISession, chosen: str | list[str] | None) -> str:
    """The code of the file picked in the tree (a path inside the selected step's tree folder)."""
    if isinstance(chosen, list):
        chosen = chosen[0] if chosen else None
    if not chosen or ui.selected is None:
        return ""
    snapshot = st.site_snapshot(ui.world.store, ui.selected)
    if snapshot is None:
        return ""
    root = (ui.workdir / "trees" / snapshot).resolve()
    path = Path(chosen).resolve()
    if not path.is_relative_to(root) or path.is_dir():
        return ""
    return st.file_text(ui.world.store, snapshot, path.relative_to(root).as_posix())
