"""`python -m webgen` runs the CLI."""

from webgen.cli.app import app

app()
