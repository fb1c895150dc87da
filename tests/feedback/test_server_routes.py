"""The static SPA server, route discovery and the subprocess helper (no browser needed)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

from webgen.feedback.site import proc
from webgen.feedback.site.routes import discover_routes
from webgen.feedback.site.server import StaticServer


def _get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers["Content-Type"]


def test_static_server_spa_fallback_assets_and_traversal(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<html>app</html>")
    (dist / "assets" / "main.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("secret")
    with StaticServer(dist) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert _get(server.url + "/")[:2] == (200, b"<html>app</html>")
        assert _get(server.url + "/about/team")[:2] == (200, b"<html>app</html>")
        status, body, ctype = _get(server.url + "/assets/main.js")
        assert (status, body, ctype) == (200, b"console.log(1)", "text/javascript")
        assert _get(server.url + "/assets/missing.js")[0] == 404
        assert _get(server.url + "/../secret.txt")[0] != 200 or _get(server.url + "/../secret.txt")[1] != b"secret"
        assert _get(server.url + "/%2e%2e/secret.txt")[1] != b"secret"


def test_discover_routes_from_router_config_and_links(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "App.tsx").write_text(
        """<Routes><Route path="/" element={<Home/>} /><Route path='/menu' element={<Menu/>} />
        <Route path="/items/:id" element={<Item/>} /><Route path="*" element={<NotFound/>} />
        <Route path="settings" element={<S/>} /></Routes>"""
    )
    (src / "router.ts").write_text("export const routes = [{ path: '/about', element: null }];")
    (src / "Nav.tsx").write_text(
        '<Link to="/contact">c</Link><a href="/logo.png">x</a><NavLink to={"/menu"}>m</NavLink>'
    )
    assert discover_routes(tmp_path) == ["/", "/menu", "/settings", "/about", "/contact"]


def _alive(pid: int) -> bool:
    """Running (a killed orphan may linger as a zombie until PID 1 reaps it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_proc_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    started = time.monotonic()
    result = proc.run(["bash", "-c", f"sleep 30 & echo $! > {marker}; wait"], timeout_s=0.5)
    assert result.timed_out and result.returncode is None and time.monotonic() - started < 5
    child = int(marker.read_text())
    time.sleep(0.1)
    assert not _alive(child)


def test_proc_output_is_capped() -> None:
    result = proc.run(["bash", "-c", "yes x | head -c 5000000"], timeout_s=20, output_cap=1000)
    assert result.ok and result.truncated and len(result.output) == 1000
