"""Deterministic checks over a build and its page visits: no model needed, same for loop and rewards."""

from __future__ import annotations

from webgen.feedback.renderer import is_loopback
from webgen.types import BuildResult, CheckResult, PageVisit

MIN_TEXT = 20


def is_blank(page: PageVisit) -> bool:
    return page.ok and page.text_length < MIN_TEXT and page.media_elements == 0 and page.interactive_elements == 0


def run_checks(build: BuildResult, served: bool, pages: list[PageVisit]) -> list[CheckResult]:
    """One result per check; failed `error` checks make the step an error step."""
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

    local = [u for p in pages for u in p.failed_requests] + [
        u for p in pages for u in p.broken_image_urls if is_loopback(u)
    ]
    checks.append(CheckResult(name="broken_assets", passed=not local, detail="; ".join(local)[:1500]))
    external = sorted({u for p in pages for u in p.blocked_requests})
    if external:
        checks.append(
            CheckResult(
                name="broken_assets",
                passed=False,
                severity="warning",
                detail="external resources are blocked here (bundle assets or use inline SVG instead): "
                + ", ".join(external[:5]),
            )
        )
    if pages and not any(p.interactive_elements for p in pages):
        checks.append(
            CheckResult(name="interactive", passed=False, severity="warning", detail="no links, buttons or inputs")
        )
    return checks
