"""The Gradio app: chat on the left; preview, steps, files and settings on the right.

`build_app(world)` lays it out; `launch(...)` starts it. Each browser session (Gradio's session hash) gets its
own :class:`~webgen.ui.state.UISession`, dropped when the page unloads.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import gradio as gr
import uvicorn
from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from webgen.graph.events import RunEvent
from webgen.storage.conversations import list_conversations
from webgen.storage.store import StoreError
from webgen.ui import panels as pn
from webgen.ui import steps as st
from webgen.ui import stream, upload
from webgen.ui.history import run_chat as stored_chat
from webgen.ui.render import render_event
from webgen.ui.settings_panel import apply_settings, check_endpoints, settings_fields
from webgen.ui.state import GATHER_S, RunDone, UISession, UIWorld

PANELS = ["timeline", "picker", "routes", "preview", "gallery", "files", "code", "diff", "download"]
CSS = ".webgen-preview-note{padding:2rem;color:#555;border:1px dashed #bbb;border-radius:8px}"


def _host(request: gr.Request | None) -> str | None:
    host = (request.headers.get("host") if request is not None else None) or ""
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] or None


def _ui(world: UIWorld, request: gr.Request) -> UISession:
    return world.session(request.session_hash or "anonymous")


def _conversations(world: UIWorld, current: str | None = None) -> Any:
    """The past conversations' picker: title, when it last ran and how its last run ended (newest first)."""
    choices = [
        (f"{c.title} · {c.updated_at:%Y-%m-%d %H:%M} UTC · {c.status} · {c.runs} run(s)", c.id)
        for c in list_conversations(world.store)
    ]
    return gr.update(choices=choices, value=current if current in {cid for _, cid in choices} else None)


