"""What `webgen build` prints as a run goes (its events) and at the end (the run's timeline)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from webgen.graph import events
from webgen.graph.events import RunEvent


def on_event(console: Console, event: RunEvent) -> None:
    """The CLI's progress display: one subscriber of the run's typed events."""
    match event:
        case events.StepStarted(imported=str() as name):
            console.print(f"[bold]step {event.index}[/bold] importing {name}...", highlight=False)
        case events.StepStarted():
            console.print(f"[bold]step {event.index}[/bold] generating...")
        case events.FilesApplied(kind="invalid"):
            console.print("  [yellow]the reply has no usable file actions or markers[/yellow]")
        case events.FilesApplied(kind="edit"):
            console.print(
                f"  wrote {len(event.written)} file(s)" + (f", refused {len(event.rejected)}" if event.rejected else "")
            )
        case events.Built(ok=False):
            errors = "".join(f"\n  [red]- {e}[/red]" for e in event.diagnostics[:3])
            console.print(f"  [red]build failed[/red]{errors}", highlight=False)
        case events.Rendered():
            errors = [r.error for r in event.routes if r.error][:3] + event.failed_checks[:3]
            lines = "".join(f"\n  [red]- {e}[/red]" for e in errors)
            console.print(f"  [green]built[/green], {len(event.routes)} page(s){lines}", highlight=False)
        case events.Judged():
            score = event.score if event.outcome == "ok" else f"unjudged ({event.outcome})"
            console.print(f"  screenshot score: {score}")
        case events.GUITested():
            console.print(f"  GUI test: {event.verdict} grade {event.grade} ({event.outcome})")
        case events.Recorded():
            mark = "[red]error[/red]" if event.has_error else "[green]ok[/green]"
            console.print(f"  recorded {event.kind} step {event.index}: {mark}")
        case events.Backtracked():
            target = f"step {event.to}" if event.to is not None else "a fresh start"
            console.print(f"[yellow]backtracking to {target}[/yellow]")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def unjudged(step: Any) -> bool:
    """An edit whose site rendered but got no judge score (the judge failed or answered unreadably)."""
    return step.kind == "edit" and bool(step.rendered) and step.judge.get("outcome") != "ok"


def print_summary(console: Console, store: Any, run_id: str) -> None:
    run = store.get_run(run_id)
    table = Table(
        "step", "kind", "parent", "build", "score", "gui", "error", "reward", "tokens", "seconds", title=f"run {run_id}"
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
            "unjudged" if unjudged(step) else _num(step.screenshot_score),
            (step.gui_verdict or "-") + (f" {_num(step.gui_grade)}" if step.gui_grade is not None else ""),
            "yes" if step.has_error else "",
            _num(step.reward),
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
    missing = sum(unjudged(s) for s in steps)
    note = f"; {missing} step(s) unjudged (the judge failed)" if missing else ""
    tokens = run.tokens_prompt + run.tokens_completion
    console.print(f"status {run.status}; best step {run.best_step}; tokens {tokens}{note}")
