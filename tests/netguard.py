"""No traffic leaves loopback while the tests run.

An audit hook sees every `socket.connect` and `socket.getaddrinfo` in this process: anything aimed
beyond loopback is refused (ConnectionRefusedError, which libraries treat as a dead network) and
recorded, and the session fails if anything was recorded. Chromium gets the same rule from its
`--host-resolver-rules` flag; npm (tests marked `network`) runs as a subprocess, outside this hook.
"""

from __future__ import annotations

import ipaddress
import socket
import sys

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
violations: list[str] = []
_installed = False


class BlockedNetwork(ConnectionRefusedError):
    """A connection or lookup beyond loopback, refused by the test guard."""


def is_local_host(host: object) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    text = str(host).strip("[]").split("%")[0]
    if text in _LOCAL_NAMES:
        return True
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _hook(event: str, args: tuple) -> None:
    if event == "socket.getaddrinfo":
        host = args[0]
    elif event == "socket.connect":
        sock, address = args
        if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple):
            return
        host = address[0]
    else:
        return
    if not is_local_host(host):
        violations.append(f"{event} {host!r}")
        raise BlockedNetwork(f"test guard: {event} to {host!r} is not loopback")


def install() -> None:
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
