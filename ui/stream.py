"""Keep each browser session's event stream open while the session lives: a workaround for a race in Gradio's client.

Gradio (6.31) sends all of a session's updates on one server-sent-event stream. The server closes that stream as
soon as the session has no event pending, and the browser opens it again when it sends its next event, unless the
close is on its way: the browser's request to join the queue is answered, the browser still believes the stream
open, and then the close arrives. The new event runs, but its updates wait on the server until some later event
opens a stream again: a message sent just as another update lands shows nothing (the status stays a timer), which
the UI tests met whenever they acted at once on what they saw.

A placeholder id among the session's pending events (`hold`, on page load) keeps the server from ever closing the
stream; `release` (on unload) takes it out. This reads Gradio's queue internals, checked against 6.31
(constraints.txt): on a Gradio without them it logs once and does nothing, and Gradio's own behaviour returns.
An open stream costs one idle connection per page, and saves the reconnection each event used to pay.

Left as they are: a held stream that breaks (a network error; Gradio also evicts the oldest of 2,000 sessions'
message queues) leaves the page without updates until it is reloaded, as a stream that broke during an event did
before; and the page's very first events (its load events) can still meet the race, which the next event heals.
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr

log = logging.getLogger(__name__)
HOLD = "webgen-keeps-the-stream-open"  # never an event id (Gradio's are uuid4 hex)


def _pending(blocks: Any) -> dict[str, set[str]] | None:
    pending = getattr(getattr(blocks, "_queue", None), "pending_event_ids_session", None)
    return pending if isinstance(pending, dict) else None


def keep_open(demo: Any) -> None:
    """Hold each session's stream from its page's load to its unload (call inside `demo`'s Blocks context, before
    the other load events, so that the hold is pending with them). On a Gradio without the internals it relies on,
    it says so once and leaves Gradio's own behaviour."""
    if _pending(demo) is None:
        log.warning("this Gradio has no per-session pending events: its event streams close between events")
        return

    async def hold_stream(request: gr.Request) -> None:  # async: on the server's event loop, as Gradio's queue is
        hold(demo, request.session_hash)

    async def release_stream(request: gr.Request) -> None:
        release(demo, request.session_hash)

    demo.load(hold_stream, None, None, api_name=False, show_progress="hidden")
    demo.unload(release_stream)


def hold(blocks: Any, session_hash: str | None) -> None:
    """Keep `session_hash`'s stream open (call on the server's event loop, from a load event of that session)."""
    pending = _pending(blocks)
    if pending is not None and session_hash:
        pending.setdefault(session_hash, set()).add(HOLD)


def release(blocks: Any, session_hash: str | None) -> None:
    """Let `session_hash`'s stream close again, and forget the session once nothing else is pending."""
    pending = _pending(blocks)
    if pending is None or not session_hash or session_hash not in pending:
        return
    ids = pending[session_hash]
    ids.discard(HOLD)
    if not ids:
        pending.pop(session_hash, None)
