"""`--start dev`: a site started the way WebGen-Bench started it, its own `npm install` and `npm run dev`.

In a site folder of its own (the eval's temporary work folder) and a temporary HOME of its own:
1. `npm install --ignore-scripts` (no package's install scripts run), retried with `--force` and then
   `--legacy-peer-deps` when it fails (as the benchmark retried), each try under `install_timeout_s`. The npm
   cache is shared (the user's, `npm_config_cache`), so a package is downloaded once for every site. With
   `network="loopback"` npm reaches nothing but this machine: the registry is reached through a proxy address
   where nothing listens, so only what the shared cache holds installs (`--prefer-offline`).
2. `npm run dev` (else `npm start`) in a new session; its output is read until it prints a
   `http://localhost:PORT` (or 127.0.0.1) URL that answers, within `start_timeout_s` (the benchmark scanned its
   log for 60 s). `PORT` is set to a free port for servers that honour it.
3. :meth:`DevServer.stop` kills the whole process group (`proc.kill_group`); so does any failure to start.

A site with no package.json but an index.html (plain static HTML) is served as it is, by our static server.
The dev server is the site's own code, run unsandboxed: with `network="loopback"` only npm is kept off the
network; `--network open` lets both reach it (documented as running untrusted code with network access).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Literal

from webgen.feedback.site import proc
from webgen.feedback.site.server import StaticServer

log = logging.getLogger(__name__)

_URL = re.compile(r"https?://(?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\]):(\d+)[^\s\x1b]*")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens, a connection is refused at once
_INSTALL_TRIES = ((), ("--force",), ("--legacy-peer-deps",))


class StartError(RuntimeError):
    """The site did not start; one line says at which stage and why."""


def shared_npm_cache() -> Path:
    """The npm cache every site shares: `npm_config_cache`, else the user's `~/.npm`."""
    return Path(os.environ.get("npm_config_cache") or Path.home() / ".npm")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def site_env(home: Path, network: Literal["loopback", "open"]) -> dict[str, str]:
    """The environment of the site's npm and dev server: its own HOME, the shared cache, no colours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBGEN_", "npm_"))}
    env |= {"HOME": str(home), "npm_config_cache": str(shared_npm_cache()), "npm_config_update_notifier": "false"}
    env |= {"npm_config_fund": "false", "npm_config_audit": "false", "NO_COLOR": "1", "FORCE_COLOR": "0"}
    env |= {"BROWSER": "none", "CI": "1"}
    if network == "loopback":
        env |= {"npm_config_proxy": _DEAD_PROXY, "npm_config_https_proxy": _DEAD_PROXY}
        env |= {"npm_config_noproxy": "127.0.0.1,localhost", "npm_config_prefer_offline": "true"}
        env |= {"HTTP_PROXY": _DEAD_PROXY, "HTTPS_PROXY": _DEAD_PROXY, "NO_PROXY": "127.0.0.1,localhost"}
    return env


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a loopback URL the site printed
            return response.status < 500
    except OSError:
        return False


def _script(folder: Path) -> list[str]:
    try:
        package = json.loads((folder / "package.json").read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StartError(f"package.json cannot be read: {exc}") from exc
    scripts = package.get("scripts") if isinstance(package, dict) else None
    scripts = scripts if isinstance(scripts, dict) else {}
    if "dev" in scripts:
        return ["npm", "run", "dev"]
    if "start" in scripts:
        return ["npm", "start"]
    raise StartError("package.json has neither a dev nor a start script")


class DevServer:
    """One site's own dev server (or our static server for plain HTML); `url` once started, `stop()` after."""

    def __init__(
        self,
        folder: Path,
        home: Path,
        *,
        network: Literal["loopback", "open"] = "loopback",
        install_timeout_s: float = 300.0,
        start_timeout_s: float = 60.0,
    ) -> None:
        self.folder, self.home, self.network = folder, home, network
        self.install_timeout_s, self.start_timeout_s = install_timeout_s, start_timeout_s
        self.url = ""
        self.output: list[str] = []
        self._proc: subprocess.Popen | None = None
        self._static: StaticServer | None = None
        self._seen = threading.Event()

    def start(self) -> DevServer:
        """Install and start; StartError (with everything it started stopped) when the site does not start."""
        if not (self.folder / "package.json").is_file():
            if not (self.folder / "index.html").is_file():
                raise StartError("no package.json and no index.html at the site's top")
            self._static = StaticServer(self.folder).start()
            self.url = self._static.url + "/"
            return self
        command = _script(self.folder)
        self.home.mkdir(parents=True, exist_ok=True)
        env = site_env(self.home, self.network)
        self._install(env)
        try:
            self._launch(command, env | {"PORT": str(_free_port())})
        except BaseException:
            self.stop()
            raise
        return self

    def _install(self, env: dict[str, str]) -> None:
        last = None
        for extra in _INSTALL_TRIES:
            argv = ["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund", *extra]
            last = proc.run(argv, cwd=self.folder, timeout_s=self.install_timeout_s, env=env)
            if last.timed_out:
                raise StartError(f"npm install did not finish within {self.install_timeout_s:g}s")
            if last.ok:
                return
        tail = " ".join((last.output if last else "").split())[-300:]
        raise StartError(f"npm install failed (exit {last.returncode if last else '?'}): {tail}")

    def _launch(self, command: list[str], env: dict[str, str]) -> None:
        self._proc = subprocess.Popen(
            command,
            cwd=self.folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        found: list[str] = []
        threading.Thread(target=self._read, args=(found,), daemon=True).start()
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if found:
                url = found[0].replace("0.0.0.0", "127.0.0.1")
                if _answers(url):
                    self.url = url if url.endswith("/") else url + "/"
                    log.info("dev server of %s at %s", self.folder.name, self.url)
                    return
            elif self._proc.poll() is not None and self._seen.is_set():
                tail = " ".join("".join(self.output).split())[-300:]
                raise StartError(
                    f"`{' '.join(command)}` exited ({self._proc.returncode}) before printing a URL: {tail}"
                )
            time.sleep(0.2)
        what = f"printed {found[0]}, which does not answer" if found else "printed no http://localhost URL"
        raise StartError(f"`{' '.join(command)}` {what} within {self.start_timeout_s:g}s")

    def _read(self, found: list[str]) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        kept = 0
        for raw in iter(self._proc.stdout.readline, b""):
            line = _ANSI.sub("", raw.decode("utf-8", "replace"))
            if kept < 64_000:
                self.output.append(line)
                kept += len(line)
            if not found and (match := _URL.search(line)):
                found.append(match[0].rstrip(".,;)"))
        self._seen.set()

    def stop(self) -> None:
        """Kill the dev server's whole process group (or stop the static server)."""
        if self._proc is not None:
            proc.kill_group(self._proc)
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None
        if self._static is not None:
            self._static.stop()
            self._static = None
