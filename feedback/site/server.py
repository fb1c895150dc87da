"""A static file server with SPA fallback for a built site, on a free loopback port, in a thread."""

from __future__ import annotations

import contextlib
import logging
import mimetypes
import posixpath
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

log = logging.getLogger(__name__)
HOST = "127.0.0.1"
#: WebSockets may reach only the site itself (the renderer's request guard cannot see a worker's sockets);
#: http(s) stays open here so that the guard sees, blocks and reports requests to other hosts and ports.
CSP_REPORT_PATH = "/__webgen/csp-report"
CSP = f"connect-src 'self' http: https: data: blob:; report-uri {CSP_REPORT_PATH}"
_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".wasm": "application/wasm",
}


def content_type(path: Path) -> str:
    """The Content-Type to serve a built site's file with (module scripts need text/javascript)."""
    return _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


class _Handler(BaseHTTPRequestHandler):
    server: _SiteServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm the body waits for the client's delayed ACK
    # (~40 ms on loopback) on a kept-alive connection; every module of a page paid for it.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _resolve(self) -> Path | None:
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        clean = posixpath.normpath("/" + path).lstrip("/")
        root = self.server.root
        candidate = (root / clean).resolve() if clean not in ("", ".") else root / "index.html"
        if not candidate.is_relative_to(root):
            return None
        if candidate.is_dir():
            candidate = candidate / "index.html"
        if candidate.is_file():
            return candidate
        # SPA fallback: unknown paths without a file extension are client-side routes.
        if not posixpath.splitext(clean)[1]:
            return root / "index.html"
        return None

    def _send(self, head_only: bool) -> None:
        target = self._resolve()
        if target is None or not target.is_file():
            body = b"not found"
            self.send_response(HTTPStatus.NOT_FOUND)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head_only:
                self.wfile.write(body)
            return
        data = target.read_bytes()
        ctype = content_type(target)
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", CSP)
        self.end_headers()
        if not head_only:
            self.wfile.write(data)

    def do_GET(self) -> None:  # http.server API
        self._send(head_only=False)

    def do_HEAD(self) -> None:
        self._send(head_only=True)

    def do_POST(self) -> None:  # only the CSP reports of a browser that does not collect them
        length = min(int(self.headers.get("Content-Length") or 0), 65536)
        self.rfile.read(length)
        known = urllib.parse.urlsplit(self.path).path == CSP_REPORT_PATH
        self.send_response(HTTPStatus.NO_CONTENT if known else HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _SiteServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.dropped = 0
        super().__init__((HOST, 0), _Handler)

    def handle_error(self, request: object, client_address: tuple[str, int]) -> None:
        """A client that went away mid-response (a page closed with requests in flight): no traceback on stderr."""
        self.dropped += 1
        log.debug("request from %s failed", client_address, exc_info=True)


class StaticServer:
    """Serves one folder (a site's `dist/`); `url` is valid between `start()` and `stop()`."""

    def __init__(self, root: Path) -> None:
        self._server = _SiteServer(root)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="webgen-static", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}"

    def start(self) -> StaticServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> StaticServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
