"""The site environment: model files in, Observation out (resolve deps, build, serve, render, check).

A step that changed nothing is not redone: when a site's source files are byte for byte those of its last good
build (and `dist/` is untouched), the build is reused; when the built `dist/` is byte for byte the one last
rendered, its page visits (errors, screenshots and all) are reused. Both say so in the build's notes. Vite puts
every route in one entry chunk (or names each lazy chunk by hash in it), so any change that reaches a route's
output changes what every route loads: reuse is all or nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from webgen.core.settings import Settings
from webgen.core.types import BuildResult, Diagnostic, Observation, PageVisit
from webgen.feedback.site import npm, proc
from webgen.feedback.site.builder import BuildWorker
from webgen.feedback.site.checks import is_blank, run_checks
from webgen.feedback.site.fingerprint import output_digest, source_digest
from webgen.feedback.site.renderer import Renderer
from webgen.feedback.site.routes import discover_routes, guessed_routes, router_patterns
from webgen.feedback.site.scaffold import Scaffold, ensure_installed, get_scaffold, init_site, npm_env
from webgen.feedback.site.server import StaticServer

log = logging.getLogger(__name__)
_TSC_LINE = re.compile(r"^(?P<file>[^\s(]+)\((?P<line>\d+),(?P<col>\d+)\): error (?P<msg>.+)$")
REUSED_BUILD = "no file changed since the last build: its result is reused"
REUSED_PAGES = "the built site is the same as at the last step: its page visits and screenshots are reused"
_MEMO_SITES = 8


@dataclass
class _Memo:
    """What the environment last did with one site folder (see the module doc)."""

    sources: str | None = None  # the source digest of the last good build
    build: BuildResult | None = None  # that build, as the builder returned it
    output: str | None = None  # the dist/ digest right after it
    rendered: str | None = None  # the dist/ digest the pages below were visited on
    declared: list[str] = field(default_factory=list)
    url: str | None = None
    pages: list[PageVisit] = field(default_factory=list)


class SiteEnvironment:
    """One per worker: a build worker, a browser, and the scaffold cache. Not shared between threads."""

    def __init__(self, settings: Settings, renderer: Renderer | None = None, *, reuse: bool = True) -> None:
        self.settings = settings
        self.scaffold: Scaffold = get_scaffold(settings.scaffold, settings.home)
        self.renderer = renderer or Renderer(settings.site, chromium_path=settings.chromium_path)
        self.reuse = reuse  # skip the build and the render of a step that changed nothing (module doc)
        self._builder: BuildWorker | None = None
        self._memos: OrderedDict[Path, _Memo] = OrderedDict()

    def _memo(self, site: Path) -> _Memo:
        key = site.resolve()
        memo = self._memos.pop(key, None) or _Memo()
        self._memos[key] = memo  # most recent last
        while len(self._memos) > _MEMO_SITES:
            self._memos.popitem(last=False)
        return memo

    def start(self) -> SiteEnvironment:
        ensure_installed(self.scaffold, npm=self.settings.npm_path)
        allow = [self.scaffold.cache_dir, self.settings.home / "deps"]
        allow[1].mkdir(parents=True, exist_ok=True)
        self._builder = BuildWorker(self.scaffold.cache_dir, node=self.settings.node_path, allow=allow)
        self.renderer.start()
        return self

    def close(self) -> None:
        if self._builder is not None:
            self._builder.close()
            self._builder = None
        self.renderer.close()

    def __enter__(self) -> SiteEnvironment:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def new_site(self, dest: Path) -> Path:
        """A fresh site folder from the scaffold template."""
        return init_site(self.scaffold, dest)

    # -- stages ------------------------------------------------------------------------------
    def build(self, site: Path) -> BuildResult:
        """Resolve dependencies and bundle the site into `site/dist`."""
        assert self._builder is not None, "SiteEnvironment.start() first"
        started = time.monotonic()
        resolved = npm.resolve(
            site,
            self.scaffold,
            self.settings.home,
            npm=self.settings.npm_path,
            timeout_s=self.settings.site.deps_timeout_s,
            max_mb=self.settings.site.deps_max_mb,
        )
        notes = list(resolved.notes)
        if resolved.failed:
            return BuildResult(
                ok=False, seconds=time.monotonic() - started, diagnostics=resolved.diagnostics, notes=notes
            )
        memo = self._memo(site)
        sources = source_digest(site) if self.reuse else None
        if sources and memo.build and memo.sources == sources and output_digest(site) == memo.output:
            result, notes = memo.build, [*notes, REUSED_BUILD]
        else:
            result = self._builder.build(site, site / "dist", timeout_s=self.settings.site.build_timeout_s)
            ok = result.ok and sources is not None
            memo.sources, memo.build = (sources, result) if ok else (None, None)
            memo.output = output_digest(site) if ok else None
        return result.model_copy(
            update={
                "seconds": time.monotonic() - started,
                "diagnostics": resolved.diagnostics + result.diagnostics,
                "notes": notes + [n for n in result.notes if n not in notes],
            }
        )

    def typecheck(self, site: Path) -> list[Diagnostic]:
        """`tsc --noEmit` over `src/` with the scaffold's compiler options, whatever the site's own tsconfig says
        (written to `.webgen/`; the site's files are left as they are): a separate signal."""
        scaffold_config = json.loads((self.scaffold.source / "tsconfig.json").read_text())
        options = {**scaffold_config["compilerOptions"], "baseUrl": "..", "tsBuildInfoFile": "./tsconfig.tsbuildinfo"}
        config = site / ".webgen" / "tsconfig.typecheck.json"
        config.parent.mkdir(exist_ok=True)
        config.write_text(json.dumps({"compilerOptions": options, "include": ["../src"]}))
        tsc = self.scaffold.node_modules / ".bin" / "tsc"
        timeout = self.settings.site.build_timeout_s
        result = proc.run([str(tsc), "--noEmit", "-p", str(config)], cwd=site, timeout_s=timeout, env=npm_env())
        found = []
        for line in result.output.splitlines():
            if m := _TSC_LINE.match(line.strip()):
                found.append(
                    Diagnostic(
                        source="typecheck", message=m["msg"], file=m["file"], line=int(m["line"]), column=int(m["col"])
                    )
                )
        if result.timed_out:
            found.append(Diagnostic(source="typecheck", message=f"the type-check did not finish within {timeout:g}s"))
        return found[:30]

    @contextlib.contextmanager
    def serve(self, site: Path) -> Iterator[StaticServer]:
        """Serve `site/dist` on a free loopback port for the duration of the block."""
        server = StaticServer(site / "dist").start()
        try:
            yield server
        finally:
            server.stop()

    def observe(self, site: Path) -> Observation:
        """Build, serve, render every discovered route, and check: the full step observation."""
        timings: dict[str, float] = {}
        started = time.monotonic()
        build = self.build(site)
        timings["build"] = time.monotonic() - started
        typecheck = None
        if self.settings.site.typecheck:
            mark = time.monotonic()
            typecheck = self.typecheck(site)
            timings["typecheck"] = time.monotonic() - mark
        declared = discover_routes(site, limit=self.settings.site.max_routes)
        if not build.ok:
            checks = run_checks(build, False, [])
            timings["total"] = time.monotonic() - started
            return Observation(build=build, routes=declared, checks=checks, typecheck=typecheck, timings=timings)
        mark = time.monotonic()
        pages, url = self._reused_pages(site, declared)
        if pages:
            build.notes.append(REUSED_PAGES)
        else:
            with self.serve(site) as server:
                pages = self.renderer.visit(server.url, declared)
                url = server.url
            self._remember_pages(site, declared, url, pages)
        timings["render"] = time.monotonic() - mark
        pages = self._without_made_up_routes(site, pages, build)
        checks = run_checks(build, True, pages, router_patterns(site))
        timings["total"] = time.monotonic() - started
        return Observation(
            build=build,
            served=True,
            url=url,
            routes=[p.route for p in pages],
            pages=pages,
            checks=checks,
            typecheck=typecheck,
            timings=timings,
        )

    @staticmethod
    def _without_made_up_routes(site: Path, pages: list[PageVisit], build: BuildResult) -> list[PageVisit]:
        """Drop the visits of routes guessed from nested segments (`routes.guessed_routes`) that show nothing and
        raised nothing: a path the site never names is not one of its pages, and no one would visit it."""
        blank = [p.route for p in pages if is_blank(p) and not p.page_errors]
        guessed = guessed_routes(site) if blank else set()  # the sources are read again only when it may matter
        dropped = [route for route in blank if route in guessed]
        if dropped:
            build.notes.append(
                f"left out {', '.join(dropped)}: guessed from nested <Route path> segments, they show nothing at the"
                " top level and no link in the site names them"
            )
        return [p for p in pages if p.route not in dropped]

    def _reused_pages(self, site: Path, declared: list[str]) -> tuple[list[PageVisit], str | None]:
        """Copies of the last visits of this site when its dist/ and routes are the same as then, else []."""
        memo = self._memo(site)
        if not self.reuse or not memo.pages or memo.declared != declared or memo.rendered != output_digest(site):
            return [], None
        return [page.model_copy(deep=True) for page in memo.pages], memo.url

    def _remember_pages(self, site: Path, declared: list[str], url: str, pages: list[PageVisit]) -> None:
        """Keep the visits for reuse, unless one of them hung, crashed or failed to load (that may pass)."""
        memo = self._memo(site)
        memo.rendered = memo.url = None
        memo.pages = []
        if self.reuse and pages and not any(p.error or p.crashed or p.skipped for p in pages):
            memo.rendered, memo.declared, memo.url = output_digest(site), list(declared), url
            memo.pages = [page.model_copy(deep=True) for page in pages]
