"""`webgen render`: build, serve, screenshot and check a project (a folder or a zip) or a saved model response."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from webgen.cli.common import settings

if TYPE_CHECKING:
    from webgen.cli.render import RenderResult
    from webgen.core.types import Observation

console = Console()
err_console = Console(stderr=True)
log = logging.getLogger(__name__)

#: how many paths, problems and diagnostics the human output lists before "... and N more"
LIST_LIMIT = 20
TYPECHECK_LIMIT = 10


def render(
    path: Annotated[
        Path, typer.Argument(help="a Vite + React project (a folder or a .zip), or a file holding a model response")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="output folder (default: webgen-out/<name of PATH>)")
    ] = None,
    typecheck: Annotated[bool, typer.Option(help="also run tsc --noEmit; type errors fail the render")] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="print the observation, parse and apply report as JSON")
    ] = False,
) -> None:
    """Build, serve, screenshot and check a project folder or zip (or a saved model response); save the observation.

    OUT gets site/, pages/*.png, observation.json and render.json (the report that --json prints).

    Exit codes: 0 ok; 1 an error check failed or the harness could not run; 2 bad input.
    """
    from webgen.cli.render import EXIT_BAD_INPUT, EXIT_FAILED, InputError, load_source
    from webgen.cli.render import render as do_render

    path = path.expanduser().resolve()
    out = (out.expanduser() if out is not None else Path("webgen-out") / path.stem).resolve()
    try:
        source = load_source(path, out)
        _check_out(out)
    except InputError as exc:
        _fail(exc.message, exc.fix, EXIT_BAD_INPUT, json_out)
    cfg = settings().updated(site={"typecheck": typecheck})
    try:
        result = _run(cfg, source, out, do_render)
    except InputError as exc:  # a zip whose data is not what its directory says
        _fail(exc.message, exc.fix, EXIT_BAD_INPUT, json_out)
    except KeyboardInterrupt:
        _fail("interrupted", "", 130, json_out)
    except Exception as exc:  # the harness (Node, Chromium, the scaffold, the disk) failed, not the site
        log.debug("webgen render failed", exc_info=True)
        message = (str(exc).strip().splitlines() or [""])[0] or type(exc).__name__
        hint = "run `webgen doctor`" + ("" if log.isEnabledFor(logging.DEBUG) else "; add -v for the traceback")
        _fail(f"{type(exc).__name__}: {message}", hint, EXIT_FAILED, json_out)
    if json_out:
        typer.echo(json.dumps(result.report(), indent=2))
    else:
        _print_result(result)
    raise typer.Exit(result.exit_code)


def _run(cfg, source, out: Path, do_render) -> RenderResult:
    from webgen.feedback.site.environment import SiteEnvironment

    with err_console.status("starting the build worker and Chromium...") as status, SiteEnvironment(cfg) as env:
        status.update("building and rendering...")
        return do_render(source, env, out)


def _check_out(out: Path) -> None:
    """`out` must be a folder webgen may write; its `site/` is replaced only if webgen wrote it."""
    from webgen.cli.render import REPORT_NAME, InputError

    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file", "choose a folder")
    site = out / "site"
    if site.exists() and not ((out / "observation.json").is_file() or (out / REPORT_NAME).is_file()):
        raise InputError(f"--out {out} has a site/ folder that webgen did not write", "choose a new or empty folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out} cannot be created: {exc.strerror or exc}", "choose a writable folder") from exc


def _fail(message: str, fix: str, code: int, json_out: bool) -> NoReturn:
    line = f"error: {message}" + (f"; {fix}" if fix else "")
    err_console.print(escape(line), style="red", highlight=False, soft_wrap=True)
    if json_out:
        typer.echo(json.dumps({"error": message, "fix": fix, "exit_code": code}))
    raise typer.Exit(code)


def _say(text: str, style: str | None = None) -> None:
    console.print(escape(text), style=style, highlight=False, soft_wrap=True)


def _listing(title: str, items: list[str], style: str | None = None) -> None:
    """`title (N):` then at most LIST_LIMIT items, one a line, then "... and K more"."""
    from webgen.cli.render import summarise

    if items:
        _say(f"{title} ({len(items)}):", style)
        for item in summarise(items, LIST_LIMIT):
            _say(f"  {item}", style)


def _print_result(result: RenderResult) -> None:
    parsed, apply = result.parsed, result.apply
    if parsed is not None:
        markers = [name for name in ("finish", "screenshot_validated") if getattr(parsed, name)]
        _say(
            f"response: {parsed.dialect} dialect, {len(parsed.files)} file action(s)"
            + (f", markers: {', '.join(markers)}" if markers else "")
        )
        _listing("parser problems", parsed.problems, "yellow")
        _listing("truncated (the response ended inside these files; not written)", parsed.truncated, "yellow")
        commands = [f"{c.kind}: {c.command}" for c in parsed.commands]
        _listing("ignored commands (not run; packages come from imports)", commands, "yellow")
    project = result.project
    if project is not None:
        from webgen.feedback.site.project_sources import human_size

        top = f" (from its folder {project.unwrapped})" if project.unwrapped else ""
        _say(f"project: {project.name}, {len(project.files)} file(s), {human_size(project.total_bytes)}{top}")
        _listing("skipped", project.skipped)
    elif apply is not None:
        _listing("written", apply.written)
        if apply.unchanged:
            _say(f"unchanged: {len(apply.unchanged)} file(s) already as in the scaffold")
        _listing("rejected", [f"{r.path}: {r.reason}" for r in apply.rejected], "yellow")
    _print_observation(result.observation)
    _say(f"site: {result.site}\nobservation: {result.observation_path}\nreport: {result.report_path}")
    failed = result.failed
    if failed:
        _say(f"result: FAILED ({', '.join(failed)})", "red")
    else:
        _say("result: ok", "green")


def _print_observation(obs: Observation) -> None:
    from webgen.cli.render import summarise as _summarise

    state = "ok" if obs.build.ok else "failed"
    _say(f"build {state} in {obs.build.seconds:.2f}s", "green" if obs.build.ok else "red")
    diagnostics = [d.render() for d in obs.build.diagnostics]
    for line in _summarise(diagnostics, LIST_LIMIT):
        _say(f"  {line}", "red")
    for note in obs.build.notes:
        _say(f"  note: {note}")
    if obs.pages:
        table = Table("route", "ok", "text", "interactive", "errors", "screenshot")
        for page in obs.pages:
            errors = len(page.page_errors) + len(page.console_errors) + len(page.failed_requests)
            table.add_row(
                escape(page.route),
                "yes" if page.ok and not page.error else "no",
                str(page.text_length),
                str(page.interactive_elements),
                str(errors),
                escape(str(page.screenshot_path or "")),
            )
        console.print(table)
    for check in obs.checks:
        colour = "green" if check.passed else ("red" if check.severity == "error" else "yellow")
        _say(f"{check.name}: {'pass' if check.passed else check.severity} {check.detail}".rstrip(), colour)
    if obs.typecheck is not None:
        if obs.typecheck:
            _say(f"typecheck: error {len(obs.typecheck)} type error(s)", "red")
            for line in _summarise([d.render() for d in obs.typecheck], TYPECHECK_LIMIT):
                _say(f"  {line}", "red")
        else:
            _say("typecheck: pass", "green")
    _say("timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in obs.timings.items()))
