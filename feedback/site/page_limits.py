"""Chromium's renderer processes, read from /proc: a memory cap per page and a way to end a page that hangs.

A renderer over its memory cap is killed (SIGKILL); Playwright then reports the page as crashed and the
browser itself carries on. Only processes below the browser this Renderer launched are ever touched.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
_POLL_S = 0.2


def find_process(marker: str) -> int | None:
    """The pid of the process whose command line contains `marker` (a unique switch given at launch)."""
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if needle in cmdline and b"--type=" not in cmdline:  # the browser, not one of its helpers
                return int(entry.name)
    log.debug("no process found with %s: no memory watch for this browser", marker)
    return None


def renderer_pids(browser_pid: int) -> list[int]:
    """Live renderer processes below `browser_pid` (through Chromium's zygotes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, stack = [], [browser_pid]
    while stack:
        for child in children.get(stack.pop(), []):
            stack.append(child)
            try:
                if b"--type=renderer" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.append(child)
            except OSError:
                continue
    return found


def rss_mb(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE_BYTES / 2**20
    except (OSError, IndexError, ValueError):
        return 0.0


def kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue


class MemoryWatch:
    """A thread that, while a visit is on, kills any renderer of the browser above `limit_mb` resident memory.

    `kills` records (monotonic time, pid, MB) of each kill, so a crash can be explained as a memory stop.
    """

    def __init__(self, limit_mb: float) -> None:
        self.limit_mb = limit_mb
        self.browser_pid: int | None = None
        self.kills: list[tuple[float, int, float]] = []
        self._active = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> MemoryWatch:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="webgen-memory-watch", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._active.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def watch(self, on: bool) -> None:
        """Poll only while a visit runs (the browser is idle otherwise)."""
        if on:
            self._active.set()
        else:
            self._active.clear()

    def killed_since(self, since: float) -> float | None:
        """MB of the last renderer killed after `since` (a monotonic time), if any."""
        hits = [mb for at, _, mb in self.kills if at >= since]
        return hits[-1] if hits else None

    def kill_renderers(self) -> None:
        """End every renderer of the browser (used on a page that hangs: it closes fast once its process is gone)."""
        if self.browser_pid is not None:
            kill(renderer_pids(self.browser_pid))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._active.wait()
            if self._stop.wait(_POLL_S) or self.browser_pid is None:
                continue
            try:
                self._check(self.browser_pid)
            except Exception:  # never let the watch die; /proc races are expected
                log.debug("memory watch: check failed", exc_info=True)

    def _check(self, browser_pid: int) -> None:
        for pid in renderer_pids(browser_pid):
            mb = rss_mb(pid)
            if mb > self.limit_mb:
                kill([pid])
                self.kills = [*self.kills[-20:], (time.monotonic(), pid, mb)]
                log.info("a renderer (pid %d) used %.0f MB, over the cap of %.0f MB: stopped", pid, mb, self.limit_mb)
