"""`webgen eval COLLECTION | --sites DIR` (the WebGen-Bench protocol on a collection or a folder of sites) and
`webgen eval report A B [--out DIR]` (evaluations side by side, with the published numbers).

Exit codes: 0 every case has a verdict; 1 the eval stopped (an endpoint down) or left cases undone; 2 bad input
or setup; 130 interrupted (re-run the same command to resume).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from webgen.cli.common import EXIT_FAILED, EXIT_INTERRUPTED, console, fail
from webgen.cli.common import settings as load_settings

DEFAULT_OUT = Path("webgen-out") / "eval"
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


def eval_(
    target: Annotated[
        str | None, typer.Argument(metavar="COLLECTION|report", help="a collection, or `report A B`")
    ] = None,
    more: Annotated[list[str] | None, typer.Argument(metavar="[A B ...]", help="with `report`: evals")] = None,
    sites: Annotated[Path | None, typer.Option("--sites", help="a folder of sites (see --layout)")] = None,
    layout: Annotated[
        str,
        typer.Option(
            help="how --sites names them: by-id (<id> or <id>.zip), bolt-diy (<id>.zip exports), openhands "
            "(workspace_<i>), aider (task_<i>); i: 0-based index in the task list"
        ),
    ] = "by-id",
    tasks: Annotated[Path | None, typer.Option("--tasks", help="the tasks of --sites: a JSONL file")] = None,
    source: Annotated[str, typer.Option(help="the tasks of --sites from the store")] = "webgen-bench",
    name: Annotated[str | None, typer.Option(help="the eval's name (default: the collection or folder)")] = None,
    ids: Annotated[str | None, typer.Option(help="only these task ids (comma separated)")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="at most this many tasks")] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="GUI worker processes")] = 1,
    rerun: Annotated[bool, typer.Option(help="evaluate again what is stored")] = False,
    all_rollouts: Annotated[bool, typer.Option(help="every rollout of a collection, not rollout 0")] = False,
    out: Annotated[Path | None, typer.Option(help="report folder (default webgen-out/eval/NAME)")] = None,
    db: Annotated[str | None, typer.Option(help="database URL or SQLite file (default: settings)")] = None,
    stop_after: Annotated[int, typer.Option(min=1, help="stop after an endpoint fails this often in a row")] = 3,
    protocol_dir: Annotated[
        Path | None,
        typer.Option(help="your checkout of the WebGen-Bench repository: its GUI-agent prompts are used as they are"),
    ] = None,
    compare: Annotated[
        str | None,
        typer.Option(
            help="with `report`: published rows to show, comma-separated keys, or `all` (default: a selection)"
        ),
    ] = None,
    start: Annotated[
        str,
        typer.Option(
            help="build: our React + Vite build, served as static files; dev: the site's own `npm install "
            "--ignore-scripts` and `npm run dev` (any framework), as the benchmark started sites"
        ),
    ] = "build",
    network: Annotated[
        str,
        typer.Option(
            help="loopback: sites, npm and the GUI agent's browser reach only this machine; open (only with "
            "--start dev): RUNS THE SITES' UNTRUSTED CODE WITH NETWORK ACCESS, as the benchmark did"
        ),
    ] = "loopback",
    install_timeout: Annotated[float, typer.Option(min=1, help="--start dev: seconds per npm install try")] = 300.0,
    start_timeout: Annotated[
        float, typer.Option(min=1, help="--start dev: seconds for the dev server to print a URL that answers")
    ] = 60.0,
    settle: Annotated[
        float, typer.Option(min=0, help="seconds the GUI agent waits after opening a site (published: 5)")
    ] = 5.0,
    export_transcripts: Annotated[
        Path | None,
        typer.Option(help="also write the transcripts in the benchmark's layout (for its compute_acc.py) here"),
    ] = None,
    case_timeout: Annotated[
        float | None, typer.Option(min=1, help="a wall-clock cap per test case in seconds (the benchmark has none)")
    ] = None,
) -> None:
    """Evaluate a collection (each task's best step) or a folder of sites with the WebGen-Bench protocol: every
    ui_instruct case by the WebVoyager agent, appearance by the judge, VRR and AAS; store it and write a report.
    Re-running skips what is stored."""
    cfg = load_settings()
    if db:
        cfg = cfg.updated(database_url=db if "://" in db else f"sqlite:///{Path(db).expanduser().resolve()}")
    if target == "report":
        return _compare(cfg, more or [], out, compare)
    if more:
        raise fail(f"unexpected argument {more[0]!r}")
    if (target is None) == (sites is None):
        raise fail("give a COLLECTION or --sites DIR (one of them)")
    wanted = [i.strip() for i in ids.split(",") if i.strip()] if ids else None
    if start not in ("build", "dev") or network not in ("loopback", "open"):
        raise fail(f"--start is build or dev and --network loopback or open, not {start!r} / {network!r}")
    if network == "open" and start != "dev":
        raise fail("--network open needs --start dev (our own build never needs the network)")
    protocol = _protocol(protocol_dir).model_copy(update={"settle_s": settle, "network": network})
    from webgen.benchmark.prepare import StartOptions

    starting = StartOptions(
        start=start, network=network, install_timeout_s=install_timeout, start_timeout_s=start_timeout
    )  # type: ignore[arg-type]
    from webgen.benchmark.layouts import LAYOUTS, layout_sources
    from webgen.benchmark.run import EvalRequest
    from webgen.benchmark.sites import EvalInputError, collection_sources
    from webgen.benchmark.tasks import narrow, tasks_from_file, tasks_from_source, tasks_of_collection
    from webgen.cli.build import open_store
    from webgen.feedback.site.scaffold import ScaffoldError
    from webgen.storage.store import StoreError

    with open_store(cfg) as store:
        try:
            if target is not None:
                chosen = narrow(tasks_of_collection(store, target), wanted, limit)
                mode, found = collection_sources(store, target, chosen, all_rollouts=all_rollouts)
                request = EvalRequest(
                    name=name or target, kind="collection", source=target, mode=mode, tasks=chosen, sites=found
                )
            else:
                assert sites is not None
                if tasks is not None and not tasks.is_file():
                    raise EvalInputError(f"no tasks file {tasks}")
                every = tasks_from_file(store, tasks) if tasks else tasks_from_source(store, source)
                chosen = narrow(every, wanted, limit)
                if layout not in LAYOUTS:
                    raise EvalInputError(f"unknown --layout {layout!r}; use one of {', '.join(LAYOUTS)}")
                order = [t.external_id for t in every]
                found = layout_sources(sites, layout, order, [t.external_id for t in chosen])  # type: ignore[arg-type]
                folder = str(sites.expanduser().resolve())
                request = EvalRequest(
                    name=name or f"sites-{sites.resolve().name}", kind="sites", source=folder, tasks=chosen, sites=found
                )
        except EvalInputError as exc:
            raise fail(str(exc)) from exc
        options = {"workers": workers, "rerun": rerun, "stop_after": stop_after, "protocol": protocol}
        request = request.model_copy(update=options | {"case_timeout_s": case_timeout, "start": starting})
        if not _NAME.fullmatch(request.name):
            raise fail(f"eval name {request.name!r}: use letters, digits, '.', '_' and '-' (at most 128); see --name")
        report_dir = _report_dir(out or DEFAULT_OUT / request.name)  # refused before any work, not after
        if export_transcripts is not None:
            from webgen.benchmark.export import ExportError, check_export_dir

            try:
                check_export_dir(export_transcripts)
            except ExportError as exc:
                raise fail(str(exc)) from exc
        try:
            stats, results = _evaluate(cfg, store, request)
        except (StoreError, ScaffoldError) as exc:
            raise fail(str(exc)) from exc
        except KeyboardInterrupt:
            raise fail("interrupted; re-run the same command to resume", EXIT_INTERRUPTED) from None
        report = _report(results, report_dir)
        if export_transcripts is not None:
            _export(store, request, export_transcripts)
        _summary(results, stats)
        console.print(f"report: {report}", highlight=False, soft_wrap=True)
    if stats.stopped:
        interrupted = stats.stopped.startswith("interrupted")
        console.print(f"[red]stopped:[/red] {stats.stopped}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_INTERRUPTED if interrupted else EXIT_FAILED)
    if stats.left:
        raise typer.Exit(EXIT_FAILED)
    return None


def _export(store, request, out: Path) -> None:
    from webgen.benchmark.export import ExportError, export_transcripts
    from webgen.storage import evals

    info = evals.get_eval(store, request.name)
    assert info is not None
    wanted = {(s.task_id, s.rollout) for s in request.sites}
    cases = [c for c in evals.cases(store, info.id) if (c.task_id, c.rollout) in wanted]
    try:
        count = export_transcripts(cases, out, system=request.protocol.system())
    except ExportError as exc:
        raise fail(str(exc)) from exc
    console.print(f"transcripts: {count} case(s) in {out.resolve()}", highlight=False, soft_wrap=True)


def _protocol(folder: Path | None):
    from webgen.feedback.gui.protocol import GUIProtocol, ProtocolError, load_protocol_dir

    if folder is None:
        return GUIProtocol()
    try:
        return load_protocol_dir(folder)
    except ProtocolError as exc:
        raise fail(str(exc)) from exc


def _evaluate(cfg, store, request):
    from webgen.benchmark.run import Evaluation, load_results

    columns = (
        TextColumn("[bold]eval"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task("eval", total=None, info="preparing sites")

        def update(stats) -> None:
            v = stats.verdicts
            info = (
                f"[green]{v['YES']} yes[/] [yellow]{v['PARTIAL']} partial[/] [red]{v['NO']} no[/] "
                f"{v['START_FAILED']} start-failed; {stats.sites} site(s), {stats.skipped} case(s) stored before"
            )
            progress.update(bar, total=stats.total, completed=stats.done, info=info)

        evaluation = Evaluation(cfg, store, request, on_update=update)
        stats = evaluation.run()
    assert evaluation.info is not None
    sites = [(s.task_id, s.rollout) for s in request.sites]
    return stats, load_results(store, evaluation.info, request.tasks, sites)


def _report_dir(out: Path) -> Path:
    from webgen.benchmark.report import ReportError, prepare_report_dir

    try:
        return prepare_report_dir(out)
    except ReportError as exc:
        raise fail(str(exc)) from exc


def _report(results, out: Path) -> Path:
    from webgen.benchmark.report import ReportError, write_report

    try:
        return write_report(results, out)
    except ReportError as exc:
        raise fail(str(exc)) from exc


def _summary(results, stats) -> None:
    from webgen.benchmark.results import summarize

    table = Table("scoring", "Yes", "Partial", "No", "Start failed", "Not run", "Accuracy", "Appearance", "VRR", "AAS")
    table.title = f"eval {results.name}: {len(results.sites)} site(s), {results.total_cases} case(s)"
    complete = True
    for scoring in ("substring", "robust"):  # the benchmark's own scoring first: the published numbers use it
        summary = summarize(results, scoring=scoring)
        row, complete = summary.overall, summary.complete
        cells = (row.yes, row.partial, row.no, row.start_failed, row.not_run, row.accuracy)
        rates = [f"{100 * r:.1f}" for r in cells]
        sites = [f"{row.appearance or 0:.2f}", f"{100 * (row.vrr or 0):.1f}", f"{row.aas or 0:.2f}"]
        table.add_row("benchmark (substring)" if scoring == "substring" else "ours (robust)", *rates, *sites)
    console.print(table)
    if not complete:
        console.print("[yellow]incomplete:[/yellow] some cases were not run; re-run the same command to finish")
    errors = sum(1 for c in results.cases if c.error and c.verdict != "START_FAILED")
    console.print(
        f"this invocation: {stats.done} of {stats.total} case(s) run, {stats.skipped} stored before, "
        f"{stats.left} left; {errors} case(s) with an error (unparsable verdicts included)",
        highlight=False,
    )


def _compare(cfg, names: list[str], out: Path | None, rows: str | None = None) -> None:
    from webgen.benchmark.compare import compare_reports
    from webgen.benchmark.report import ReportError

    if len(names) < 1:
        raise fail("say which evals to compare: webgen eval report A B [--out DIR]")
    folders = [_report_folder(cfg, n) for n in names]
    try:
        keys = [k.strip() for k in rows.split(",") if k.strip()] if rows else None
        text = compare_reports(folders, out, references=keys)
    except ReportError as exc:
        raise fail(str(exc)) from exc
    console.print(text, highlight=False, soft_wrap=True, markup=False)
    if out is not None:
        console.print(f"comparison: {out / 'comparison.md'}", highlight=False)


def _report_folder(cfg, name: str) -> Path:
    """A report folder as given, else the eval of that name in the store (its report written if missing)."""
    given = Path(name)
    if given.is_dir():
        return given
    from webgen.benchmark.run import load_results
    from webgen.benchmark.sites import EvalInputError
    from webgen.benchmark.tasks import tasks_from_source
    from webgen.cli.build import open_store
    from webgen.storage import evals

    with open_store(cfg) as store:
        info = evals.get_eval(store, name)
        if info is None:
            known = ", ".join(evals.names(store)) or "none"
            raise fail(f"{name} is neither a report folder nor an eval in the store (evals: {known})")
        folder = DEFAULT_OUT / name
        if (folder / "results.json").is_file():
            return folder
        try:
            every = tasks_from_source(store, str(info.config.get("tasks_source") or "webgen-bench"))
        except EvalInputError as exc:
            raise fail(str(exc)) from exc
        wanted = set(info.config.get("task_ids") or [t.external_id for t in every])
        chosen = [t for t in every if t.external_id in wanted]
        sites = [(s.task_id, s.rollout) for s in evals.sites(store, info.id)]
        sites += [(c.task_id, c.rollout) for c in evals.cases(store, info.id)]
        sites = [site for site in dict.fromkeys(sites) if site[0] in wanted]
        _report(load_results(store, info, chosen, sites), folder)
    return folder
