"""Routes a site declares: read (never run) from its router configuration and links in the source.

`discover_routes` lists what to visit (router paths and linked paths); `router_patterns` lists only what the
router declares (with `:params` and `*`), so a check can tell a linked path that no `<Route>` matches.
"""

from __future__ import annotations

import re
from pathlib import Path

_SOURCE_SUFFIXES = {".tsx", ".ts", ".jsx", ".js"}
# <Route path="/about" ...>, { path: "/about", element: ... }, <Link to="/about">, <a href="/about">
_ROUTE_PATH = re.compile(r"""\bpath\s*[:=]\s*\{?\s*["'`](/?[A-Za-z0-9_\-./]*)["'`]""")
_LINK = re.compile(r"""\b(?:to|href)\s*=\s*\{?\s*["'`](/[A-Za-z0-9_\-./]*)["'`]""")
_MAX_FILES = 400
_MAX_BYTES = 400_000
# <Route ... path="..."> (attributes in any order), and route objects: { path: "...", element / Component / ... }
_JSX_ROUTE = re.compile(
    r"""<Route\b(?:(?!<Route\b)[^>]|=>|>(?=[^<]*?\bpath\s*=)){0,400}?\bpath\s*=\s*(\{?)\s*(["'`]?)"""
)
_OBJECT_PATH = re.compile(r"""\bpath\s*:\s*["'`]([^"'`\n]*)["'`]""")
_ROUTE_KEYS = re.compile(r"""\b(?:element|Component|component|lazy|loader|children|page)\s*:""")
_STRING_END = re.compile(r"""[^"'`\n]*""")


def _clean(path: str) -> str | None:
    path = path.strip()
    if not path.startswith("/"):
        path = "/" + path  # nested route segments are relative to their parent; "/" + segment is a fair guess
    if any(ch in path for ch in ":*") or re.search(r"\.\w{1,5}$", path):
        return None
    return "/" + path.strip("/") if path.strip("/") else "/"


def discover_routes(site: Path, limit: int = 20) -> list[str]:
    """'/' first, then router paths, then linked paths, in source order, without duplicates."""
    declared: list[str] = []
    linked: list[str] = []
    for text in _sources(site):
        declared += [c for m in _ROUTE_PATH.finditer(text) if (c := _clean(m.group(1)))]
        linked += [c for m in _LINK.finditer(text) if (c := _clean(m.group(1)))]
    ordered: list[str] = []
    for route in ["/", *declared, *linked]:
        if route not in ordered:
            ordered.append(route)
    return ordered[:limit]


def guessed_routes(site: Path) -> set[str]:
    """Routes `discover_routes` made up from nested segments (`<Route path="orders">` under `/admin/*` becomes
    "/orders"), that no absolute path or link in the source names: they may not be routes of the site at all."""
    relative: set[str] = set()
    named: set[str] = set()
    for text in _sources(site):
        for m in _ROUTE_PATH.finditer(text):
            if (route := _clean(m.group(1))) is not None:
                (named if m.group(1).startswith("/") else relative).add(route)
        named.update(c for m in _LINK.finditer(text) if (c := _clean(m.group(1))))
    return relative - named - {"/"}


def _sources(site: Path) -> list[str]:
    files = sorted(
        p for p in (site / "src").rglob("*") if p.suffix in _SOURCE_SUFFIXES and p.is_file() and not p.is_symlink()
    )
    texts = []
    for path in files[:_MAX_FILES]:
        try:
            texts.append(path.read_text(encoding="utf-8", errors="replace")[:_MAX_BYTES])
        except OSError:
            continue
    return texts


def router_patterns(site: Path) -> list[str] | None:
    """Paths the router declares, as written (relative ones without their leading "/"); None if any is computed.

    An empty list means the site declares no routes at all (no router, or one with no paths).
    """
    patterns: list[str] = []
    for text in _sources(site):
        for m in _JSX_ROUTE.finditer(text):
            if not m.group(2):  # path={someVariable}: the routes are built at run time
                return None
            value = _STRING_END.match(text, m.end()).group(0)
            patterns.append(value.strip())
        for m in _OBJECT_PATH.finditer(text):
            start = text.rfind("{", max(0, m.start() - 300), m.start())
            end = text.find("}", m.end(), m.end() + 300)
            if _ROUTE_KEYS.search(text[start + 1 if start >= 0 else m.start() : end if end >= 0 else m.end() + 300]):
                patterns.append(m.group(1).strip())
    return list(dict.fromkeys(patterns))


def route_matches(route: str, patterns: list[str], *, catch_all: bool = False) -> bool:
    """Whether a visited route is matched by a declared pattern (react-router's rules, roughly).

    Relative patterns (nested routes, written without "/") match the end of the route; one that starts with a
    parameter needs a parent segment. A bare "*" matches everything and counts only with `catch_all`.
    """
    path, _, frag = route.partition("#")
    if frag.startswith("/"):  # a HashRouter route: "/#/about"
        path = frag
    segments = [s for s in path.split("/") if s]
    for pattern in patterns:
        parts = [p for p in pattern.split("/") if p]
        if parts in (["*"], []) and pattern.strip() in ("*", "/*"):
            if catch_all:
                return True
            continue
        if not pattern.startswith("/"):  # nested under a parent we do not track: match the route's tail
            first = 1 if parts and parts[0].startswith((":", "*")) else 0  # ":slug" alone is not a top-level page
            if any(_segments_match(segments[i:], parts) for i in range(first, len(segments))):
                return True
        elif _segments_match(segments, parts):
            return True
    return False


def _segments_match(segments: list[str], parts: list[str]) -> bool:
    for i, part in enumerate(parts):
        if part == "*":
            return True
        if i >= len(segments):
            return part.endswith("?")  # an optional segment may be missing
        if not (part.startswith(":") or part == segments[i] or part.rstrip("?") == segments[i]):
            return False
    return len(segments) == len(parts)
