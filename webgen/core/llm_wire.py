"""What came back over the wire, sorted: a transport failure or a raw HTTP body becomes either a parsed
:class:`Reply` or a :class:`Failed` attempt that knows which retry allowance it draws on and which typed
:class:`~webgen.core.llm_errors.LLMError` it becomes when the allowance is spent.

The body is parsed here, not by the ``openai`` SDK, because the SDK's own handling of a bad 200 body is
uneven: it raises ``json.JSONDecodeError`` or ``UnicodeDecodeError``, returns the body as a ``str`` when
the content type is not JSON, or builds a ``ChatCompletion`` without validation, whose missing fields then
fail as ``AttributeError``.  Every shape of body maps to one outcome below.
"""

from __future__ import annotations

import email.utils
import errno
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import openai

from webgen.core.llm_errors import (
    EmptyCompletion,
    EndpointUnavailable,
    LLMError,
    LLMHTTPError,
    MalformedResponse,
    UnavailableKind,
    endpoint_name,
    excerpt,
    setting_hint,
)

__all__ = ["Allowance", "Failed", "Reply", "Wire", "parse_body"]

Allowance = Literal["connect", "timeout", "answer"]
"""Which retry allowance a failed attempt draws on: ``connect`` (nothing answered: refused, DNS, reset),
``timeout`` (no answer within ``timeout_s``), ``answer`` (HTTP 429 / 5xx or a malformed 200 body)."""

_CHAIN_LIMIT = 12


@dataclass(frozen=True)
class Reply:
    """The parts of a well-formed chat completion that the client uses."""

    text: str | None
    model: str | None
    finish_reason: str | None
    usage: tuple[int, int] | None
    refusal: str | None = None


@dataclass
class Failed(Exception):
    """One failed attempt: ``allowance`` is None when it must not be retried; ``error(attempts, waited_s)``
    is the typed error to raise when it is the last one."""

    allowance: Allowance | None
    label: str
    error: Callable[[int, float], LLMError]
    retry_after_s: float | None = None

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True)
class Wire:
    """Who is being called, for the messages."""

    url: str
    role: str
    timeout_s: float
    connect_timeout_s: float
    secret: str = ""

    # --- transport failures -----------------------------------------------------------------------

    def transport_failure(self, error: BaseException) -> Failed:
        """A failure from the SDK call itself (no HTTP body to read)."""
        if isinstance(error, openai.APIStatusError):
            return self._status(error)
        if isinstance(error, openai.APIResponseValidationError):
            return self.malformed(
                error.status_code,
                error.response.headers.get("content-type", ""),
                _safe_content(error.response),
                f"the SDK rejected the body ({error.message})",
            )
        chain = _chain(error)
        if isinstance(error, openai.APITimeoutError) or any(_named(e, "ReadTimeout", "WriteTimeout") for e in chain):
            if any(_named(e, "ConnectTimeout") for e in chain):
                cause = f"no connection within the {self.connect_timeout_s:g}s connect timeout"
                return self._unavailable("connect", "connect_timeout", cause)
            cause = f"no answer within the {self.timeout_s:g}s timeout"
            return self._unavailable("timeout", "timeout", cause)
        if isinstance(error, openai.APIConnectionError | OSError) or any(_named(e, "TransportError") for e in chain):
            kind, cause = _connection_kind(chain)
            return self._unavailable("connect", kind, cause)
        if isinstance(error, json.JSONDecodeError | UnicodeDecodeError):  # the SDK parsing a body itself
            return self.malformed(0, "", b"", f"the SDK could not read the body ({type(error).__name__}: {error})")
        return Failed(
            None,
            type(error).__name__,
            lambda attempts, waited_s: LLMError(
                f"{endpoint_name(self.role, self.url)}: {type(error).__name__}: {excerpt(str(error), self.secret)}"
            ),
        )

    def _unavailable(self, allowance: Allowance, kind: UnavailableKind, cause: str) -> Failed:
        if kind == "timeout":
            hint = f"is the model server overloaded or stuck? {setting_hint(self.role, 'timeout_s')} sets the limit"
        elif kind == "dns":
            hint = f"check the host name in {setting_hint(self.role, 'base_url')}"
        elif kind == "reset":
            hint = f"did the server crash or restart? check its log and {setting_hint(self.role, 'base_url')}"
        else:
            hint = f"is the server running? check {setting_hint(self.role, 'base_url')}"
        return Failed(
            allowance,
            cause,
            lambda attempts, waited_s: EndpointUnavailable(
                self.url, waited_s, attempts, cause, role=self.role, kind=kind, hint=hint
            ),
        )

    def _status(self, error: openai.APIStatusError) -> Failed:
        status = error.status_code
        body = error.body if error.body is not None else _safe_text_of(error.response)
        text = excerpt(body, self.secret)
        retryable = status == 429 or status >= 500
        return Failed(
            "answer" if retryable else None,
            f"HTTP {status}",
            lambda attempts, waited_s: LLMHTTPError(self.url, status, text, attempts, role=self.role),
            _retry_after_s(error.response.headers) if retryable else None,
        )

    def malformed(self, status: int, content_type: str, body: bytes, reason: str, *, foreign: bool = False) -> Failed:
        """``foreign``: the body does not look like a chat completion at all (wrong server or path?)."""
        piece = excerpt(body, self.secret)
        where = setting_hint(self.role, "base_url")
        hint = f"is {where} the /v1 root of an OpenAI-compatible server?" if foreign else ""
        return Failed(
            "answer",
            f"malformed response ({reason})",
            lambda attempts, waited_s: MalformedResponse(
                self.url, status, content_type, piece, attempts, reason, role=self.role, hint=hint
            ),
        )

    def empty(self, why: str) -> Failed:
        message = f"{endpoint_name(self.role, self.url)} returned {why}"
        return Failed(None, why, lambda attempts, waited_s: EmptyCompletion(message))

    # --- bodies -----------------------------------------------------------------------------------

    def reply(self, status: int, content_type: str, body: bytes) -> Reply:
        """The completion in a 2xx body, or raise :class:`Failed`."""
        try:
            return parse_body(body)
        except _Bad as bad:
            raise self.malformed(status, content_type, body, bad.reason, foreign=bad.foreign) from None
        except _Empty as empty:
            raise self.empty(empty.why) from None


