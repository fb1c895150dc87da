"""Helpers shared by the collector's tests."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from tests.graph.conftest import FAST_WAITS
from webgen.core.settings import ModelEndpoint, Settings


def dead_url() -> str:
    """An OpenAI-style base URL on a loopback port nothing listens on (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


def collect_settings(
    settings: Settings, tmp: Path, url: str, database_url: str | None = None, **agent: Any
) -> Settings:
    """The user's settings (so the scaffold cache is reused) with every role at `url`, the store in `tmp` (or at
    `database_url`, with the checkpoints beside it) and fast GUI waits."""
    endpoints = {
        r: ModelEndpoint(base_url=url, model=r, timeout_s=20, max_retries=0) for r in ("coder", "judge", "gui")
    }
    return settings.model_copy(
        update={
            "database_url": database_url or f"sqlite:///{tmp / 'runs.db'}",
            "checkpoint_url": None if database_url else f"sqlite:///{tmp / 'checkpoints.sqlite'}",
            "agent": settings.agent.model_copy(update={"gui_waits": FAST_WAITS, **agent}),
            **endpoints,
        }
    )
