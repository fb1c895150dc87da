"""The site environment: model files in, Observation out (resolve deps, build, serve, render, check)."""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

from webgen.core.settings import Settings
from webgen.core.types import BuildResult, Diagnostic, Observation
from webgen.feedback.site import npm, proc
from webgen.feedback.site.builder import BuildWorker
from webgen.feedback.site.checks import run_checks
from webgen.feedback.site.renderer import Renderer
from webgen.feedback.site.routes import discover_routes, router_patterns
from webgen.feedback.site.scaffold import PROTECTED_FILES, Scaffold, ensure_installed, get_scaffold, init_site, npm_env
from webgen.feedback.site.server import StaticServer

log = logging.getLogger(__name__)
_TSC_LINE = re.compile(r"^(?P<file>[^\s(]+)\((?P<line>\d+),(?P<col>\d+)\): error (?P<msg>.+)$")


class SiteEnvironment:
    """One per worker: a build worker, a browser, and the scaffold cache. Not shared between threads."""

    def __init__(self, settings: Settings, renderer: Renderer | None = None) -> None:
        self.settings = settings
        self.scaffold: Scaffold = get_scaffold(settings.scaffold, settings.home)
        self.renderer = renderer or Renderer(settings.site, chromium_path=settings.chromium_path)
        self._builder: BuildWorker | None = None

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
        )
        notes = resolved.notes + self._ignored_configs(site)
        if resolved.failed:
            return BuildResult(
                ok=False, seconds=time.monotonic() - started, diagnostics=resolved.diagnostics, notes=notes
            )
        result = self._builder.build(site, site / "dist", timeout_s=self.settings.site.build_timeout_s)
        return result.model_copy(
            update={
                "seconds": time.monotonic() - started,
                "diagnostics": resolved.diagnostics + result.diagnostics,
                "notes": notes,
            }
        )

    def _ignored_configs(self, site: Path) -> list[str]:
        """Config files in the site that differ from the scaffold's: they are not used, and we say so."""
        notes = []
        for path in sorted(site.iterdir()):
            if path.is_file() and any(fnmatch.fnmatch(path.name, pat) for pat in PROTECTED_FILES):
                original = self.scaffold.source / path.name
                if not original.is_file() or original.read_bytes() != path.read_bytes():
                    notes.append(f"{path.name} is owned by the scaffold; this copy is ignored by the build")
        return notes

    def typecheck(self, site: Path) -> list[Diagnostic]:
        """`tsc --noEmit` with the scaffold's tsconfig (restored if the site's copy differs): a separate signal."""
        config = site / "tsconfig.json"
        original = self.scaffold.source / "tsconfig.json"
        if not config.is_file() or config.read_bytes() != original.read_bytes():
            config.write_bytes(original.read_bytes())
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
        with self.serve(site) as server:
            pages = self.renderer.visit(server.url, declared)
            url = server.url
        timings["render"] = time.monotonic() - mark
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
