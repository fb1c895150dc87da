"""`webgen build` (run the agent or single-shot mode on a request) and `webgen show` (a stored run's timeline)."""

from __future__ import annotations

import hashlib
import shutil
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()
_SKIP = shutil.ignore_patterns("node_modules", "dist", ".webgen")


class Mode(StrEnum):
    agent = "agent"
    single_shot = "single-shot"


def _on_event(event: dict[str, Any]) -> None:
    name = event["event"]
    if name == "generate":
        console.print(f"[bold]step {event['index']}[/bold] generating...")
    elif name == "execute":
        state = "[green]built[/green]" if event["build_ok"] else "[red]build failed[/red]"
        console.print(
            f"  {state}, {event['pages']} page(s)" + "".join(f"\n  [red]- {e}[/red]" for e in event["errors"])
        )
    elif name == "judge":
        console.print(f"  screenshot score: {event['score']} ({event['outcome']})")
    elif name == "gui_test":
        console.print(f"  GUI test: {event['verdict']} grade {event['grade']} ({event['outcome']})")
    elif name == "step":
        mark = "[red]error[/red]" if event["has_error"] else "[green]ok[/green]"
        console.print(f"  recorded {event['kind']} step {event['index']}: {mark}")
    elif name == "backtrack":
        target = f"step {event['to']}" if event["to"] is not None else "a fresh start"
        console.print(f"[yellow]backtracking to {target}[/yellow]")


def _export(store, site: Path, run_id: str, best: int | None, out: Path) -> None:  # noqa: ANN001 (TrajectoryStore)
    """The best step's files, and the screenshots of the step that rendered them (a GUI-test or finish step
    shows its parent's files, so the walk goes up the parent chain)."""
    from webgen.feedback.report import route_slug

    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(site, out / "site", ignore=_SKIP, symlinks=False)
    steps = {s.index: s for s in store.steps(run_id)}
    current = steps.get(best) if best is not None else None
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


def build(
    instruction: Annotated[str, typer.Argument(help="what to build")],
    mode: Annotated[Mode, typer.Option(help="agent (multi-step) or single-shot")] = Mode.agent,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="where the best site and its screenshots go")] = None,
    resume: Annotated[str | None, typer.Option(help="continue a killed run by id")] = None,
    max_steps: Annotated[int | None, typer.Option(help="override agent.max_steps")] = None,
) -> None:
    """Turn a request into a site: the best step's files land in OUT/site, its screenshots in OUT/screenshots."""
    from webgen.cli import settings as load_settings
    from webgen.feedback.environment import SiteEnvironment
    from webgen.graph.run import make_deps, resume_agent, run_agent
    from webgen.graph.single_shot import run_single_shot
    from webgen.storage.store import StoreError, TrajectoryStore
    from webgen.storage.values import TaskIn

    cfg = load_settings()
    if max_steps is not None:
        cfg.agent.max_steps = max_steps
    with TrajectoryStore(cfg.resolved_database_url) as store, SiteEnvironment(cfg) as env:
        if resume:
            run = store.get_run(resume)
            deps = make_deps(cfg, store, env, resume, on_event=_on_event)
            console.print(f"resuming run {resume} at step {store.next_index(resume)}")
            try:
                outcome = resume_agent(deps, resume)
            except StoreError as exc:
                console.print(f"[red]{exc}[/red]")
                raise typer.Exit(1) from exc
        else:
            external = hashlib.sha256(instruction.encode()).hexdigest()[:16]
            task = store.ensure_task(TaskIn(source="cli", external_id=external, instruction=instruction))
            models = {role: getattr(cfg, role).model for role in ("coder", "judge", "gui")}
            run_id = store.start_run(task.id, mode.value, config=cfg.public(), models=models)
            console.print(f"run {run_id} ({mode.value})")
            deps = make_deps(cfg, store, env, run_id, on_event=_on_event)
            runner = run_agent if mode is Mode.agent else run_single_shot
            outcome = runner(deps, task, run_id)
        run = store.get_run(outcome.run_id)
        _print_summary(store, outcome.run_id)
        target = out or Path("webgen-out") / outcome.run_id[:8]
        _export(store, outcome.site, outcome.run_id, outcome.best_step, target)
    console.print(f"run {outcome.run_id}: {run.status}, best step {outcome.best_step} -> {target}")


def _print_summary(store, run_id: str) -> None:  # noqa: ANN001 (TrajectoryStore)
    run = store.get_run(run_id)
    table = Table(
        "step", "kind", "parent", "build", "score", "gui", "error", "tokens", "seconds", title=f"run {run_id}"
    )
    steps = store.steps(run_id)
    for step in steps:
        seconds = sum(v for v in step.latency.values() if isinstance(v, int | float))
        best = " *" if step.index == run.best_step else ""
        table.add_row(
            f"{step.index}{best}",
            step.kind,
            str(step.parent_index if step.parent_index is not None else "-"),
            {True: "ok", False: "failed", None: "-"}[step.build_ok],
            _num(step.screenshot_score),
            (step.gui_verdict or "-") + (f" {_num(step.gui_grade)}" if step.gui_grade is not None else ""),
            "yes" if step.has_error else "",
            str(step.tokens_prompt + step.tokens_completion),
            f"{seconds:.1f}",
        )
    console.print(table)
    reward = next((s.reward_breakdown for s in steps if s.reward_breakdown), None)
    if reward:
        console.print(
            f"reward {reward['reward']} (stage {reward['stage']}, s_vis {reward['s_vis']}, "
            f"s_func {reward['s_func']}, s_cot {reward['s_cot']})"
        )
    console.print(f"status {run.status}; best step {run.best_step}; tokens {run.tokens_prompt + run.tokens_completion}")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def show(run_id: Annotated[str, typer.Argument(help="a run id (see `webgen db export runs`)")]) -> None:
    """Print a stored run's timeline: steps, scores, errors, tokens and time."""
    from webgen.cli import settings as load_settings
    from webgen.storage.store import StoreError, TrajectoryStore

    with TrajectoryStore(load_settings().resolved_database_url) as store:
        try:
            _print_summary(store, run_id)
        except StoreError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
