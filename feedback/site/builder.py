"""`vite build` through a long-lived Node worker (node/build_worker.mjs), with a hard timeout per build.

The worker keeps Vite, Rolldown and Tailwind loaded, and takes React, ReactDOM and React Router from a bundle
made once per scaffold (node/vendor.mjs), so a warm build of the 3-page example costs ~0.07 s instead of the
~1 s of starting `vite build` (the first build of a new site folder ~0.25 s, mostly Tailwind setting up).
Each build has a timeout; a build that runs past it gets its worker's whole process group killed, and the next
build starts a fresh worker. A notice from the worker about itself (no shared React bundle) is logged.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import selectors
import subprocess
import tempfile
import time
from importlib import resources
from pathlib import Path

from webgen.core.types import BuildResult, Diagnostic
from webgen.feedback.site.proc import kill_group
from webgen.feedback.site.scaffold import npm_env

log = logging.getLogger(__name__)

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_LOCATION = re.compile(r"\[\s*([^\s\]]+?):(\d+):(\d+)\s*\]|(?:^|\s)((?:\./)?src/[^\s:()]+):(\d+):(\d+)")
MAX_REPLY_BYTES = 2_000_000
RESTART_EVERY = 200


# a path into a node_modules folder (the harness's caches), as the bundler quotes it: named by its package instead
_PACKAGE_PATH = re.compile(r"""(["'])[^"'\s]*?node_modules/((?:@[^/"'\s]+/)?[^/"'\s]+)[^"'\s]*\1""")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def _relative(file: str | None, root: Path) -> str | None:
    if not file:
        return None
    path = Path(file)
    if path.is_absolute():
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return file
    return path.as_posix().removeprefix("./")


def to_diagnostic(error: dict, root: Path) -> Diagnostic:
    """Map one bundler error to a Diagnostic with file:line where the bundler gives it."""
    message = _PACKAGE_PATH.sub(r"\1\2\1", strip_ansi(str(error.get("message") or "build failed")).strip())
    file, line, column = error.get("file"), error.get("line"), error.get("column")
    if not file or not line:
        match = _LOCATION.search(message)
        if match:
            groups = [g for g in match.groups() if g is not None]
            file, line, column = groups[0], int(groups[1]), int(groups[2])
    first_line = message.splitlines()[0] if message else "build failed"
    first_line = re.sub(r"^\[[\w:-]+\]\s*", "", first_line)
    if column is not None and error.get("file"):
        column = int(column) + 1  # Rolldown reports 0-based columns on structured locations
    return Diagnostic(source="build", message=first_line[:1000], file=_relative(file, root), line=line, column=column)


class BuildWorker:
    """One Node process running build_worker.mjs for one scaffold; not thread-safe (one per worker)."""

    def __init__(self, scaffold_dir: Path, *, node: str = "node", allow: list[Path] | None = None) -> None:
        self.scaffold_dir = scaffold_dir
        self.node = node
        self.allow = [str(p) for p in (allow or [])]
        self._proc: subprocess.Popen | None = None
        self._reply_fd: int | None = None
        self._buffer = b""
        self._ids = itertools.count(1)
        self._builds = 0
        self._private: tempfile.TemporaryDirectory | None = None  # the worker's own files (its Tailwind configs)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _start(self) -> None:
        script = Path(str(resources.files("webgen.feedback.site") / "node" / "build_worker.mjs"))
        read_fd, write_fd = os.pipe()
        env = npm_env()
        env["NODE_ENV"] = "production"
        env["WEBGEN_REPLY_FD"] = str(write_fd)
        self._private = tempfile.TemporaryDirectory(prefix="webgen-build-")
        try:
            self._proc = subprocess.Popen(
                [self.node, str(script), str(self.scaffold_dir), self._private.name],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(write_fd,),
                env=env,
                start_new_session=True,
            )
        finally:
            os.close(write_fd)
        self._reply_fd = read_fd
        self._buffer = b""
        self._builds = 0

    def close(self) -> None:
        if self._proc is not None:
            kill_group(self._proc)
            self._proc = None
        if self._reply_fd is not None:
            os.close(self._reply_fd)
            self._reply_fd = None
        if self._private is not None:
            self._private.cleanup()
            self._private = None

    def _read_reply(self, deadline: float) -> dict | None:
        assert self._reply_fd is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._reply_fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(timeout=remaining):
                    return None
                chunk = os.read(self._reply_fd, 65536)
                if not chunk:
                    raise EOFError("build worker exited")
                self._buffer += chunk
                if len(self._buffer) > MAX_REPLY_BYTES:
                    raise EOFError("build worker reply too large")
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def build(self, root: Path, out_dir: Path, *, timeout_s: float) -> BuildResult:
        """Build `root` into `out_dir`; never takes much longer than `timeout_s`."""
        started = time.monotonic()
        if self._proc is None or self._proc.poll() is not None or self._builds >= RESTART_EVERY:
            self.close()
            self._start()
        assert self._proc is not None and self._proc.stdin is not None
        request = {"id": next(self._ids), "root": str(root), "outDir": str(out_dir), "allow": self.allow}
        deadline = started + timeout_s
        try:
            self._proc.stdin.write((json.dumps(request) + "\n").encode())
            self._proc.stdin.flush()
            reply = self._read_reply(deadline)
        except (BrokenPipeError, EOFError, ValueError) as exc:
            log.warning("build worker failed: %s", exc)
            self.close()
            return BuildResult(
                ok=False,
                seconds=time.monotonic() - started,
                diagnostics=[Diagnostic(source="build", message=f"the build process crashed ({exc})")],
            )
        if reply is None:
            self.close()
            return BuildResult(
                ok=False,
                seconds=time.monotonic() - started,
                timed_out=True,
                diagnostics=[Diagnostic(source="build", message=f"the build did not finish within {timeout_s:g}s")],
            )
        self._builds += 1
        if reply.get("notice"):  # about the worker, not the site: for the operator's log
            log.warning("build worker: %s", str(reply["notice"])[:600])
        return BuildResult(
            ok=bool(reply.get("ok")),
            seconds=time.monotonic() - started,
            diagnostics=[to_diagnostic(e, root) for e in reply.get("errors", [])][:20],
            warnings=[strip_ansi(w)[:500] for w in reply.get("warnings", [])][:20],
            notes=[str(n)[:500] for n in reply.get("notes", [])][:20],
        )

    def __enter__(self) -> BuildWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