def build_app(world: UIWorld, *, concurrency: int = 4) -> gr.Blocks:
    panel_reader = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="webgen-ui-panels")
    with gr.Blocks(title="webgen", delete_cache=(3600, 3600), analytics_enabled=False) as demo:
        gr.Markdown("## webgen: describe a website, watch it being built")
        with gr.Row():
            with gr.Column(scale=5):
                with gr.Row(equal_height=True):
                    convs = gr.Dropdown([], label="Past conversations", elem_id="conversations", scale=1)
                    open_btn = gr.Button("Open", elem_id="open-conversation", size="md", scale=0, min_width=80)
                    new_btn = gr.Button("New chat", elem_id="new-conversation", size="md", scale=0, min_width=120)
                # the placeholder is Markdown: the page sets up its Markdown rendering when it loads, not on a run's
                # first message
                chat = gr.Chatbot(
                    elem_id="chat",
                    height=640,
                    label="Conversation",
                    group_consecutive_messages=False,
                    placeholder="**Describe a website** to build it, or what to change in the selected step.",
                )
                msg = gr.Textbox(elem_id="msg", placeholder="Describe the site, or what to change", show_label=False)
                with gr.Row():
                    send = gr.Button("Send", elem_id="send", variant="primary")
                    stop = gr.Button("Stop", elem_id="stop", variant="stop")
                project = upload.upload_control()
                status = gr.Markdown("", elem_id="status")
            with gr.Column(scale=6):
                with gr.Tab("Preview"):
                    routes = gr.Dropdown(["/"], value="/", label="Route", elem_id="route", allow_custom_value=True)
                    preview = gr.HTML(pn.EMPTY_PREVIEW, elem_id="preview")
                with gr.Tab("Steps"):
                    timeline = gr.Dataframe(headers=st.TIMELINE_COLUMNS, elem_id="timeline", interactive=False)
                    picker = gr.Dropdown([], label="Selected step", elem_id="picker")
                    with gr.Row():
                        cont = gr.Button("Continue from here", elem_id="continue")
                        download = gr.DownloadButton("Download zip", elem_id="download")
                    gallery = gr.Gallery(label="Screenshots", elem_id="gallery", columns=2, height=320)
                with gr.Tab("Files"):
                    files = gr.FileExplorer(
                        root_dir=world.empty_dir, file_count="single", label="Files", elem_id="files", max_height=360
                    )
                    code = gr.Code("", label="Code", elem_id="code", interactive=False)
                with gr.Tab("Diff"):
                    diff = gr.Markdown("", elem_id="diff")
                with gr.Tab("Settings"):
                    fields = settings_fields(world.settings)
                    with gr.Row():
                        apply_btn = gr.Button("Apply", elem_id="apply-settings")
                        check_btn = gr.Button("Check (webgen doctor)", elem_id="check-settings")
                    settings_out = gr.Markdown("", elem_id="settings-out")

        comps = {
            "timeline": timeline,
            "picker": picker,
            "routes": routes,
            "preview": preview,
            "gallery": gallery,
            "files": files,
            "code": code,
            "diff": diff,
            "download": download,
        }
        panel_outputs = [comps[name] for name in PANELS]

        def _panels(ui: UISession, request: gr.Request) -> list[Any]:
            values = pn.step_panels(ui, _host(request))
            return [values[name] for name in PANELS]

        def stream_run(ui: UISession, run_id: str, running: str, request: gr.Request) -> Iterator[list[Any]]:
            """Streams a started run's events into the chat (`[chat, msg, status]`), then how it ended; `run_done`
            (chained after it) shows the panels."""
            yield [ui.chat, "", running]
            item: RunEvent | RunDone | None = None
            window = 0.0  # the first event is shown at once; later ones are gathered for a moment (fewer redraws)
            while not isinstance(item, RunDone):
                batch = ui.next_events(window)
                if not batch:
                    continue
                window, item = GATHER_S, batch[-1]
                shown = [m for event in batch if not isinstance(event, RunDone) for m in render_event(event)]
                if shown:
                    ui.chat.extend(shown)
                    yield [ui.chat, gr.skip(), gr.skip()]
            ui.wait(timeout=1.0)  # the run's thread ends just after its end is put: no "a run is going" after it
            last = item.outcome.run_id if item.outcome else run_id  # an upload's import may be continued by a run
            ui.selected = st.default_selection(world.store, last) or ui.selected
            status = f"Run {last[:8]}: {item.outcome.status if item.outcome else 'failed'}."
            # the panels are read while the browser asks for them (the chained event's round trip); the status says
            # how the run ended at once, as the chat does
            ui.ended = (ui.view, panel_reader.submit(_panels, ui, request))
            if item.error:
                ui.chat.append(gr.ChatMessage(role="assistant", content=f"⚠ error: {item.error}"))
            yield [ui.chat if item.error else gr.skip(), gr.skip(), status]

        def run_chat(message: str, request: gr.Request) -> Iterator[list[Any]]:
            ui = _ui(world, request)
            text = (message or "").strip()
            if not text:
                yield [ui.chat, gr.skip(), "Write what to build (or what to change) first."]
                return
            if ui.running:
                yield [ui.chat, gr.skip(), "A run is going: wait for it to finish, or press Stop."]
                return
            origin = ui.origin or ui.selected
            ui.chat.append(gr.ChatMessage(role="user", content=text))
            where = "a fresh site" if origin is None else f"step {origin.step} of run {origin.run_id[:8]}"
            run_id = ui.send(text)
            yield from stream_run(ui, run_id, f"Running {run_id[:8]} from {where}...", request)

        def on_upload(path: str | None, message: str, request: gr.Request) -> Iterator[list[Any]]:
            yield from upload.start(_ui(world, request), path, message, partial(stream_run, request=request))

        def run_done(request: gr.Request) -> list[Any]:
            ui = _ui(world, request)
            if ui.ended is None:  # no run ended since (an empty message, one sent while a run goes, or shown)
                return [gr.skip()] * (1 + len(PANELS))
            (view, panels), ui.ended = ui.ended, None
            values = panels.result(timeout=120)
            if ui.view != view:  # a step picked, a conversation opened or a new chat since: it shows its own panels
                return [_conversations(world, ui.conversation), *[gr.skip()] * len(PANELS)]
            return [_conversations(world, ui.conversation), *values]

        # The streaming event's outputs are only what it updates while the run goes: each listed output that is
        # still waiting for its first value gets a status tracker, with an animation-frame timer while it waits.
        # The panels come with the chained event.
        # "multiple": a message sent while a run is going reaches the handler, which says so (not a silent no-op).
        # No loading overlays while a run streams: the chat itself shows progress.
        options = {
            "concurrency_limit": concurrency,
            "concurrency_id": "agent",
            "trigger_mode": "multiple",
            "show_progress": "hidden",
        }
        done_outputs = [convs, *panel_outputs]
        for trigger, api_name in ((send.click, "send"), (msg.submit, False)):
            trigger(run_chat, [msg], [chat, msg, status], api_name=api_name, **options).then(
                run_done, None, done_outputs, api_name=False, show_progress="hidden"
            )
        project.upload(on_upload, [project, msg], [chat, msg, status], api_name=False, **options).then(
            run_done, None, done_outputs, api_name=False, show_progress="hidden"
        )

        def on_stop(request: gr.Request) -> str:
            ui = _ui(world, request)
            return "Stopping after the step in flight..." if ui.cancel() else "Nothing is running."

        stop.click(on_stop, None, [status], api_name=False, concurrency_limit=None, queue=False)

        def on_pick(key: str | None, request: gr.Request) -> list[Any]:
            ui = _ui(world, request)
            sel = st.parse_key(key)
            if sel is None or sel.run_id not in ui.runs:
                return [gr.skip()] * len(PANELS)
            ui.show(sel)
            return _panels(ui, request)

        picker.input(on_pick, [picker], panel_outputs, api_name=False)

        def on_route(route: str | None, request: gr.Request) -> str:
            ui = _ui(world, request)
            return pn.preview_html(ui, ui.selected, route or "/", _host(request))

        routes.input(on_route, [routes], [preview], api_name=False)

        def on_file(chosen: str | list[str] | None, request: gr.Request) -> str | Any:
            ui = _ui(world, request)
            return pn.chosen_file(ui, chosen) if chosen else gr.skip()

        files.change(on_file, [files], [code], api_name=False)

        stream.keep_open(demo)  # first: its load event keeps the stream open while the page's other ones run

        def on_load(request: gr.Request) -> Any:
            return _conversations(world, _ui(world, request).conversation)

        demo.load(on_load, None, [convs], api_name=False)

        def on_open(cid: str | None, request: gr.Request) -> list[Any]:
            ui = _ui(world, request)
            if not cid:
                return [gr.skip(), "Pick a conversation to open first.", *([gr.skip()] * len(PANELS))]
            try:
                runs = ui.open_conversation(cid)
            except (RuntimeError, StoreError) as exc:
                return [gr.skip(), f"⚠ {str(exc).splitlines()[0]}", *([gr.skip()] * len(PANELS))]
            media = ui.workdir / "media"
            ui.chat = [m for run_id in runs for m in stored_chat(world.store, world.store.get_run(run_id), media)]
            ui.show(st.default_selection(world.store, runs[-1]))
            where = f"step {ui.selected.step} of run {ui.selected.run_id[:8]}" if ui.selected else "a fresh site"
            said = f"Opened «{ui.title}» ({len(runs)} run(s)); the next message continues from {where}."
            return [ui.chat, said, *_panels(ui, request)]

        open_btn.click(on_open, [convs], [chat, status, *panel_outputs], api_name=False)

        def on_new(request: gr.Request) -> list[Any]:
            ui = _ui(world, request)
            try:
                ui.new_conversation()
            except RuntimeError as exc:
                return [gr.skip(), f"⚠ {exc}", gr.skip(), *([gr.skip()] * len(PANELS))]
            return [
                [],
                "A new chat: the next message starts a fresh site.",
                gr.update(value=None),
                *_panels(ui, request),
            ]

        new_btn.click(on_new, None, [chat, status, convs, *panel_outputs], api_name=False)

        def on_continue(request: gr.Request) -> str:
            ui = _ui(world, request)
            if ui.selected is None:
                return "Select a step first."
            ui.origin = ui.selected
            return f"The next message continues from step {ui.selected.step} of run {ui.selected.run_id[:8]}."

        cont.click(on_continue, None, [status], api_name=False)

        def on_apply(
            c_url: str,
            c_model: str,
            j_url: str,
            j_model: str,
            g_url: str,
            g_model: str,
            steps: float,
            request: gr.Request,
        ) -> str:
            ui = _ui(world, request)
            values = [c_url, c_model, j_url, j_model, g_url, g_model, steps]
            try:
                ui.settings = apply_settings(ui.settings, values)
            except ValueError as exc:
                return f"⚠ {str(exc).splitlines()[0]}"
            return "Settings applied to this session's next run."

        apply_btn.click(on_apply, fields, [settings_out], api_name=False)

        def on_check(request: gr.Request) -> str:
            return check_endpoints(_ui(world, request).settings)

        check_btn.click(on_check, None, [settings_out], api_name=False)

        def on_unload(request: gr.Request) -> None:
            world.drop(request.session_hash or "anonymous")

        demo.unload(on_unload)
    return demo


