"""Values shared by every layer: build results, page visits, checks and the step Observation."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DiagnosticSource = Literal["workspace", "deps", "build", "typecheck", "server", "console", "page", "request", "check"]


class Diagnostic(BaseModel):
    """One problem, located in a file when the tool that found it says where."""

    model_config = ConfigDict(frozen=True)

    source: DiagnosticSource
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None

    def render(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + (f":{self.column}" if self.column else "")
            where += ": "
        return f"[{self.source}] {where}{self.message}"


class BuildResult(BaseModel):
    """Outcome of `vite build` for one site."""

    ok: bool
    seconds: float
    diagnostics: list[Diagnostic] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    timed_out: bool = False
    notes: list[str] = Field(default_factory=list, description="harness notes, e.g. ignored config files")


class PageVisit(BaseModel):
    """What the renderer saw on one route."""

    route: str
    url: str
    ok: bool = Field(description="the page loaded (a response came back and the app did not crash on load)")
    status: int | None = None
    console_errors: list[str] = Field(default_factory=list)
    page_errors: list[str] = Field(default_factory=list)
    failed_requests: list[str] = Field(
        default_factory=list, description="local scripts, stylesheets or documents that failed to load"
    )
    minor_failed_requests: list[str] = Field(
        default_factory=list, description="other local requests that failed (a favicon, a font, a fetch)"
    )
    blocked_requests: list[str] = Field(default_factory=list)
    text_length: int = 0
    interactive_elements: int = 0
    images: int = 0
    media_elements: int = Field(default=0, description="img, svg, canvas and video elements")
    broken_images: int = 0
    broken_image_urls: list[str] = Field(default_factory=list)
    links: list[str] = Field(default_factory=list, description="same-origin routes linked from the page")
    title: str = ""
    page_height: int = 0
    load_seconds: float = 0.0
    error: str | None = None
    skipped: bool = Field(default=False, description="not visited: an earlier route hung or crashed (see `error`)")
    crashed: bool = Field(default=False, description="the page's renderer crashed (e.g. it ran out of memory)")
    final_route: str | None = Field(default=None, description="the route the page ended on, when it redirected")
    content_blocks: list[str] = Field(
        default_factory=list, exclude=True, repr=False, description="visible text lines and media, for the checks"
    )
    screenshot: bytes | None = Field(default=None, exclude=True, repr=False)
    full_screenshot: bytes | None = Field(default=None, exclude=True, repr=False)
    screenshot_path: Path | None = None
    full_screenshot_path: Path | None = None


class CheckResult(BaseModel):
    """A deterministic check over a build and its page visits."""

    model_config = ConfigDict(frozen=True)

    name: Literal[
        "build",
        "served",
        "blank_page",
        "runtime_errors",
        "unreachable_routes",
        "empty_routes",
        "broken_assets",
        "interactive",
    ]
    passed: bool
    severity: Literal["error", "warning"] = "error"
    detail: str = ""


class Observation(BaseModel):
    """Everything the harness observed of one site state: the loop's feedback and the rewards' input."""

    build: BuildResult
    served: bool = False
    url: str | None = None
    routes: list[str] = Field(default_factory=list)
    pages: list[PageVisit] = Field(default_factory=list)
    checks: list[CheckResult] = Field(default_factory=list)
    typecheck: list[Diagnostic] | None = Field(default=None, description="tsc diagnostics, when enabled")
    timings: dict[str, float] = Field(default_factory=dict)

    @property
    def has_error(self) -> bool:
        return any(not c.passed and c.severity == "error" for c in self.checks)

    @property
    def rendered(self) -> bool:
        return self.build.ok and self.served and any(p.ok for p in self.pages)

    def summary(self) -> str:
        """A short plain-text account, used in CLI output and model feedback."""
        lines = [f"build: {'ok' if self.build.ok else 'FAILED'} ({self.build.seconds:.2f}s)"]
        lines += [f"  {d.render()}" for d in self.build.diagnostics[:10]]
        lines += [f"  note: {n}" for n in self.build.notes]
        if self.build.ok:
            lines.append(f"served: {'yes' if self.served else 'NO'}" + (f" at {self.url}" if self.url else ""))
        for page in self.pages:
            state = "ok" if page.ok and not page.page_errors and not page.console_errors else "problems"
            lines.append(
                f"page {page.route}: {state}; text {page.text_length} chars, "
                f"{page.interactive_elements} interactive, {page.broken_images}/{page.images} broken images"
            )
        for check in self.checks:
            if not check.passed:
                lines.append(f"check {check.name} failed ({check.severity}): {check.detail}")
        return "\n".join(lines)
