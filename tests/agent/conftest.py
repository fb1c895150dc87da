"""Fixtures of the policy-side tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from webgen.agent.fake_server import FakeLLMServer


@pytest.fixture
def fake() -> Iterator[Callable[[Any], FakeLLMServer]]:
    """fake(script) -> a started fake model server; every one is stopped after the test."""
    servers: list[FakeLLMServer] = []

    def start(script: Any) -> FakeLLMServer:
        servers.append(FakeLLMServer(script).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
