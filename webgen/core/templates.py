"""Prompt templates: Jinja2 files in a package's `prompts/` folder, with StrictUndefined (a missing value is
an error, never an empty string). The one place prompt text is loaded from, for every package."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import jinja2


@cache
def environment(package: str) -> jinja2.Environment:
    """The template environment over `<package>/prompts/` (e.g. "webgen.agent", "webgen.feedback")."""

    def load(name: str) -> str | None:
        resource = resources.files(package) / "prompts" / name
        return resource.read_text(encoding="utf-8") if resource.is_file() else None

    return jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def render(package: str, name: str, **values: Any) -> str:
    return environment(package).get_template(name).render(**values).strip()


def macros(package: str, name: str) -> Any:
    """A template's macros as a module (`macros(...).prompt(x)`)."""
    return environment(package).get_template(name).module
