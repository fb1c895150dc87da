"""`webgen collect TASKS.jsonl | --source NAME ...` (a batch collection on a local process pool) and
`webgen collect status NAME`.

Exit codes: 0 every pair finished; 1 some pairs failed, or the collection stopped (an endpoint down); 2 bad
input or setup; 130 interrupted (re-run the same command to resume).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from webgen.cli.common import EXIT_FAILED, EXIT_INTERRUPTED, console, fail
from webgen.cli.common import settings as load_settings


class Mode(StrEnum):
    agent = "agent"
    single_shot = "single-shot"


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
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="worker processes")] = 1,
    name: Annotated[str | None, typer.Option("--name", help="collection name (default: SOURCE-MODE)")] = None,
    retries: Annotated[int, typer.Option(min=0, help="attempts after a worker dies, per pair")] = 2,
    retry_failed: Annotated[bool, typer.Option(help="also run again the pairs that failed")] = False,
    max_steps: Annotated[int | None, typer.Option(min=1, help="override agent.max_steps")] = None,
    stop_after: Annotated[int, typer.Option(min=1, help="stop after this many runs fail in a row")] = 3,
) -> None:
    """Collect runs of many tasks (G rollouts each) on N worker processes into the store, as a named collection.
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
        console.print(
            f"collection {name}: {len(tasks)} task(s) x {rollouts} rollout(s); {total - len(todo)} done already, "
            f"{len(todo)} to run on {min(workers, max(1, len(todo)))} worker(s)"
        )
        if not todo:
            _table(store, name)
            return None
        try:
            stats = _run(cfg, store, todo, workers, retries, stop_after)
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


def _run(cfg, store, todo, workers: int, retries: int, stop_after: int):
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

        collector = Collector(cfg, store, workers=workers, retries=retries, stop_after=stop_after, on_update=update)
        return collector.run(todo)


def _table(store, name: str, stats=None) -> None:
    from webgen.storage import collections

    entries = collections.entries(store, name)
    table = Table("status", "pairs", "runs", "steps", "tokens", title=f"collection {name}")
    by_status: dict[str, list] = {}
    for entry in entries:
        by_status.setdefault(entry.status, []).append(entry)
    for status in ("finished", "failed", "interrupted", "running", "pending"):
        group = by_status.get(status, [])
        if not group:
            continue
        runs = [store.get_run(e.run_id) for e in group if e.run_id and _exists(store, e.run_id)]
        steps = sum(store.next_index(r.id) for r in runs)
        tokens = sum(r.tokens_prompt + r.tokens_completion for r in runs)
        table.add_row(status, str(len(group)), str(len(runs)), str(steps), str(tokens))
    console.print(table)
    if stats is not None:
        peak = max(stats.peak_pss_mb.values(), default=0.0)
        console.print(
            f"this invocation: {stats.done} finished, {stats.failed} failed, {stats.interrupted} interrupted, "
            f"{stats.steps} steps in {stats.elapsed:.0f} s ({stats.steps_per_minute:.1f} steps/min), "
            f"{stats.tokens} tokens, {stats.retried} retried after {stats.workers_lost} worker(s) died, "
            f"peak worker memory {peak:.0f} MB",
            highlight=False,
        )


def _exists(store, run_id: str) -> bool:
    from webgen.storage.store import StoreError

    try:
        store.get_run(run_id)
        return True
    except StoreError:
        return False


def _status(name: str) -> None:
    from webgen.cli.build import open_store
    from webgen.storage import collections

    with open_store(load_settings()) as store:
        if not collections.entries(store, name):
            known = ", ".join(collections.names(store)) or "none"
            raise fail(f"no collection {name} (collections: {known})")
        _table(store, name)
        counts = collections.summary(store, name)
        console.print(" ".join(f"{k}={v}" for k, v in counts.items()), highlight=False)
