"""`webgen collect TASKS.jsonl | --source NAME ...` (a batch collection on local worker processes, or on Ray
actors with `--backend ray`) and `webgen collect status NAME`.

Exit codes: 0 every pair finished; 1 some pairs failed, or the collection stopped (an endpoint down); 2 bad
input or setup; 130 interrupted (re-run the same command to resume).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from webgen.cli.common import EXIT_FAILED, EXIT_INTERRUPTED, console, fail
from webgen.cli.common import settings as load_settings


class Mode(StrEnum):
    agent = "agent"
    single_shot = "single-shot"


class BackendName(StrEnum):
    local = "local"
    ray = "ray"


def collect(
    target: Annotated[
        str | None, typer.Argument(metavar="TASKS.jsonl|status", help="a tasks file, or `status NAME`")
    ] = None,
    status_name: Annotated[str | None, typer.Argument(metavar="[NAME]", help="with `status`: the collection")] = None,
    source: Annotated[str | None, typer.Option(help="tasks already in the store (or the source for TASKS)")] = None,
    ids: Annotated[str | None, typer.Option(help="only these task ids (comma separated)")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="at most this many tasks")] = None,
    mode: Annotated[Mode, typer.Option(help="agent or single-shot")] = Mode.agent,
    rollouts: Annotated[int, typer.Option("--rollouts", "-G", min=1, help="independent runs per task")] = 1,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="workers (each one session)")] = 1,
    name: Annotated[str | None, typer.Option("--name", help="collection name (default: SOURCE-MODE)")] = None,
    retries: Annotated[int, typer.Option(min=0, help="attempts after a worker dies, per pair")] = 2,
    retry_failed: Annotated[bool, typer.Option(help="also run again the pairs that failed")] = False,
    max_steps: Annotated[int | None, typer.Option(min=1, help="override agent.max_steps")] = None,
    stop_after: Annotated[int, typer.Option(min=1, help="stop after this many runs fail in a row")] = 3,
    backend: Annotated[
        BackendName, typer.Option(help="local: worker processes here; ray: Ray actors (the `dist` extra)")
    ] = BackendName.local,
    ray_address: Annotated[
        str | None,
        typer.Option(help="with --backend ray: `auto`, HOST:PORT or ray://HOST:PORT (default: a Ray of our own here)"),
    ] = None,
) -> None:
    """Collect runs of many tasks (G rollouts each) on N workers into the store, as a named collection.
    Re-running the same command skips the finished pairs and resumes the interrupted ones."""
    if target == "status":
        if not status_name:
            raise fail("say which collection: webgen collect status NAME")
        return _status(status_name)
    if status_name is not None:
        raise fail(f"unexpected argument {status_name!r}")
    from webgen.cli.build import open_store
    from webgen.collect.tasks import TaskSelectionError, select_tasks
    from webgen.storage import collections

    cfg = load_settings()
    if max_steps is not None:
        cfg = cfg.updated(agent={"max_steps": max_steps})
    _check_backend(cfg, backend, ray_address)
    tasks_file = Path(target) if target else None
    if tasks_file is not None and not tasks_file.is_file():
        raise fail(f"no tasks file {tasks_file}")
    with open_store(cfg) as store:
        try:
            wanted = [i.strip() for i in ids.split(",") if i.strip()] if ids else None
            chosen_source, tasks = select_tasks(store, tasks_file=tasks_file, source=source, ids=wanted, limit=limit)
        except TaskSelectionError as exc:
            raise fail(str(exc)) from exc
        if not tasks:
            raise fail("no tasks to collect")
        name = name or f"{chosen_source}-{mode.value}"
        modes = {e.mode for e in collections.entries(store, name)}
        if modes and modes != {mode.value}:
            raise fail(f"collection {name} holds {', '.join(sorted(modes))} runs: use another --name")
        task_ids = [t.id for t in tasks]
        collections.plan(store, name, task_ids, rollouts, mode.value)
        todo = collections.todo(store, name, task_ids, rollouts, retry_failed=retry_failed)
        total = len(task_ids) * rollouts
        where = "processes" if backend is BackendName.local else "Ray actors"
        where += f" at {ray_address}" if ray_address else ""
        console.print(
            f"collection {name}: {len(tasks)} task(s) x {rollouts} rollout(s); {total - len(todo)} done already, "
            f"{len(todo)} to run on {min(workers, max(1, len(todo)))} worker(s) ({where})",
            highlight=False,
        )
        if not todo:
            _table(store, name)
            return None
        try:
            stats = _run(cfg, store, todo, workers, retries, stop_after, backend, ray_address)
        except KeyboardInterrupt:
            raise fail("interrupted; re-run the same command to resume", EXIT_INTERRUPTED) from None
        _table(store, name, stats)
        if stats.stopped:
            interrupted = stats.stopped.startswith("interrupted")
            console.print(f"[red]stopped:[/red] {stats.stopped}", highlight=False, soft_wrap=True)
            if not interrupted:
                console.print("fix the cause, then re-run the same command to resume", highlight=False)
            raise typer.Exit(EXIT_INTERRUPTED if interrupted else EXIT_FAILED)
        if stats.failed:
            raise typer.Exit(EXIT_FAILED)
    return None


def _check_backend(cfg, backend: BackendName, address: str | None) -> None:
    """Bad combinations are refused before anything starts: workers on other machines need Postgres."""
    if address is not None and backend is not BackendName.ray:
        raise fail("--ray-address needs --backend ray")
    if backend is not BackendName.ray:
        return
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise fail("--backend ray needs Ray: install webgen[dist]")
    from webgen.collect.ray_backend import check_reachable, needs_shared_store
    from webgen.graph.checkpoints import checkpoint_target

    if not needs_shared_store(address):
        return
    if not cfg.resolved_database_url.startswith("postgresql"):
        raise fail(
            f"--ray-address {address}: workers on other machines need the store on PostgreSQL, not "
            f"{cfg.resolved_database_url.split(':', 1)[0]}; set WEBGEN_DATABASE_URL=postgresql+psycopg://..."
        )
    if not checkpoint_target(cfg).startswith("postgresql://"):
        raise fail(
            f"--ray-address {address}: workers on other machines need the checkpoints on PostgreSQL; "
            "unset WEBGEN_CHECKPOINT_URL (they then go to the store's database) or make it postgresql://..."
        )
    try:
        check_reachable(address)
    except (ConnectionError, ValueError) as exc:
        raise fail(f"cannot reach Ray at {address}: {exc}") from exc
    for role in ("coder", "judge", "gui"):
        url = getattr(cfg, role).base_url
        if (urlsplit(url).hostname or "") in ("127.0.0.1", "localhost", "::1"):
            console.print(
                f"[yellow]warning:[/] the {role} endpoint {url} is on loopback: workers on other machines "
                "cannot reach it",
                highlight=False,
            )


def _backend(cfg, backend: BackendName, address: str | None, workers: int):
    if backend is BackendName.local:
        return None  # the collector's default: local processes
    try:
        from webgen.collect.ray_backend import RayBackend

        return RayBackend(cfg, address=address, num_cpus=workers)
    except ImportError as exc:
        raise fail("--backend ray needs Ray: install webgen[dist]") from exc
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise fail(f"cannot start or reach Ray{f' at {address}' if address else ''}: {exc}") from exc


def _run(cfg, store, todo, workers: int, retries: int, stop_after: int, backend: BackendName, address: str | None):
    from webgen.collect.pool import Collector

    columns = (
        TextColumn("[bold]collect"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task("collect", total=len(todo), info="starting workers")

        def update(stats) -> None:
            info = (
                f"[green]{stats.done} done[/] [red]{stats.failed} failed[/] "
                f"{stats.steps_per_minute:.1f} steps/min {stats.tokens} tokens"
            )
            progress.update(bar, completed=stats.done + stats.failed + stats.interrupted, info=info)

        chosen = _backend(cfg, backend, address, min(workers, len(todo)))
        collector = Collector(
            cfg, store, workers=workers, retries=retries, stop_after=stop_after, on_update=update, backend=chosen
        )
        return collector.run(todo)


def _table(store, name: str, stats=None, status=None) -> None:
    from webgen.collect.report import collection_status

    status = status or collection_status(store, name)
    table = Table("status", "pairs", "runs", "steps", "tokens", title=f"collection {name}")
    for row in status.rows:
        table.add_row(row.status, str(row.pairs), str(row.runs), str(row.steps), str(row.tokens))
    console.print(table)
    if stats is not None:
        peak = max(stats.peak_pss_mb.values(), default=0.0)
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(stats.failures.items()))
        console.print(
            f"this invocation: {stats.done} finished, {stats.failed} failed, {stats.interrupted} interrupted, "
            f"{stats.steps} steps in {stats.elapsed:.0f} s ({stats.steps_per_minute:.1f} steps/min), "
            f"{stats.tokens} tokens, {stats.retried} retried after {stats.workers_lost} worker(s) died, "
            f"peak worker memory {peak:.0f} MB" + (f"; runs not finished: {reasons}" if reasons else ""),
            highlight=False,
        )


def _status(name: str) -> None:
    from webgen.cli.build import open_store
    from webgen.collect.report import collection_status
    from webgen.storage import collections

    with open_store(load_settings()) as store:
        if not collections.entries(store, name):
            known = ", ".join(collections.names(store)) or "none"
            raise fail(f"no collection {name} (collections: {known})")
        status = collection_status(store, name)
        _table(store, name, status=status)
        counts = collections.summary(store, name)
        console.print(" ".join(f"{k}={v}" for k, v in counts.items()), highlight=False)
        if status.reasons:
            console.print(
                "not finished, by reason: " + ", ".join(f"{k} {v}" for k, v in sorted(status.reasons.items())),
                highlight=False,
            )
            problems = Table("task", "rollout", "status", "attempts", "reason", "error", title="pairs not finished")
            for p in status.problems[:20]:
                problems.add_row(p.task, str(p.rollout), p.status, str(p.attempts), p.reason, p.error[:200])
            console.print(problems)
            if len(status.problems) > 20:
                console.print(f"... and {len(status.problems) - 20} more", highlight=False)
