"""`webgen build` (run the agent or single-shot mode on a request, continue an existing project with `--from`,
or resume a run) and `webgen show`.

Exit codes: 0 the run finished; 1 the run failed (its error is stored and printed); 2 bad input or setup
(one line says what and how to fix it; `--verbose` adds the traceback); 130 interrupted (resumable).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import shutil
import sys
import uuid
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from webgen.cli.common import EXIT_FAILED, EXIT_INTERRUPTED, console, fail
from webgen.cli.common import settings as load_settings
from webgen.cli.events import on_event, print_summary

logger = logging.getLogger(__name__)


class EventsFormat(StrEnum):
    rich = "rich"
    json = "json"
    none = "none"


class Mode(StrEnum):
    agent = "agent"
    single_shot = "single-shot"


def read_request(instruction: str | None, request_file: Path | None) -> str:
    if instruction is not None and request_file is not None:
        raise fail("give the request either as an argument or with --request-file, not both")
    try:
        if request_file is not None and str(request_file) != "-":
            text = request_file.read_text(encoding="utf-8", errors="replace")
        elif instruction == "-" or (request_file is not None and str(request_file) == "-"):
            text = sys.stdin.read()
        else:
            text = instruction or ""
    except OSError as exc:
        raise fail(f"cannot read the request from {request_file}: {exc.strerror or exc}") from exc
    text = text.strip()
    if not text:
        raise fail(
            'the request is empty: write what to build, e.g. webgen build "A bakery site with a menu", '
            "or use --request-file FILE (- for stdin)"
        )
    return text


def open_store(cfg):
    """The trajectory store, or a one-line error naming the database (never its password)."""
    from sqlalchemy.exc import SQLAlchemyError

    from webgen.storage.store import TrajectoryStore

    url = cfg.resolved_database_url
    shown = url.split("@")[-1] if "@" in url else url
    try:
        return TrajectoryStore(url)
    except (SQLAlchemyError, OSError) as exc:
        reason = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["unknown error"])[0]
        raise fail(
            f"cannot open the database {shown}: {reason}. Check WEBGEN_DATABASE_URL (or run `webgen doctor`)"
        ) from exc


@contextlib.contextmanager
def opened(cfg):
    """The store and the site environment, with their failures as one-line errors."""
    from webgen.feedback.site.environment import SiteEnvironment
    from webgen.feedback.site.scaffold import ScaffoldError

    store = open_store(cfg)
    try:
        env = SiteEnvironment(cfg).start()
    except ScaffoldError as exc:
        store.close()
        raise fail(f"{exc}. Set WEBGEN_SCAFFOLD or `scaffold` in the config (see `webgen scaffold list`)") from exc
    try:
        yield store, env
    finally:
        env.close()
        store.close()


def build(
    instruction: Annotated[str | None, typer.Argument(help="what to build ('-' reads it from stdin)")] = None,
    mode: Annotated[Mode | None, typer.Option(help="agent (multi-step, the default) or single-shot")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="where the best site and its screenshots go")] = None,
    resume: Annotated[str | None, typer.Option(help="continue a killed, failed or interrupted run by id")] = None,
    max_steps: Annotated[
        int | None, typer.Option(min=1, help="override agent.max_steps (a resume keeps the run's)")
    ] = None,
    request_file: Annotated[Path | None, typer.Option(help="read the request from FILE ('-': stdin)")] = None,
    events: Annotated[
        EventsFormat, typer.Option(help="progress as it goes: rich text, JSON lines of typed events, or none")
    ] = EventsFormat.rich,
    from_: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="start from an existing Vite + React project (a folder or a .zip): it is step 0, then the agent "
            "makes the requested change (with no request: import and evaluate it only)",
        ),
    ] = None,
) -> None:
    """Turn a request into a site: the best step's files land in OUT/site, its screenshots in OUT/screenshots.
    Exit codes: 0 finished, 1 the run failed, 2 bad input or setup, 130 interrupted."""
    from webgen.cli.build_from import load

    cfg = load_settings()
    if resume and (instruction is not None or request_file is not None):
        raise fail("--resume continues a stored run: give no request with it")
    if from_ is not None and resume:
        raise fail("--from starts a new run and --resume continues a stored one: give one of them")
    if from_ is not None and mode is Mode.single_shot:
        raise fail("--from continues a project with the agent; single-shot mode writes a site from the scaffold")
    given = instruction is not None or request_file is not None
    request = None if resume or (from_ is not None and not given) else read_request(instruction, request_file)
    project = load(from_) if from_ is not None else None
    run_ids = [resume or uuid.uuid4().hex]
    target = _out(out or Path("webgen-out") / run_ids[0][:8])
    with opened(cfg) as (store, env):
        outcome = _run(cfg, store, env, run_ids, request, mode, max_steps, events.value, project)
        if events is not EventsFormat.json:
            for run_id in run_ids:
                print_summary(console, store, run_id)
        _export(store, outcome.run_id, target)
    for run_id in run_ids:
        shutil.rmtree(cfg.home / "runs" / run_id, ignore_errors=True)  # everything is in the store now
    colour = "green" if outcome.status == "finished" else "red"
    if events is not EventsFormat.json:  # stdout holds only the events (the last one says how the run ended)
        console.print(f"run {outcome.run_id}: [{colour}]{outcome.status}[/], best step {outcome.best_step} -> {target}")
    if outcome.status != "finished":
        if outcome.error:
            console.print(f"[red]error:[/red] {outcome.error}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_FAILED)
    if outcome.error:
        console.print(f"note: {outcome.error}", highlight=False, soft_wrap=True)


def _out(out: Path) -> Path:
    from webgen.cli.outdir import OutDirError, prepare_out

    try:
        return prepare_out(out)
    except OutDirError as exc:
        raise fail(str(exc)) from exc


def _run(
    cfg,
    store,
    env,
    run_ids: list[str],
    request: str | None,
    mode: Mode | None,
    max_steps: int | None,
    events: str,
    project=None,  # a checked `ProjectPlan` (--from)
):
    from webgen.cli.build_from import run_from
    from webgen.graph.run import RunCrashed
    from webgen.graph.session import Session
    from webgen.storage.store import StoreError
    from webgen.storage.values import TaskIn

    run_id = run_ids[0]
    show = (lambda e: print(e.model_dump_json(), flush=True)) if events == "json" else (lambda e: on_event(console, e))
    subscribers = [] if events == "none" else [show]
    with _interruptible(run_ids), Session(cfg, store=store, env=env, subscribers=subscribers) as session:
        try:
            if request is None and project is None:
                try:
                    run = store.get_run(run_id)
                except StoreError as exc:
                    where = store.url.split("@")[-1]
                    raise fail(f"no run {run_id} in {where}; `webgen db export runs` lists them") from exc
                if mode is not None and mode.value != run.mode:
                    raise fail(f"run {run_id} is a {run.mode} run; it cannot be resumed as {mode.value}")
                if events != "json":
                    console.print(
                        f"resuming run {run_id} ({run.mode}, {run.status}) at step {store.next_index(run_id)}"
                    )
                return session.resume(run_id, max_steps=max_steps)
            if max_steps is not None:
                cfg = cfg.model_copy(update={"agent": cfg.agent.model_copy(update={"max_steps": max_steps})})
            if project is not None:
                return run_from(session, project, request, run_ids, cfg, events)
            assert request is not None
            chosen = mode or Mode.agent
            external = hashlib.sha256(request.encode()).hexdigest()[:16]
            task = TaskIn(source="cli", external_id=external, instruction=request)
            if events != "json":
                console.print(f"run {run_id} ({chosen.value})")
            return session.start(task, mode=chosen.value, run_id=run_id, settings=cfg)
        except RunCrashed as exc:
            raise fail(
                f"{exc} (traceback in {exc.log}); fix the cause, then `webgen build --resume {exc.run_id}`",
                EXIT_FAILED,
            ) from exc
        except StoreError as exc:
            raise fail(str(exc)) from exc


@contextlib.contextmanager
def _interruptible(run_ids: list[str]) -> Iterator[None]:
    """Ctrl-C: one line naming the run to resume (the last one started)."""
    try:
        yield
    except KeyboardInterrupt:
        raise fail(f"interrupted; continue with `webgen build --resume {run_ids[-1]}`", EXIT_INTERRUPTED) from None


def _export(store, run_id: str, out: Path) -> None:
    """The best step's files (from its stored snapshot), and the screenshots of the step that rendered them
    (a GUI-test or finish step shows its parent's files, so the walk goes up the parent chain)."""
    from webgen.cli.outdir import clear_owned
    from webgen.feedback.site.report import route_slug
    from webgen.storage.io import export_snapshot

    clear_owned(out)
    run = store.get_run(run_id)
    steps = {s.index: s for s in store.steps(run_id)}
    current = steps.get(run.best_step) if run.best_step is not None else None
    if current is not None and current.snapshot_id:
        export_snapshot(store, current.snapshot_id, out / "site")
    while current is not None:
        shots = store.screenshots(current.id)
        if shots:
            (out / "screenshots").mkdir(parents=True, exist_ok=True)
            routes = list(dict.fromkeys(shot.route for shot in shots))
            for shot in shots:
                suffix = "" if shot.kind == "viewport" else f".{shot.kind}"
                name = f"{routes.index(shot.route):02d}-{route_slug(shot.route)}{suffix}.png"
                (out / "screenshots" / name).write_bytes(shot.png)
            return
        current = steps.get(current.parent_index) if current.parent_index is not None else None


def show(run_id: Annotated[str, typer.Argument(help="a run id (see `webgen db export runs`)")]) -> None:
    """Print a stored run's timeline: steps, scores, errors, tokens and time."""
    from webgen.storage.store import StoreError

    with open_store(load_settings()) as store:
        try:
            print_summary(console, store, run_id)
        except StoreError as exc:
            raise fail(str(exc), EXIT_FAILED) from exc
