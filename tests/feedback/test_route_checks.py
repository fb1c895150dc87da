"""The empty-route check, the router patterns it relies on, and the origin rules (no browser needed)."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from webgen.core.types import BuildResult, PageVisit
from webgen.feedback.site.checks import empty_routes, run_checks
from webgen.feedback.site.page_session import outside_pattern, same_origin
from webgen.feedback.site.routes import route_matches, router_patterns
from webgen.feedback.site.server import CSP, StaticServer

LAYOUT = ["Crumb & Co.", "Home Menu About", "© 2024 Crumb & Co."]


def _page(route: str, *own: str, final: str | None = None) -> PageVisit:
    return PageVisit(
        route=route,
        url=f"http://127.0.0.1:5000{route}",
        ok=True,
        text_length=200,
        interactive_elements=3,
        content_blocks=[*LAYOUT, *own],
        final_route=final,
    )


def test_router_patterns_literal_computed_and_objects(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "App.tsx").write_text(
        '<Routes><Route path="/" element={<Home/>} /><Route element={<Menu/>} path="/menu" />\n'
        '<Route path="/items/:id" element={<Item/>} /><Route path="*" element={<NotFound/>} />\n'
        '<Route path="shop" element={<Shop/>}><Route path=":slug" element={<Product/>} /></Route></Routes>'
    )
    (src / "router.ts").write_text(
        "export const routes = [{ path: '/about', element: null }];\n"
        "export const nav = [{ path: '/contact', label: 'Contact' }];\n"  # a nav entry, not a route
    )
    patterns = router_patterns(tmp_path)
    assert patterns == ["/", "/menu", "/items/:id", "*", "shop", ":slug", "/about"]
    assert route_matches("/items/7", patterns) and route_matches("/shop/bread", patterns)
    assert not route_matches("/contact", patterns) and route_matches("/contact", patterns, catch_all=True)
    assert route_matches("/#/menu", patterns)  # a HashRouter route
    (src / "Dynamic.tsx").write_text("routes.map((r) => <Route key={r.path} path={r.path} element={r.el} />)")
    assert router_patterns(tmp_path) is None  # built at run time: unknown


def test_empty_routes_layout_only_not_found_redirects() -> None:
    pages = [
        _page("/", "Bread worth waking up for", "Our ovens start at four."),
        _page("/menu", "Sourdough loaf", "Croissant"),
        _page("/about"),  # the layout alone
        _page("/blog", "Page not found"),
        _page("/home", "Bread worth waking up for", "Our ovens start at four.", final="/"),
        _page("/cart", "Your cart is empty", "Keep shopping"),
    ]
    patterns = ["/", "/menu", "/home", "/cart", "*"]
    found = {c.severity: c for c in empty_routes(pages, patterns)}
    assert set(found) == {"error"}
    detail = found["error"].detail
    assert "/about shows nothing of its own" in detail and '<Route path="/about"' in detail
    assert "/blog shows a not-found page" in detail
    assert all(r not in detail for r in ("/menu", "/home", "/cart", "/;"))
    # With the router unknown, the same findings are warnings; with a declared but empty route, a warning.
    assert {c.severity for c in empty_routes(pages, None)} == {"warning"}
    declared = {c.severity: c for c in empty_routes(pages, [*patterns, "/about", "/blog"])}
    assert set(declared) == {"warning"} and "/about" in declared["warning"].detail
    # One route, or routes that all differ: nothing to report.
    assert empty_routes(pages[:1], patterns) == []
    assert [c.passed for c in empty_routes(pages[:2], patterns)] == [True]


def test_run_checks_reports_empty_routes_and_skipped_routes() -> None:
    build = BuildResult(ok=True, seconds=1.0)
    skipped = PageVisit(route="/contact", url="u", ok=False, skipped=True, error="not visited: skipped because ...")
    checks = run_checks(build, True, [_page("/", "Welcome home"), _page("/about"), skipped], ["/"])
    failed = {c.name for c in checks if not c.passed and c.severity == "error"}
    assert failed == {"empty_routes", "unreachable_routes"}


def test_origin_rules() -> None:
    base = "http://127.0.0.1:5000"
    for url in ("http://127.0.0.1:5000/a.js", "http://localhost:5000/x", "data:image/png;base64,AA", "blob:x"):
        assert same_origin(url, base) and not outside_pattern(base).search(url)
    for url in ("http://127.0.0.1:8000/v1/chat", "http://127.0.0.1:50000/", "https://example.com/", "ws://x/"):
        assert not same_origin(url, base) and outside_pattern(base).search(url)


def test_static_server_sends_csp_and_takes_csp_reports(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<html>app</html>")
    with StaticServer(tmp_path) as server:
        with urllib.request.urlopen(server.url + "/", timeout=5) as response:
            assert response.headers["Content-Security-Policy"] == CSP
        request = urllib.request.Request(server.url + "/__webgen/csp-report", data=b"{}", method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 204