#: where the app is served; `/` redirects here. Not the root because Gradio 6.31's page shell, at the root path only,
#: shows a loading tracker whose animation-frame loop outlives it: the page then redraws 60 times a second for as
#: long as it is open (a tenth of a core in Chromium, taken from the runs it shows).
UI_PATH = "/webgen"


class UIServer:
    """The running app: its URL and `close()` (stops the HTTP server, then Gradio's queue)."""

    def __init__(self, demo: gr.Blocks, server: uvicorn.Server, thread: threading.Thread, url: str) -> None:
        self.demo, self.server, self.thread, self.url = demo, server, thread, url

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.demo.close()


def _bind(host: str, wanted: int | None) -> socket.socket:
    """A socket bound to `wanted` (a free port when None) on `host`, for uvicorn to serve; an OSError says why
    `wanted` cannot be used."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a just-closed port is free
        sock.bind((host, wanted or 0))
    except OSError:
        sock.close()
        raise
    return sock


def launch(
    world: UIWorld,
    *,
    port: int | None = None,
    auth: tuple[str, str] | None = None,
    block: bool = True,
) -> UIServer:
    """Start the app on the world's host, at `UI_PATH`; `block=False` returns at once (tests), `close()` stops it."""
    threading.Thread(target=world.warm_up, name="webgen-ui-warm-up", daemon=True).start()
    demo = build_app(world)
    # Gradio recomputes its monitoring summary (a pandas group-by over past events) after every event unless told
    # to do it less often; monitoring is off here, so it is work for nothing on the cores the runs use
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(10**9))
    demo.queue(default_concurrency_limit=4)
    root = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    root.add_api_route("/", lambda: RedirectResponse(f"{UI_PATH}/"), include_in_schema=False)
    app = gr.mount_gradio_app(
        root,
        demo,
        path=UI_PATH,
        auth=auth,
        show_error=False,
        enable_monitoring=False,
        run_history=False,
        ssr_mode=False,
        footer_links=[],
        css=CSS,
    )
    sock = _bind(world.host, port)
    bound = int(sock.getsockname()[1])
    # an open page holds its event stream (ui/stream.py): on shutdown, cut the connections left after 2 s
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="webgen-ui-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        raise OSError(f"the UI's HTTP server did not start on {world.host}:{bound}")
    host = f"[{world.host}]" if ":" in world.host else world.host
    running = UIServer(demo, server, thread, f"http://{host}:{bound}{UI_PATH}/")
    if block:
        try:
            while thread.is_alive():
                thread.join(timeout=0.5)
        finally:
            running.close()
    return running
