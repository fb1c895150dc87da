"""A rendered step in the chat: one message with each route's status and a small JPEG thumbnail of its screenshot."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image

from webgen.graph.events import Rendered, RouteResult
from webgen.ui.render import THUMB_WIDTH, render_event, thumbnail


def _png(path: Path, size: tuple[int, int] = (1024, 768)) -> Path:
    Image.new("RGB", size, (200, 120, 40)).save(path, "PNG")
    return path


def _decoded(uri: str) -> Image.Image:
    head, data = uri.split(",", 1)
    assert head == "data:image/jpeg;base64"
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_thumbnail_is_a_small_jpeg_with_the_screenshots_proportions(tmp_path: Path) -> None:
    for width, height in ((1024, 768), (1280, 3000), (300, 200)):
        uri = thumbnail(_png(tmp_path / "home.png", (width, height)))
        assert uri is not None
        image = _decoded(uri)
        assert image.format == "JPEG"
        factor = -(-width // THUMB_WIDTH)  # shrunk by a whole factor, to at most THUMB_WIDTH wide
        assert image.size == (-(-width // factor), -(-height // factor))  # the last partial box counts
        assert image.width <= THUMB_WIDTH


def test_thumbnail_of_a_file_that_is_not_an_image_is_none(tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    assert thumbnail(broken) is None
    assert thumbnail(tmp_path / "missing.png") is None


def test_a_rendered_step_is_one_message_with_each_routes_status_and_thumbnail(tmp_path: Path) -> None:
    routes = [
        RouteResult(route="/", ok=True, screenshot=_png(tmp_path / "a.png")),
        RouteResult(route="/menu", ok=False, error="blank page", screenshot=tmp_path / "gone.png"),
        RouteResult(route="/contact", ok=True, screenshot=None),
    ]
    event = Rendered(run_id="r" * 32, index=2, served=True, routes=routes, failed_checks=["contrast: low"])
    message, checks = render_event(event)
    assert message.metadata["title"] == "step 2: 3 route(s) rendered"
    text = str(message.content)
    assert text.count("data:image/jpeg;base64,") == 1  # only the route whose screenshot exists
    assert "Screenshot / (ok)" in text
    assert "Screenshot /menu (error: blank page)" in text
    assert "Screenshot /contact (ok)" in text
    assert "contrast: low" in str(checks.content)


def test_a_site_that_could_not_be_served_says_so() -> None:
    (message,) = render_event(Rendered(run_id="r" * 32, index=0, served=False))
    assert "could not be served" in str(message.content)
