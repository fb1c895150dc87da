"""The fake LLM server's script: rules, their replies, and loading them from YAML, JSON or Python data.

The script is a list of rules, tried in order; the first whose ``model`` (the request's ``model`` field,
which names the role) and ``match`` (a regex searched, DOTALL, in the request's message text) fit and
that has uses left answers::

    - model: coder
      match: "landing page"
      reply: "<boltArtifact ...>...</boltArtifact>"      # a plain string is {content: ...}
    - model: judge
      times: -1
      reply: {content: {score: 4, description: "ok"}}  # dicts/lists are sent as JSON text
    - times: 2
      reply: {status: 500}
    - cycle: [{status: 503}, {status: 503}, "ok"]       # flapping: one reply per use, in turn
      times: -1
    - reply: {raw: "<html>oops</html>", content_type: text/html}
    - reply: {raw_b64: "eyJjaG9pY2VzIjog/w==", truncate: 12}

A rule has these fields:

``model``, ``match``
    what it answers (both optional).
``times``
    how many requests it answers: a positive count or ``-1`` (unlimited); default 1 for ``reply``, the
    length of the list for ``cycle`` (each reply once; more wraps around).
``reply``
    one reply for every use; or ``cycle``: a list of replies used in turn.

A reply (a plain string is shorthand for ``{content: ...}``) has these fields:

``content``
    the assistant message's content: text, ``null``, or a dict/list sent as JSON text; with an error
    ``status`` it is the error message.
``status``
    HTTP status (default 200); 400 and up send an OpenAI-style error body.
``finish_reason``
    default ``stop``.
``usage``
    ``{prompt_tokens, completion_tokens}``; default: characters / 4; ``false`` leaves the field out.
``headers``
    extra response headers (e.g. ``Retry-After``).
``delay_s``
    wait this long before answering; ``hang: true`` waits until the client leaves or the server stops.
``raw``
    send this text (UTF-8) as the whole body instead of a completion or error body, with ``status``
    and ``content_type``; ``raw_b64``: the same for arbitrary bytes, base64-encoded (e.g. invalid UTF-8).
``content_type``
    the body's content type (default ``application/json``; a streamed answer is always SSE).
``truncate``
    send only the first N bytes of the body (Content-Length says N: a short, well-formed HTTP answer).
``drop_connection``
    send the status and headers (Content-Length of the whole body) and the first ``truncate`` bytes
    (default 0), then close the connection.

``truncate``, ``drop_connection``, ``raw`` and ``raw_b64`` apply to non-streamed answers only.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = ["Reply", "Rule", "ScriptError", "ScriptSource", "ScriptedUsage", "load_script", "parse_script", "rules_from"]

ScriptSource = Path | str | list[Any] | dict[str, Any]


class ScriptError(ValueError):
    """The script file or data is not a valid list of rules."""


class ScriptedUsage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)


class Reply(BaseModel):
    """What one use of a rule answers; a plain string is shorthand for ``{content: ...}``."""

    model_config = ConfigDict(extra="forbid")
    content: str | dict[str, Any] | list[Any] | None = ""
    status: int = Field(default=200, ge=100, le=599)
    delay_s: float = Field(default=0.0, ge=0)
    usage: ScriptedUsage | Literal[False] | None = None
    finish_reason: str = "stop"
    hang: bool = False
    headers: dict[str, str] = Field(default_factory=dict)
    raw: str | None = None
    raw_b64: str | None = None
    content_type: str | None = None
    truncate: int | None = Field(default=None, ge=0)
    drop_connection: bool = False

    @model_validator(mode="after")
    def _one_body(self) -> Reply:
        if self.raw is not None and self.raw_b64 is not None:
            raise ValueError("give raw or raw_b64, not both")
        if (self.raw is not None or self.raw_b64 is not None) and "content" in self.model_fields_set:
            raise ValueError("raw/raw_b64 is the whole body: leave content out")
        if self.raw_b64 is not None:
            try:
                base64.b64decode(self.raw_b64, validate=True)
            except (binascii.Error, ValueError) as error:
                raise ValueError(f"raw_b64 is not base64: {error}") from error
        return self

    def text(self) -> str | None:
        if self.content is None or isinstance(self.content, str):
            return self.content
        return json.dumps(self.content)

    def raw_body(self) -> bytes | None:
        """The scripted raw body, if any."""
        if self.raw_b64 is not None:
            return base64.b64decode(self.raw_b64)
        return None if self.raw is None else self.raw.encode("utf-8", errors="surrogatepass")


def _reply_shorthand(value: Any) -> Any:
    return {"content": value} if isinstance(value, str) else value


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str | None = None
    match: str | None = None
    times: int | None = None
    reply: Reply | None = None
    cycle: list[Reply] | None = None

    @field_validator("reply", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return _reply_shorthand(value)

    @field_validator("cycle", mode="before")
    @classmethod
    def _cycle_shorthand(cls, value: Any) -> Any:
        return [_reply_shorthand(v) for v in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _one_of(self) -> Rule:
        if (self.reply is None) == (self.cycle is None):
            raise ValueError("give reply or cycle (a list of replies), exactly one")
        if self.cycle is not None and not self.cycle:
            raise ValueError("cycle needs at least one reply")
        return self

    @property
    def uses(self) -> int:
        """Requests this rule answers (-1: unlimited)."""
        if self.times is not None:
            return self.times
        return len(self.cycle) if self.cycle is not None else 1

    def reply_for(self, use: int) -> Reply:
        """The reply for this rule's ``use``-th use (0-based)."""
        if self.cycle is not None:
            return self.cycle[use % len(self.cycle)]
        assert self.reply is not None
        return self.reply

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
    def _times(cls, value: int | None) -> int | None:
        if value is not None and (value == 0 or value < -1):
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
