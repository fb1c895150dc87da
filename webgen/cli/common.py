"""What every `webgen` command shares: the console, the global options, settings loading and one-line errors.

Exit codes: 0 ok; 1 the work failed (a failed run, a failing site); 2 bad input or setup; 130 interrupted.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from webgen.core.settings import Settings

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
console = Console()


class Options:
    """The global options (`webgen --config FILE --verbose ...`), set once by the app's callback."""

    config: Path | None = None
    verbose: bool = False


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print one line (the traceback too with --verbose) and return the exit to raise."""
    if Options.verbose and sys.exc_info()[0] is not None:
        console.print_exception()
    console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def settings(**overrides: object) -> Settings:
    try:
        return Settings.load(Options.config, **overrides)
    except (OSError, ValueError) as exc:
        raise fail(f"settings: {exc}") from exc
