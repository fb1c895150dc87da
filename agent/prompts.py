"""The coder's prompt templates (agent/prompts/*.j2)."""

from __future__ import annotations

from webgen import templates


def render(name: str, **values: object) -> str:
    """Render `agent/prompts/<name>` with `values`; a missing value is an error, never an empty string."""
    return templates.render("webgen.agent", name, **values)
