"""`webgen db`: create/upgrade the trajectory store, import tasks, export data, statistics, prune."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from webgen.cli.common import settings

db_app = typer.Typer(
    help="The trajectory store (SQLite by default; WEBGEN_DATABASE_URL for Postgres).", no_args_is_help=True
)
export_app = typer.Typer(help="Export runs, SFT data, Step-GRPO rows or a snapshot.", no_args_is_help=True)
db_app.add_typer(export_app, name="export")
console = Console()


class OnError(StrEnum):
    reject = "reject"
    skip = "skip"


def _store():  # -> TrajectoryStore, imported lazily to keep `webgen --help` fast
    from webgen.storage.store import TrajectoryStore

    return TrajectoryStore(settings().resolved_database_url)


@db_app.command("init")
def init() -> None:
    """Create the database (or bring it to the newest schema)."""
    from webgen.storage import db

    with _store() as store:
        console.print(
            f"{store.engine.url.render_as_string(hide_password=True)} at revision {db.current_revision(store.engine)}"
        )


@db_app.command("upgrade")
def upgrade() -> None:
    """Apply pending migrations (the same as init)."""
    init()


@db_app.command("stats")
def show_stats() -> None:
    """Counts of tasks, runs by status, steps, snapshots and blobs."""
    from webgen.storage.maintenance import stats

    with _store() as store:
        console.print_json(json.dumps(stats(store)))


@db_app.command("import")
def import_cmd(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL of tasks (WebGen-Bench format)")],
    source: Annotated[str | None, typer.Option(help="source name; default from the path")] = None,
    on_error: Annotated[OnError, typer.Option(help="bad lines: reject the file, or skip them")] = OnError.reject,
    update: Annotated[bool, typer.Option(help="update tasks that already exist")] = False,
) -> None:
    """Import tasks; all-or-nothing, bad lines reported with their line numbers."""
    from webgen.storage.io import ImportRejected, import_tasks

    with _store() as store, console.status(f"importing {path}..."):
        try:
            report = import_tasks(store, path, source=source, on_error=on_error.value, update_existing=update)
        except ImportRejected as exc:
            for problem in exc.problems[:20]:
                console.print(f"[red]line {problem.line}[/red]: {problem.message}")
            console.print(f"[red]{len(exc.problems)} bad line(s); nothing imported.[/red] Use --on-error skip.")
            raise typer.Exit(1) from exc
    for problem in report.skipped[:20]:
        console.print(f"[yellow]skipped line {problem.line}[/yellow]: {problem.message}")
    console.print(
        f"{report.source}: {report.lines} lines, {report.inserted} new, {report.existing} already there, "
        f"{len(report.skipped)} skipped"
    )


def _write_jsonl(rows, out: Path) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with out.open("w", encoding="utf-8") as handle, console.status(f"writing {out}...") as status:
        for row in rows:
            handle.write(json.dumps(row, default=str, ensure_ascii=False) + "\n")
            count += 1
            if count % 500 == 0:
                status.update(f"writing {out}: {count} rows")
    return count


@export_app.command("runs")
def export_runs(
    out: Path,
    status: Annotated[str | None, typer.Option(help="only runs with this status")] = None,
    messages: Annotated[bool, typer.Option(help="include each step's prompt messages")] = False,
) -> None:
    """Runs (with task and steps) as JSONL."""
    from webgen.storage.io import iter_runs

    with _store() as store:
        console.print(f"{_write_jsonl(iter_runs(store, status=status, with_messages=messages), out)} runs -> {out}")


@export_app.command("sft")
def export_sft(out: Path, min_score: Annotated[float, typer.Option(help="best step's score at least")] = 3.0) -> None:
    """Chat conversations ending in the best step of good finished runs, as JSONL."""
    from webgen.storage.io import sft_rows

    with _store() as store:
        console.print(f"{_write_jsonl(sft_rows(store, min_score=min_score), out)} conversations -> {out}")


@export_app.command("grpo")
def export_grpo(
    out: Annotated[Path, typer.Argument(help="a folder (datasets.save_to_disk) or a .jsonl file")],
    status: Annotated[str | None, typer.Option(help="only runs with this status")] = None,
) -> None:
    """Step-GRPO rows: one per stored step state (prompt, task, snapshots, scores)."""
    from webgen.storage.io import grpo_dataset, grpo_rows

    with _store() as store:
        if out.suffix == ".jsonl":
            console.print(f"{_write_jsonl(grpo_rows(store, status=status), out)} rows -> {out}")
            return
        dataset = grpo_dataset(store, status=status)
        dataset.save_to_disk(str(out))
        console.print(f"{dataset.num_rows} rows -> {out}")


@export_app.command("snapshot")
def export_snapshot(snapshot_id: str, out: Annotated[Path, typer.Argument(help="a folder, or a .zip file")]) -> None:
    """A stored snapshot's files."""
    from webgen.feedback.site.workspace import UnknownSnapshot
    from webgen.storage.io import export_snapshot as do_export

    with _store() as store:
        try:
            console.print(f"snapshot {snapshot_id[:12]} -> {do_export(store, snapshot_id, out)}")
        except UnknownSnapshot as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc


@db_app.command("prune")
def prune_cmd(
    run: Annotated[list[str] | None, typer.Option(help="run id (repeatable)")] = None,
    status: Annotated[str | None, typer.Option(help="runs with this status, e.g. failed")] = None,
    older_than: Annotated[float | None, typer.Option(help="runs started more than N days ago")] = None,
    dry_run: Annotated[bool, typer.Option(help="report without deleting")] = False,
) -> None:
    """Delete runs and free the blobs and snapshots nothing else references. Stop writers first."""
    from webgen.graph.checkpoints import discard_run_files
    from webgen.storage.maintenance import prune

    before = datetime.now(UTC) - timedelta(days=older_than) if older_than is not None else None
    with _store() as store:
        try:
            report = prune(store, run_ids=run, status=status, before=before, dry_run=dry_run)
        except ValueError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
    folders = 0 if dry_run else discard_run_files(settings(), report.run_ids)
    verb = "would free" if dry_run else "freed"
    console.print(
        f"{report.runs} runs, {report.steps} steps; {verb} {report.snapshots} snapshots, "
        f"{report.blobs} blobs ({report.bytes_freed / 1e6:.1f} MB)"
        + ("" if dry_run else f"; removed their checkpoints and {folders} run folder(s)")
    )
