"""Write an Observation and its screenshots to a folder."""

from __future__ import annotations

import re
from pathlib import Path

from webgen.core.types import Observation


def route_slug(route: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", route).strip("-")
    return slug or "home"


def save_observation(obs: Observation, out_dir: Path) -> Path:
    """Screenshots as `pages/<route>.png` (viewport) and `pages/<route>.full.png`; JSON as observation.json."""
    pages_dir = out_dir / "pages"
    pages_dir.mkdir(parents=True, exist_ok=True)
    for index, page in enumerate(obs.pages):
        stem = f"{index:02d}-{route_slug(page.route)}"
        if page.screenshot:
            page.screenshot_path = pages_dir / f"{stem}.png"
            page.screenshot_path.write_bytes(page.screenshot)
        if page.full_screenshot:
            page.full_screenshot_path = pages_dir / f"{stem}.full.png"
            page.full_screenshot_path.write_bytes(page.full_screenshot)
    path = out_dir / "observation.json"
    path.write_text(obs.model_dump_json(indent=2))
    return path
