"""The `webgen` command line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from webgen.cli.common import Options, console, settings
from webgen.core.env import apply_offline_env

app = typer.Typer(help="webgen: describe a website, get a working multi-page site.", no_args_is_help=True)
scaffold_app = typer.Typer(help="Site scaffolds and their shared node_modules cache.", no_args_is_help=True)
app.add_typer(scaffold_app, name="scaffold")


@app.callback()
def main(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML or YAML settings file")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")] = False,
) -> None:
    apply_offline_env()
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    Options.config = config
    Options.verbose = verbose


@app.command()
def doctor() -> None:
    """Check Chromium, Node, the scaffold cache, the database and each model endpoint; say how to fix problems."""
    from webgen.cli.doctor import diagnose

    findings = diagnose(settings())
    table = Table("check", "status", "detail", "fix")
    colours = {"ok": "green", "warn": "yellow", "fail": "red"}
    for f in findings:
        table.add_row(f.name, f"[{colours[f.status]}]{f.status}[/]", f.detail, f.fix)
    console.print(table)
    if any(f.status == "fail" for f in findings):
        raise typer.Exit(1)


@scaffold_app.command("install")
def scaffold_install() -> None:
    """Install the configured scaffold's node_modules into the cache (once; quick when done)."""
    from webgen.feedback.site.scaffold import ScaffoldError, ensure_installed, get_scaffold

    cfg = settings()
    scaffold = get_scaffold(cfg.scaffold, cfg.home)
    if scaffold.installed:
        console.print(f"scaffold {scaffold.name} already installed at {scaffold.cache_dir}")
        return
    with console.status(f"npm install for scaffold {scaffold.name} (about 30 s)..."):
        try:
            ensure_installed(scaffold, npm=cfg.npm_path)
        except ScaffoldError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
    console.print(f"scaffold {scaffold.name} installed at {scaffold.cache_dir}")


@scaffold_app.command("list")
def scaffold_list() -> None:
    """List the scaffolds shipped with webgen."""
    from webgen.feedback.site.scaffold import available_scaffolds, get_scaffold

    cfg = settings()
    for name in available_scaffolds():
        scaffold = get_scaffold(name, cfg.home)
        mark = "installed" if scaffold.installed else "not installed"
        console.print(f"{name}{' (selected)' if name == cfg.scaffold else ''}: {mark}")


@app.command("fake-llm")
def fake_llm(
    script: Annotated[Path, typer.Option("--script", "-s", exists=True, dir_okay=False, help="YAML or JSON rules")],
    port: Annotated[int, typer.Option(help="loopback port (0: any free port)")] = 8000,
) -> None:
    """Serve scripted replies over the OpenAI chat API on 127.0.0.1 (for demos and tests). Ctrl-C stops it."""
    from webgen.agent.fake_script import ScriptError
    from webgen.agent.fake_server import serve

    try:
        serve(script, port, on_ready=lambda url: console.print(f"fake model server at {url} (script {script})"))
    except ScriptError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


def _register_subcommands() -> None:
    from webgen.cli.build import build, show
    from webgen.cli.collect_cmd import collect
    from webgen.cli.db import db_app
    from webgen.cli.eval_cmd import eval_
    from webgen.cli.render_cmd import render
    from webgen.cli.train_cmd import train_app
    from webgen.cli.ui_cmd import ui

    app.add_typer(db_app, name="db")
    app.command()(build)
    app.command()(show)
    app.command(name="render")(render)
    app.command(name="collect")(collect)
    app.command(name="eval")(eval_)
    app.command(name="ui")(ui)
    app.add_typer(train_app, name="train")


_register_subcommands()
