"""Routes a site declares: read (never run) from its router configuration and links in the source."""

from __future__ import annotations

import re
from pathlib import Path

_SOURCE_SUFFIXES = {".tsx", ".ts", ".jsx", ".js"}
# <Route path="/about" ...>, { path: "/about", element: ... }, <Link to="/about">, <a href="/about">
_ROUTE_PATH = re.compile(r"""\bpath\s*[:=]\s*\{?\s*["'`](/?[A-Za-z0-9_\-./]*)["'`]""")
_LINK = re.compile(r"""\b(?:to|href)\s*=\s*\{?\s*["'`](/[A-Za-z0-9_\-./]*)["'`]""")
_MAX_FILES = 400
_MAX_BYTES = 400_000


def _clean(path: str) -> str | None:
    path = path.strip()
    if not path.startswith("/"):
        path = "/" + path  # nested route segments are relative to their parent; "/" + segment is a fair guess
    if any(ch in path for ch in ":*") or re.search(r"\.\w{1,5}$", path):
        return None
    return "/" + path.strip("/") if path.strip("/") else "/"


def discover_routes(site: Path, limit: int = 20) -> list[str]:
    """'/' first, then router paths, then linked paths, in source order, without duplicates."""
    src = site / "src"
    declared: list[str] = []
    linked: list[str] = []
    files = sorted(p for p in src.rglob("*") if p.suffix in _SOURCE_SUFFIXES and p.is_file() and not p.is_symlink())
    for path in files[:_MAX_FILES]:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")[:_MAX_BYTES]
        except OSError:
            continue
        declared += [c for m in _ROUTE_PATH.finditer(text) if (c := _clean(m.group(1)))]
        linked += [c for m in _LINK.finditer(text) if (c := _clean(m.group(1)))]
    ordered: list[str] = []
    for route in ["/", *declared, *linked]:
        if route not in ordered:
            ordered.append(route)
    return ordered[:limit]
