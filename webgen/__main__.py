"""`python -m webgen` runs the CLI."""

from webgen.cli import app

app()
