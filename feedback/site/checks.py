"""Deterministic checks over a build and its page visits: no model needed, same for loop and rewards."""

from __future__ import annotations

import re

from webgen.core.types import BuildResult, CheckResult, PageVisit
from webgen.feedback.site.page_session import same_origin
from webgen.feedback.site.routes import route_matches

MIN_TEXT = 20
MIN_OWN_TEXT = 15  # characters of text a route must show beyond what every route shows
_NOT_FOUND = re.compile(r"\b404\b|\bnot found\b|page (?:does not|doesn't|doesn’t) exist|\bno such page\b", re.I)


def is_blank(page: PageVisit) -> bool:
    return page.ok and page.text_length < MIN_TEXT and page.media_elements == 0 and page.interactive_elements == 0


def run_checks(
    build: BuildResult, served: bool, pages: list[PageVisit], router_patterns: list[str] | None = None
) -> list[CheckResult]:
    """One result per check; failed `error` checks make the step an error step.

    `router_patterns` (from `routes.router_patterns`) are the paths the site's router declares; None: unknown.
    """
    checks = [CheckResult(name="build", passed=build.ok, detail="" if build.ok else "the build failed")]
    if not build.ok:
        return checks
    checks.append(CheckResult(name="served", passed=served, detail="" if served else "the site could not be served"))
    if not served:
        return checks

    blank = [p.route for p in pages if is_blank(p)]
    checks.append(
        CheckResult(name="blank_page", passed=not blank, detail=f"blank: {', '.join(blank)}" if blank else "")
    )

    crashed = [f"{p.route}: {p.page_errors[0]}" for p in pages if p.page_errors]
    logged = [f"{p.route}: {p.console_errors[0]}" for p in pages if p.console_errors]
    checks.append(CheckResult(name="runtime_errors", passed=not crashed, detail="; ".join(crashed)[:1500]))
    if logged:
        checks.append(
            CheckResult(
                name="runtime_errors",
                passed=False,
                severity="warning",
                detail="console errors: " + "; ".join(logged)[:1500],
            )
        )

    # A route is unreachable when it fails to load, or (other than "/", which blank_page covers) renders nothing.
    unreachable = [p.route for p in pages if not p.ok or p.error or (p.route != "/" and is_blank(p))]
    visited = {p.route: p for p in pages}
    checks.append(
        CheckResult(
            name="unreachable_routes",
            passed=not unreachable,
            detail="; ".join(f"{r}: {visited[r].error or 'did not render'}" for r in unreachable)[:1500],
        )
    )

    checks += empty_routes(pages, router_patterns)

    local = [u for p in pages for u in p.failed_requests] + [
        u for p in pages for u in p.broken_image_urls if same_origin(u, p.url)
    ]
    checks.append(CheckResult(name="broken_assets", passed=not local, detail="; ".join(local)[:1500]))
    minor = sorted({u for p in pages for u in p.minor_failed_requests})
    if minor:
        checks.append(
            CheckResult(
                name="broken_assets",
                passed=False,
                severity="warning",
                detail="local files that failed but the page does not need to work (an icon, a font, a fetch): "
                + "; ".join(minor)[:1400],
            )
        )
    external = sorted({u for p in pages for u in p.blocked_requests})
    if external:
        checks.append(
            CheckResult(
                name="broken_assets",
                passed=False,
                severity="warning",
                detail="a page may reach only its own site: other hosts, other ports and WebSockets are blocked "
                "here (bundle assets or use inline SVG instead): " + ", ".join(external[:5]),
            )
        )
    if pages and not any(p.interactive_elements for p in pages):
        checks.append(
            CheckResult(name="interactive", passed=False, severity="warning", detail="no links, buttons or inputs")
        )
    return checks


def empty_routes(pages: list[PageVisit], router_patterns: list[str] | None) -> list[CheckResult]:
    """Routes other than "/" that show nothing of their own: only the layout every route shares, or a not-found page.

    A route's own content is what it shows beyond the text and media common to every visited route. When the
    router declares no path matching the route (a link to a page that was never made), it is an error; when
    it does (an element that renders nothing, a page still loading), a warning.
    """
    shown = [p for p in pages if p.ok and not p.error and p.content_blocks]
    if len(shown) < 2:
        return []
    common = set(shown[0].content_blocks).intersection(*(p.content_blocks for p in shown[1:]))
    problems: list[tuple[str, bool]] = []  # (text, clear)
    for page in shown:
        if page.route == "/":
            continue
        own = [b for b in page.content_blocks if b not in common]
        own_text = " ".join(b for b in own if not b.startswith("<"))
        own_media = [b for b in own if b.startswith("<")]
        declared = router_patterns is not None and route_matches(page.route, router_patterns)
        if page.final_route and declared:
            continue  # a deliberate redirect to another page
        if len(own_text) < 200 and not own_media and _NOT_FOUND.search(own_text):
            what = f"shows a not-found page ({own_text[:80]!r})"
        elif len(own_text) < MIN_OWN_TEXT and not own_media:
            what = "shows nothing of its own (only what every page shows: the shared layout)"
        else:
            continue
        if page.final_route:
            what += f"; it was redirected to {page.final_route}"
        clear = router_patterns is not None and not declared
        if clear:
            fix = f'no <Route> matches it: add <Route path="{page.route}" element={{...}} /> with its content'
            fix += " (or remove the link to it)"
        else:
            fix = "give its page component visible content (check that its element renders and is not left empty)"
        problems.append((f"{page.route} {what}; {fix}", clear))
    if not problems:
        return [CheckResult(name="empty_routes", passed=True)]
    clear = [text for text, is_clear in problems if is_clear]
    unclear = [text for text, is_clear in problems if not is_clear]
    found = []
    if clear:
        found.append(CheckResult(name="empty_routes", passed=False, detail="; ".join(clear)[:1500]))
    if unclear:
        found.append(
            CheckResult(name="empty_routes", passed=False, severity="warning", detail="; ".join(unclear)[:1500])
        )
    return found
