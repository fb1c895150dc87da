"""Run a subprocess with a timeout, an output cap and a kill of its whole process group."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel

DEFAULT_OUTPUT_CAP = 256_000


class ProcResult(BaseModel):
    """Exit status and (capped) combined output of one command."""

    argv: list[str]
    returncode: int | None
    output: str
    seconds: float
    timed_out: bool = False
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def kill_group(proc: subprocess.Popen, grace_s: float = 0.5) -> None:
    """SIGTERM then SIGKILL the process group that `proc` leads (it must have been started in a new session)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace_s)
            # The leader is gone; children may linger in the group, so always finish with SIGKILL.
        except subprocess.TimeoutExpired:
            continue
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _drain(stream, cap: int, sink: list[bytes], flags: dict[str, bool]) -> None:
    kept = 0
    while chunk := stream.read(65536):
        if kept < cap:
            sink.append(chunk[: cap - kept])
            kept += len(sink[-1])
        if len(chunk) and kept >= cap:
            flags["truncated"] = True
    stream.close()


def run(
    argv: Sequence[str],
    *,
    cwd: Path | str | None = None,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
    output_cap: int = DEFAULT_OUTPUT_CAP,
) -> ProcResult:
    """Run `argv` to completion or until `timeout_s`, whichever comes first; never leaves processes behind."""
    started = time.monotonic()
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=None if env is None else dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    chunks: list[bytes] = []
    flags = {"truncated": False}
    reader = threading.Thread(target=_drain, args=(proc.stdout, output_cap, chunks, flags), daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        # Always clear the group: a finished leader may have left children (servers, watchers) running.
        kill_group(proc)
    reader.join(timeout=2)
    return ProcResult(
        argv=list(argv),
        returncode=None if timed_out else proc.returncode,
        output=b"".join(chunks).decode("utf-8", "replace"),
        seconds=time.monotonic() - started,
        timed_out=timed_out,
        truncated=flags["truncated"],
    )
