"""The fake LLM server's script: rules, their replies, and loading them from YAML, JSON or Python data.

The script is a list of rules, tried in order; the first whose ``model`` (the request's ``model`` field,
which names the role) and ``match`` (a regex searched, DOTALL, in the request's message text) fit and
that has uses left (``times``, default 1, ``-1`` = unlimited) answers::

    - model: coder
      match: "landing page"
      reply: "<boltArtifact ...>...</boltArtifact>"
    - model: judge
      times: -1
      reply: {content: {score: 4, description: "ok"}}          # dicts/lists are sent as JSON text
    - times: 2
      reply: {status: 500}                        # also: delay_s, hang, usage, finish_reason, headers

``usage: false`` leaves the usage field out of the answer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = ["Reply", "Rule", "ScriptError", "ScriptSource", "ScriptedUsage", "load_script", "parse_script", "rules_from"]

ScriptSource = Path | str | list[Any] | dict[str, Any]


class ScriptError(ValueError):
    """The script file or data is not a valid list of rules."""


class ScriptedUsage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)


class Reply(BaseModel):
    """What one rule answers; a plain string is shorthand for ``{content: ...}``."""

    model_config = ConfigDict(extra="forbid")
    content: str | dict[str, Any] | list[Any] | None = ""
    status: int = Field(default=200, ge=100, le=599)
    delay_s: float = Field(default=0.0, ge=0)
    usage: ScriptedUsage | Literal[False] | None = None
    finish_reason: str = "stop"
    hang: bool = False
    headers: dict[str, str] = Field(default_factory=dict)

    def text(self) -> str | None:
        if self.content is None or isinstance(self.content, str):
            return self.content
        return json.dumps(self.content)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str | None = None
    match: str | None = None
    times: int = 1
    reply: Reply

    @field_validator("reply", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"content": value} if isinstance(value, str) else value

    @field_validator("match")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"bad regex {value!r}: {error}") from error
        return value

    @field_validator("times")
    @classmethod
    def _times(cls, value: int) -> int:
        if value == 0 or value < -1:
            raise ValueError("times must be -1 (unlimited) or a positive count")
        return value

    def fits(self, model: str, text: str) -> bool:
        if self.model is not None and self.model != model:
            return False
        return self.match is None or re.search(self.match, text, re.DOTALL) is not None


def parse_script(data: Any, source: str = "script") -> list[Rule]:
    """Validate rules from a list (or a mapping with a ``rules`` list); errors name the rule index."""
    if isinstance(data, dict) and "rules" in data:
        data = data["rules"]
    if not isinstance(data, list):
        raise ScriptError(f"{source}: expected a list of rules, got {type(data).__name__}")
    rules = []
    for index, raw in enumerate(data):
        try:
            rules.append(raw if isinstance(raw, Rule) else Rule.model_validate(raw))
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'rule'}: {e['msg']}" for e in error.errors())
            raise ScriptError(f"{source}: rule {index}: {problems}") from error
    return rules


def load_script(path: Path | str) -> list[Rule]:
    """Rules from a YAML or JSON file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as error:
        raise ScriptError(f"{path}: cannot read script: {error}") from error
    return parse_script(data, str(path))


def rules_from(script: ScriptSource) -> list[Rule]:
    """Rules from a file path (YAML or JSON) or from already-parsed data."""
    return load_script(script) if isinstance(script, Path | str) else parse_script(script)
