"""`webgen ui`'s body: start the shared world (and the scripted model server with `demo`), serve until Ctrl-C."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable

from webgen.core.settings import Settings
from webgen.ui.app import launch
from webgen.ui.state import UIWorld

logger = logging.getLogger(__name__)


def serve(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    auth: tuple[str, str] | None = None,
    demo: bool = False,
    say: Callable[[str], None] = logger.warning,
) -> None:
    """Serve the UI until interrupted; closes every session, browser, server and process it opened."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    server = None
    if demo:
        from webgen.agent.fake_server import FakeLLMServer
        from webgen.ui.demo import demo_rules, demo_settings

        server = FakeLLMServer(demo_rules()).start()
        settings = demo_settings(settings, server)
        say(f"demo: scripted model server at {server.base_url}")
    world = UIWorld(settings, host=host)
    previous = None
    if threading.current_thread() is threading.main_thread():  # SIGTERM cleans up as Ctrl-C does
        previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        say(f"webgen UI on http://{shown}:{port or '(a free port)'}  (Ctrl-C stops it)")
        launch(world, port=port, auth=auth, block=True)
    except KeyboardInterrupt:
        pass
    finally:
        world.close()
        if server is not None:
            server.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
