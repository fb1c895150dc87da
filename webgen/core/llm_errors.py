"""The LLM seam's typed errors (re-exported by :mod:`webgen.core.llm`).

Every message is one line that starts with the role and the endpoint URL (``coder endpoint
http://127.0.0.1:8000/v1 ...``) and, where there is one, ends with a hint at the fix; body excerpts are
short, single-line and safe to store (no control characters, no lone surrogates, no API key).
"""

from __future__ import annotations

import json
import re
from typing import Literal

from webgen.core.text import safe_text

__all__ = [
    "BudgetExceeded",
    "EmptyCompletion",
    "EndpointUnavailable",
    "LLMError",
    "LLMHTTPError",
    "MalformedResponse",
    "UnavailableKind",
    "endpoint_name",
    "excerpt",
    "setting_hint",
]

BODY_EXCERPT_CHARS = 300
ROLES_WITH_SETTINGS = ("coder", "judge", "gui")

UnavailableKind = Literal["refused", "dns", "connect_timeout", "reset", "connection", "timeout"]
"""Why an endpoint is unavailable: the first four are "nothing answered" (fast fail), ``timeout`` is "it
accepted the request but did not answer within ``timeout_s``"."""

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]+")


def endpoint_name(role: str, url: str) -> str:
    return f"{role} endpoint {url}" if role else f"model endpoint {url}"


def setting_hint(role: str, field: str) -> str:
    """The environment variable that sets ``field`` of this role's endpoint (``WEBGEN_CODER__BASE_URL``)."""
    if role in ROLES_WITH_SETTINGS:
        return f"WEBGEN_{role.upper()}__{field.upper()}"
    return f"the endpoint's {field} setting"


def excerpt(body: object, secret: str = "", limit: int = BODY_EXCERPT_CHARS) -> str:
    """A short, one-line, storable excerpt of a body (bytes, text or JSON data); an OpenAI-style error
    body gives its message.  ``secret`` (the API key), if it appears, is masked."""
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            body = inner["message"]
    if isinstance(body, bytes | bytearray):
        text = bytes(body[: limit * 4]).decode("utf-8", errors="replace")
    elif isinstance(body, str):
        text = body
    else:
        try:
            text = json.dumps(body, default=str)
        except (TypeError, ValueError, RecursionError):
            text = repr(body)
    text = safe_text(_CONTROL_RE.sub(" ", text[: limit * 2])).strip()
    if secret and len(secret) >= 8:
        text = text.replace(secret, "***")
    return text if len(text) <= limit else text[:limit] + "..."


class LLMError(Exception):
    """The model side failed (never the site under test)."""


class EndpointUnavailable(LLMError):
    """Nothing usable came back: connection refused, DNS failure, reset, or no answer within the timeout.

    ``kind`` says which (:data:`UnavailableKind`), so a caller can tell "the server is down" (``refused``,
    ``dns``, ``connect_timeout``, ``reset``, ``connection``) from "the server is too slow" (``timeout``).
    """

    def __init__(
        self,
        url: str,
        waited_s: float,
        attempts: int,
        cause: str,
        *,
        role: str = "",
        kind: UnavailableKind = "connection",
        hint: str = "",
    ) -> None:
        tried = f"after {attempts} attempt(s) in {waited_s:.1f}s"
        if kind in ("timeout", "reset"):
            message = f"{endpoint_name(role, url)} is unavailable ({cause}) {tried}"
        else:
            message = f"{endpoint_name(role, url)} is unreachable ({cause}): unavailable {tried}"
        if hint:
            message += f"; {hint}"
        super().__init__(message)
        self.url, self.waited_s, self.attempts, self.cause = url, waited_s, attempts, cause
        self.role, self.kind = role, kind


class LLMHTTPError(LLMError):
    """The endpoint answered with an error status (4xx at once; 429 and 5xx after the retries)."""

    def __init__(self, url: str, status: int, body: str, attempts: int, *, role: str = "") -> None:
        super().__init__(f"{endpoint_name(role, url)} answered HTTP {status} after {attempts} attempt(s): {body}")
        self.url, self.status, self.body, self.attempts, self.role = url, status, body, attempts, role


class MalformedResponse(LLMError):
    """The endpoint answered, but not with a chat completion: not JSON, cut short, not UTF-8, no
    ``choices``, a message or content of the wrong type.  ``excerpt`` is a short, safe piece of the body."""

    def __init__(
        self,
        url: str,
        status: int,
        content_type: str,
        excerpt: str,
        attempts: int,
        reason: str,
        *,
        role: str = "",
        hint: str = "",
    ) -> None:
        super().__init__(
            f"{endpoint_name(role, url)} sent a malformed response ({reason}; HTTP {status}, "
            f"content-type {content_type or 'none'!r}) after {attempts} attempt(s): {excerpt!r}"
            + (f"; {hint}" if hint else "")
        )
        self.url, self.status, self.content_type, self.excerpt = url, status, content_type, excerpt
        self.attempts, self.reason, self.role = attempts, reason, role


class BudgetExceeded(LLMError):
    """The run's token budget is spent."""


class EmptyCompletion(LLMError):
    """The endpoint answered a well-formed completion without text: no choices, a null message or null
    (or empty) content.  Not retried: the same request tends to get the same nothing."""
