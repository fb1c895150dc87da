"""The test session's network guard really refuses traffic beyond loopback (and lets loopback through)."""

from __future__ import annotations

import socket

import pytest

from tests import netguard


def test_guard_refuses_non_loopback_and_allows_loopback() -> None:
    recorded = len(netguard.violations)
    with pytest.raises(netguard.BlockedNetwork):
        socket.getaddrinfo("example.com", 443)
    with socket.socket() as sock, pytest.raises(netguard.BlockedNetwork):
        sock.connect(("10.255.255.1", 80))
    assert len(netguard.violations) == recorded + 2
    del netguard.violations[recorded:]  # deliberate attempts; the session must not fail for them
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
    assert socket.getaddrinfo("localhost", 80)
