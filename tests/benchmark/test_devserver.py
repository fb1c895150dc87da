"""`--start dev`'s dev server: a site's own npm install and dev script, real npm and node, real HTTP; a site whose
install hangs or whose server never prints a URL fails to start after its timeout, and nothing of it is left."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import descendants
from webgen.benchmark.devserver import DevServer, StartError

pytestmark = [pytest.mark.node]


def write(folder: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


def package(scripts: dict[str, str], **more: object) -> str:
    return json.dumps({"name": "site", "private": True, "scripts": scripts, **more})


def left_behind(before: set[int], folder: Path) -> list[str]:
    """Processes started since `before` that still run in `folder` (the site's npm or server)."""
    found = []
    for pid in descendants(os.getpid()) - before:
        try:
            if Path(f"/proc/{pid}/cwd").resolve() == folder.resolve():
                found.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


def test_plain_html_is_served_as_it_is(tmp_path: Path) -> None:
    site = write(tmp_path / "site", {"index.html": "<h1>Static bakery</h1>", "menu.html": "<p>Bread</p>"})
    server = DevServer(site, tmp_path / "home").start()
    try:
        with urllib.request.urlopen(server.url + "menu.html", timeout=5) as response:
            assert response.read() == b"<p>Bread</p>"
    finally:
        server.stop()


def test_the_sites_own_dev_script_starts_and_its_group_is_killed(tmp_path: Path) -> None:
    serve = (
        "const http = require('http'); const s = http.createServer((q, r) => r.end('<h1>own server</h1>'));"
        "s.listen(+process.env.PORT, '127.0.0.1', () => console.log('ready at http://localhost:' + process.env.PORT"
        " + '/ and HOME=' + process.env.HOME));"
    )
    site = write(tmp_path / "site", {"package.json": package({"dev": "node server.js"}), "server.js": serve})
    before = descendants(os.getpid())
    server = DevServer(site, tmp_path / "home", start_timeout_s=30).start()
    with urllib.request.urlopen(server.url, timeout=5) as response:
        assert response.read() == b"<h1>own server</h1>"
    assert f"HOME={tmp_path / 'home'}" in "".join(server.output)  # a HOME of its own
    assert left_behind(before, site)
    server.stop()
    time.sleep(0.3)
    assert left_behind(before, site) == []


@pytest.mark.slow
def test_a_server_that_never_prints_a_url_is_a_start_failure(tmp_path: Path) -> None:
    site = write(tmp_path / "site", {"package.json": package({"dev": 'node -e "setInterval(() => {}, 1000)"'})})
    before = descendants(os.getpid())
    started = time.monotonic()
    with pytest.raises(StartError, match=r"printed no http://localhost URL within 3s"):
        DevServer(site, tmp_path / "home", start_timeout_s=3).start()
    assert time.monotonic() - started < 30
    assert left_behind(before, site) == []


@pytest.mark.slow
def test_an_install_that_hangs_is_a_start_failure(tmp_path: Path) -> None:
    """A dependency whose tarball server (on loopback) accepts the connection and never answers."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.extend(iter(lambda: silent.accept()[0], None)), daemon=True).start()
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/slow.tgz"
    site = write(tmp_path / "site", {"package.json": package({"dev": "vite"}, dependencies={"slow": url})})
    before = descendants(os.getpid())
    try:
        with pytest.raises(StartError, match=r"npm install did not finish within 4s"):
            DevServer(site, tmp_path / "home", install_timeout_s=4).start()
    finally:
        silent.close()
    assert left_behind(before, site) == []


def test_no_dev_or_start_script_is_a_start_failure(tmp_path: Path) -> None:
    site = write(tmp_path / "site", {"package.json": package({"build": "vite build"})})
    with pytest.raises(StartError, match="neither a dev nor a start script"):
        DevServer(site, tmp_path / "home").start()
