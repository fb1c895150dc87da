"""A worker's process tree on this machine (from /proc): who it started, how much memory they hold, killing them.

A worker's browser and build processes run in process groups of their own, so killing a dead worker's group
is not enough: its descendants are listed while it lives and killed with it. A pid is identified with its start
time, so a pid that was reused by another process after the worker died is never killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

Proc = tuple[int, int]  # (pid, start time in clock ticks since boot)


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def children() -> dict[int, list[int]]:
    """Parent pid -> child pids, for every process on this machine."""
    tree: dict[int, list[int]] = {}
    proc = Path("/proc")
    for entry in proc.iterdir() if proc.is_dir() else []:
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields:
                tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def tree(pid: int, table: dict[int, list[int]] | None = None) -> list[Proc]:
    """`pid` and all its descendants, each with its start time (gone processes left out)."""
    table = children() if table is None else table
    found: list[Proc] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        fields = _stat(current)
        if fields:
            found.append((current, int(fields[19])))
        todo.extend(table.get(current, []))
    return found


def pss_mb(procs: list[Proc]) -> float:
    """Proportional set size of the processes (shared pages split between their users), so a pool's numbers add up."""
    total = 0.0
    for pid, _ in procs:
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) / 1024
                    break
    return total


def alive(proc: Proc) -> bool:
    """Whether the process still runs (and is the same process, not a reused pid)."""
    fields = _stat(proc[0])
    return bool(fields) and int(fields[19]) == proc[1] and fields[0] != "Z"


def kill(procs: list[Proc]) -> None:
    """SIGKILL each process (and its group, when it leads one) that is still the same process."""
    for pid, started in procs:
        if not alive((pid, started)):
            continue  # gone, or the pid now belongs to another process
        with contextlib.suppress(OSError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
