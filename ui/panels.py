"""The step panels' values for a selection: preview iframe, routes, screenshots, files, code, diff, zip."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from webgen.storage.values import Step
from webgen.ui import steps as st
from webgen.ui.state import Selection, UISession

EMPTY_PREVIEW = '<div id="site-empty" class="webgen-preview-note">No site yet: send a request to build one.</div>'


def _note(text: str) -> str:
    return f'<div id="site-empty" class="webgen-preview-note">{html.escape(text)}</div>'


def _previewed(ui: UISession, step: Step) -> tuple[Selection | None, str | None]:
    """The step whose built site shows `step`'s files (itself, or the ancestor a GUI/finish step rests on)."""
    store = ui.world.store
    current: Step | None = step
    while current is not None:
        if current.build_ok is False:
            return None, f"The build of step {current.index} failed: there is no site to preview for it."
        if current.build_ok and ui.preview.has(current.run_id, current.index):
            return Selection(run_id=current.run_id, step=current.index), None
        if current.parent_index is None:
            break
        current = st.get_step(store, Selection(run_id=current.run_id, step=current.parent_index))
    return None, f"Step {step.index} has no built site in this session to preview."


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
            files=gr.update(choices=[], value=None),
            code="",
            diff="",
            download=gr.update(value=None),
        )
        return out
    routes = st.routes_of(store, step)
    snapshot = st.site_snapshot(store, sel)
    files = sorted(st.files_of(store, snapshot))
    first = next((f for f in files if f.endswith("App.tsx")), files[0] if files else None)
    shots = st.screenshots(store, step, ui.workdir / "shots")
    zip_path = st.export_zip(store, sel, ui.workdir / "zips")
    out.update(
        routes=gr.update(choices=routes, value=routes[0]),
        preview=preview_html(ui, sel, routes[0], host),
        gallery=[(path, route) for path, route in shots] or None,
        files=gr.update(choices=files, value=first),
        code=st.file_text(store, snapshot, first) if first else "",
        diff=f"```diff\n{st.diff(store, step).replace('```', '` ` `')}\n```",
        download=gr.update(value=str(zip_path) if zip_path else None),
    )
    return out
