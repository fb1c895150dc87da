"""The chat's "Upload project" control: a zip of an existing Vite + React site starts a new conversation.

The zip is checked first (:func:`webgen.feedback.site.project_import.load_project`: bad input is one line in the
status, and no run starts); then the project is imported as step 0 of a run (built, rendered, judged, streamed
into the chat like any step) and, when the message box holds a request, the agent continues from that step in
a second run of the same conversation. Later messages continue from the best step, as in any conversation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from webgen.feedback.site.project_import import ProjectImportError, load_project
from webgen.ui.state import UISession

#: what the control accepts; the import itself also refuses anything that is not a zip
FILE_TYPES = [".zip"]

Stream = Callable[[UISession, str, str], Iterator[list[Any]]]


def upload_control() -> gr.File:
    return gr.File(
        label="Upload project (.zip of a Vite + React site; the message box may say what to change)",
        file_types=FILE_TYPES,
        file_count="single",
        type="filepath",
        elem_id="upload",
        height=120,
    )


def start(ui: UISession, path: str | None, message: str | None, stream: Stream) -> Iterator[list[Any]]:
    """The upload event's handler: yields `[chat, msg, status]` as `stream` does for a sent message."""
    if not path:
        yield [gr.skip(), gr.skip(), gr.skip()]  # the file was removed from the control: nothing to do
        return
    if ui.running:
        yield [ui.chat, gr.skip(), "A run is going: wait for it to finish, or press Stop, then upload again."]
        return
    try:
        plan = load_project(Path(path))
    except ProjectImportError as exc:
        yield [ui.chat, gr.skip(), f"⚠ {exc}"]
        return
    found = plan.project
    request = (message or "").strip() or None
    ui.new_conversation()
    said = f"Uploaded the project **{found.name}** ({len(found.files)} files)."
    ui.chat = [gr.ChatMessage(role="user", content=said + (f"\n\n{request}" if request else ""))]
    run_id = ui.send_project(plan, request)
    then = " then the requested change" if request else ""
    yield from stream(ui, run_id, f"Importing {found.name} as step 0 of run {run_id[:8]}{then}...")