class _Bad(Exception):
    def __init__(self, reason: str, foreign: bool = False) -> None:
        self.reason, self.foreign = reason, foreign


class _Empty(Exception):
    def __init__(self, why: str) -> None:
        self.why = why


def parse_body(body: bytes) -> Reply:
    """A chat-completion body, checked field by field; raises ``_Bad`` (malformed) or ``_Empty``."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _Bad(f"body is not valid UTF-8 (byte {error.start})") from None
    if not text.strip():
        raise _Bad("empty body", True)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        cut = error.msg.startswith("Unterminated string") or error.pos >= len(text.rstrip())
        bad = _Bad("JSON body ends early (truncated?)") if cut else _Bad(f"body is not JSON ({error.msg})", True)
        raise bad from None
    except (ValueError, RecursionError) as error:
        raise _Bad(f"body is not usable JSON ({type(error).__name__})") from None
    if not isinstance(data, dict):
        raise _Bad(f"JSON body is {_kind(data)}, not an object", True)
    choices = data.get("choices")
    if choices is None:
        raise _Bad("an error object instead of 'choices'" if "error" in data else "no 'choices' in the body", True)
    if not isinstance(choices, list):
        raise _Bad(f"'choices' is {_kind(choices)}, not a list")
    if not choices:
        raise _Empty("no choices")
    choice = choices[0]
    if not isinstance(choice, dict):
        raise _Bad(f"choices[0] is {_kind(choice)}, not an object")
    finish = choice.get("finish_reason") if isinstance(choice.get("finish_reason"), str) else None
    message = choice.get("message")
    if message is None:
        raise _Empty(f"a null message (finish_reason={finish})")
    if not isinstance(message, dict):
        raise _Bad(f"choices[0].message is {_kind(message)}, not an object")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise _Bad(f"choices[0].message.content is {_kind(content)}, not a string")
    refusal = message.get("refusal") if isinstance(message.get("refusal"), str) else None
    model = data.get("model") if isinstance(data.get("model"), str) else None
    return Reply(text=content, model=model, finish_reason=finish, usage=_usage(data.get("usage")), refusal=refusal)


def _usage(usage: Any) -> tuple[int, int] | None:
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (prompt, completion)):
        return None
    return prompt, completion


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _chain(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain and len(chain) < _CHAIN_LIMIT:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _named(error: BaseException, *names: str) -> bool:
    return any(cls.__name__ in names for cls in type(error).__mro__)


def _connection_kind(chain: list[BaseException]) -> tuple[UnavailableKind, str]:
    """Refused, DNS, reset or other, from the exception chain (``httpx``/``httpcore`` wrap the OSError)."""
    for error in chain:
        if isinstance(error, ConnectionRefusedError) or getattr(error, "errno", None) == errno.ECONNREFUSED:
            return "refused", "connection refused"
        if isinstance(error, socket.gaierror):
            return "dns", f"cannot resolve the host: {error.strerror or error}"
        if isinstance(error, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
            return "reset", "connection reset by the server"
    text = " ".join(str(error) for error in chain).lower()
    if "refused" in text:
        return "refused", "connection refused"
    if any(s in text for s in ("name or service not known", "name resolution", "nodename nor servname", "getaddrinfo")):
        return "dns", "cannot resolve the host"
    if any(_named(e, "RemoteProtocolError", "ReadError", "WriteError") for e in chain):
        detail = next((str(e) for e in chain if _named(e, "RemoteProtocolError", "ReadError", "WriteError")), "")
        return "reset", f"connection closed before the answer was complete: {excerpt(detail, limit=120)}"
    innermost = chain[-1] if chain else None
    return "connection", f"connection failed: {excerpt(str(innermost), limit=120) or type(innermost).__name__}"


def _safe_text_of(response: Any) -> str:
    try:
        return str(response.text)
    except Exception:  # an unread or undecodable body: the status says enough
        return ""


def _safe_content(response: Any) -> bytes:
    try:
        return bytes(response.content)
    except Exception:  # an unread stream
        return b""


def _retry_after_s(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date), if present."""
    if headers is None:
        return None
    if (millis := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
