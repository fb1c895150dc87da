"""Prompt templates (Jinja2 files in agent/prompts/, StrictUndefined): the only place prompt text lives."""

from __future__ import annotations

from functools import cache
from importlib import resources

import jinja2


@cache
def _environment() -> jinja2.Environment:
    loader = jinja2.FunctionLoader(lambda name: (resources.files("webgen.agent") / "prompts" / name).read_text())
    return jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render(name: str, **values: object) -> str:
    """Render `agent/prompts/<name>` with `values`; a missing value is an error, never an empty string."""
    return _environment().get_template(name).render(**values).strip()
