"""The preview server: one per browser session, on its own port, serving the built sites of that session's steps.

Every path starts with the session's unguessable token (``/<token>/<run_id>/<step>/<route>``); anything else is
a 404. The preview sits outside Gradio's auth, so the token is its only key; directory listings do not exist.

A built site expects to live at ``/`` (``/assets/...`` URLs, ``BrowserRouter`` routes). When it serves a
step's ``index.html``, the server points the asset URLs under the step's prefix and adds a tiny script that
rewrites the address to the route alone before the app starts, so the router sees ``/menu``, not the prefix.
Files a site keeps in ``public/`` (an imported project's ``/logo.png``, ``/images/hero.jpg``) are copied to the
top of its build; quoted root-relative URLs naming them, in its HTML, CSS and scripts, are pointed under the
prefix too (a top-level file by its exact name, a top-level folder only with a path inside it, so a route such
as ``/images`` is left alone).
The page runs in an iframe with ``sandbox="allow-scripts allow-forms"`` (an opaque origin): module scripts
are then CORS requests, so responses carry ``Access-Control-Allow-Origin: *`` (the content is public to
whoever holds the token anyway).
"""

from __future__ import annotations

import contextlib
import json
import logging
import posixpath
import re
import secrets
import shutil
import tempfile
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from webgen.feedback.site.server import content_type

log = logging.getLogger(__name__)

_STEP_DIR = re.compile(r"^[0-9a-f]{6,64}$")
_ASSET_URL = re.compile(r"""(["'(])/assets/""")


def _public_urls(root: Path) -> re.Pattern[str] | None:
    """Quoted root-relative URLs of the files and folders at the top of a built site (its `public/` files)."""
    files, folders = [], []
    for entry in root.iterdir():
        if entry.name in ("assets", "index.html") or entry.name.startswith(".") or entry.is_symlink():
            continue
        (folders if entry.is_dir() else files).append(re.escape(entry.name))
    alternatives = [f"(?:{'|'.join(files)})(?=[\"'`)?#])"] if files else []
    alternatives += [f"(?:{'|'.join(folders)})/"] if folders else []
    return re.compile(f"""(["'(`])/(?={"|".join(alternatives)})""") if alternatives else None


def _rewrite_public(text: str, root: Path, prefix: str) -> str:
    pattern = _public_urls(root)
    return pattern.sub(lambda m: f"{m.group(1)}{prefix}", text) if pattern else text


def _rewrite_html(text: str, prefix: str) -> str:
    """Point root-relative asset URLs under `prefix` and make the router see the route alone."""
    script = (
        "<script>(function(){var p=" + json.dumps(prefix.rstrip("/")) + ";"
        "if(location.pathname.indexOf(p)===0){history.replaceState(null,'',"
        "(location.pathname.slice(p.length)||'/')+location.search+location.hash);}})();</script>"
    )
    text = _ASSET_URL.sub(lambda m: f"{m.group(1)}{prefix}assets/", text)
    if "<head>" in text:
        return text.replace("<head>", "<head>" + script, 1)
    return script + text


class _Handler(BaseHTTPRequestHandler):
    server: _PreviewHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _reply(self, status: HTTPStatus, body: bytes, ctype: str, head_only: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    def _not_found(self, head_only: bool) -> None:
        self._reply(HTTPStatus.NOT_FOUND, b"not found", "text/plain", head_only)

    def _send(self, head_only: bool) -> None:
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        parts = path.lstrip("/").split("/", 3)
        if len(parts) < 3 or not secrets.compare_digest(parts[0], self.server.token):
            self._not_found(head_only)
            return
        run_id, step = parts[1], parts[2]
        if not _STEP_DIR.match(run_id) or not step.isdigit():
            self._not_found(head_only)
            return
        root = (self.server.root / run_id / step).resolve()
        if not root.is_dir() or not root.is_relative_to(self.server.root):
            self._not_found(head_only)
            return
        rest = posixpath.normpath("/" + (parts[3] if len(parts) > 3 else "")).lstrip("/")
        candidate = (root / rest).resolve() if rest not in ("", ".") else root / "index.html"
        if not candidate.is_relative_to(root):
            self._not_found(head_only)
            return
        if candidate.is_dir():
            candidate = candidate / "index.html"
        if not candidate.is_file():
            if posixpath.splitext(rest)[1]:
                self._not_found(head_only)
                return
            candidate = root / "index.html"  # SPA fallback: a client-side route
            if not candidate.is_file():
                self._not_found(head_only)
                return
        ctype = content_type(candidate)
        data = candidate.read_bytes()
        prefix = f"/{self.server.token}/{run_id}/{step}/"
        if candidate.suffix == ".html":
            data = _rewrite_public(_rewrite_html(data.decode("utf-8", "replace"), prefix), root, prefix).encode()
        elif candidate.suffix == ".css":
            text = _ASSET_URL.sub(lambda m: f"{m.group(1)}{prefix}assets/", data.decode("utf-8", "replace"))
            data = _rewrite_public(text, root, prefix).encode()
        elif candidate.suffix in (".js", ".mjs"):
            data = _rewrite_public(data.decode("utf-8", "replace"), root, prefix).encode()
        self._reply(HTTPStatus.OK, data, ctype, head_only)

    def do_GET(self) -> None:  # http.server API
        self._send(head_only=False)

    def do_HEAD(self) -> None:
        self._send(head_only=True)


class _PreviewHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, root: Path, token: str) -> None:
        self.root = root.resolve()
        self.token = token
        super().__init__((host, 0), _Handler)

    def handle_error(self, request: object, client_address: tuple[str, int]) -> None:
        log.debug("preview request from %s failed", client_address, exc_info=True)


class PreviewServer:
    """Serves `root/<run_id>/<step>/` (each a copy of a step's `dist/`) under `/<token>/`."""

    def __init__(self, root: Path, host: str = "127.0.0.1") -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.token = secrets.token_urlsafe(24)
        self._add_lock = threading.Lock()
        self._server = _PreviewHTTPServer(host, root, self.token)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="webgen-preview", daemon=True
        )

    @property
    def root(self) -> Path:
        return self._server.root

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def url(self, run_id: str, step: int, route: str = "/", host: str | None = None) -> str:
        """The preview URL; `host` is the name the browser reached the UI by (bound to all interfaces)."""
        route = "/" + route.lstrip("/")
        origin = f"http://{host}:{self.port}" if host else self.origin
        return f"{origin}/{self.token}/{run_id}/{step}{urllib.parse.quote(route)}"

    def has(self, run_id: str, step: int) -> bool:
        return (self.root / run_id / str(step) / "index.html").is_file()

    def add(self, run_id: str, step: int, dist: Path) -> None:
        """Copy a built site's `dist/` as the preview of (run, step)."""
        target = self.root / run_id / str(step)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{step}-", dir=target.parent))
        shutil.copytree(dist, staging / "site", symlinks=False)  # two events may add the same step at once
        with self._add_lock:
            if target.exists():
                shutil.rmtree(target)
            (staging / "site").rename(target)
        shutil.rmtree(staging, ignore_errors=True)

    def start(self) -> PreviewServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._server.shutdown()
        self._server.server_close()
