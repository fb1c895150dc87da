"""The preview server's token and paths, and `webgen ui`'s refusals (no browser)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from webgen.cli.app import app
from webgen.ui.preview import PreviewServer

RUN = "0123456789abcdef"


@pytest.fixture
def preview(tmp_path: Path):
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text('<html><head><script src="/assets/app.js"></script></head><body></body></html>')
    (dist / "assets" / "app.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("nope")
    server = PreviewServer(tmp_path / "previews").start()
    server.add(RUN, 2, dist)
    yield server
    server.stop()


def test_the_preview_serves_a_step_under_its_token_only(preview: PreviewServer) -> None:
    page = httpx.get(preview.url(RUN, 2, "/menu"))
    assert page.status_code == 200
    assert f'src="/{preview.token}/{RUN}/2/assets/app.js"' in page.text  # assets stay under the token
    assert "history.replaceState" in page.text
    assert page.headers["access-control-allow-origin"] == "*"
    assert httpx.get(f"{preview.origin}/{preview.token}/{RUN}/2/assets/app.js").status_code == 200
    for path in (
        "/",
        f"/{RUN}/2/",
        "/assets/app.js",
        f"/{'x' * len(preview.token)}/{RUN}/2/",
        f"/{preview.token}/{RUN}/3/",
        f"/{preview.token}/{RUN}/2/../../../secret.txt",
        f"/{preview.token}/{RUN}/2/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        f"/{preview.token}/",
    ):
        assert httpx.get(preview.origin + path).status_code == 404, path


def test_another_host_needs_auth_and_says_so() -> None:
    result = CliRunner().invoke(app, ["ui", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "--auth" in result.output


def test_a_bad_auth_value_is_refused() -> None:
    result = CliRunner().invoke(app, ["ui", "--auth", "nopassword"])
    assert result.exit_code == 2
    assert "USER:PASS" in result.output


def test_the_public_files_of_an_imported_site_are_served_under_the_token(tmp_path: Path) -> None:
    """A project's `public/` files sit at the top of its build: their root-relative URLs in its HTML, CSS and
    scripts point under the step's prefix; a route that shares a folder's name is left alone."""
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "images").mkdir()
    (dist / "images" / "hero.jpg").write_bytes(b"\xff\xd8jpeg")
    (dist / "logo.png").write_bytes(b"\x89PNG")
    (dist / "index.html").write_text('<html><head><link rel="icon" href="/logo.png"></head><body></body></html>')
    script = 'const a="/logo.png",b=`/images/hero.jpg`,c="/images",d="/logo.pngx",e="/about";'
    (dist / "assets" / "app.js").write_text(script)
    (dist / "assets" / "app.css").write_text(".hero{background:url(/images/hero.jpg)}")
    server = PreviewServer(tmp_path / "previews").start()
    try:
        server.add(RUN, 0, dist)
        base = f"{server.origin}/{server.token}/{RUN}/0/"
        prefix = f"/{server.token}/{RUN}/0/"
        assert f'href="{prefix}logo.png"' in httpx.get(base).text
        js = httpx.get(base + "assets/app.js").text
        assert js == script.replace('"/logo.png"', f'"{prefix}logo.png"').replace("`/images/", f"`{prefix}images/")
        assert f"url({prefix}images/hero.jpg)" in httpx.get(base + "assets/app.css").text
        assert httpx.get(base + "images/hero.jpg").content == b"\xff\xd8jpeg"
    finally:
        server.stop()
