"""`webgen ui`: the Gradio chat (build a site by conversation, watch every step, preview, restore, download)."""

from __future__ import annotations

import ipaddress
import logging
from typing import Annotated

import typer

from webgen.cli.common import console, fail, settings

logger = logging.getLogger(__name__)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    if auth is None:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise fail("--auth takes USER:PASS (both non-empty)")
    return user, password


def ui(
    host: Annotated[str, typer.Option(help="interface to bind; anything but loopback requires --auth")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="port (0: a free one)")] = 7860,
    auth: Annotated[str | None, typer.Option(help="USER:PASS required to open the page")] = None,
    demo: Annotated[bool, typer.Option(help="use the scripted model server (no model needed)")] = False,
) -> None:
    """Open the chat UI: describe a site, watch each step, preview it, go back to any step, download a zip."""
    credentials = parse_auth(auth)
    if not _loopback(host) and credentials is None:
        raise fail(f"--host {host} exposes the UI beyond this machine: add --auth USER:PASS (or keep 127.0.0.1)")
    from webgen.ui.serve import serve  # gradio loads only for this command

    try:
        serve(
            settings(),
            host=host,
            port=port or None,
            auth=credentials,
            demo=demo,
            say=lambda line: console.print(line, highlight=False),
        )
    except OSError as exc:
        raise fail(f"cannot start the UI on {host}:{port}: {exc.strerror or exc}") from exc
