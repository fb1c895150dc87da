"""The LLM seam: typed chat messages in, a :class:`Completion` out, over any OpenAI-compatible endpoint.

:class:`OpenAIClient` wraps the ``openai`` package with the SDK's own retries switched off, reads the raw
HTTP answer and parses the body itself (:mod:`webgen.core.llm_wire`), so that every transport or format
failure becomes one typed :class:`LLMError` and nothing else escapes :meth:`OpenAIClient.complete`:

* :class:`EndpointUnavailable` (``.kind``: ``refused`` / ``dns`` / ``connect_timeout`` / ``reset`` /
  ``connection``: nothing answered; ``timeout``: no answer within ``timeout_s``);
* :class:`LLMHTTPError`: an error status (other 4xx at once; 429 and 5xx after the retries);
* :class:`MalformedResponse`: a 2xx body that is not a chat completion (HTML, truncated or non-UTF-8
  JSON, no ``choices``, a message or content of the wrong type), with a short, safe excerpt;
* :class:`EmptyCompletion`: a well-formed answer without text (no choices, null message, null content);
* :class:`BudgetExceeded`: the run's token budget is spent (checked before sending).

Retries.  Each failed attempt draws on one of three allowances of :class:`~webgen.core.settings.ModelEndpoint`,
and the call gives up when the allowance it drew on is spent:

* nothing answered (refused, DNS, reset, connect timeout): ``connect_retries`` (default 2) retries with a
  short backoff (``backoff_s`` doubling, capped at 1 s), so a dead endpoint fails in about 2 s, not minutes;
* no answer within ``timeout_s`` (default 300 s): ``timeout_retries`` (default 0) retries, since each
  costs a whole ``timeout_s`` and the agent loop already restarts a failed step;
* an answer that is not usable but may be transient, HTTP 429 / 5xx or a malformed 2xx body (a proxy's
  error page, a cut-off body): ``max_retries`` (default 3) retries, exponential backoff with jitter from
  ``backoff_s`` (0.5 s) capped at ``backoff_cap_s`` (8 s), honouring ``Retry-After``.

Other 4xx and empty completions are not retried.  Completion text goes through
:func:`webgen.core.text.safe_text` (lone surrogates become U+FFFD, NUL characters are dropped).
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import random
import ssl
import threading
import time
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

import openai
from pydantic import BaseModel, ConfigDict, Field

from webgen.core.llm_errors import (
    BudgetExceeded,
    EmptyCompletion,
    EndpointUnavailable,
    LLMError,
    LLMHTTPError,
    MalformedResponse,
    UnavailableKind,
    endpoint_name,
)
from webgen.core.llm_wire import Allowance, Failed, Reply, Wire
from webgen.core.settings import ModelEndpoint
from webgen.core.text import safe_text

__all__ = [
    "BudgetExceeded",
    "Completion",
    "EmptyCompletion",
    "EndpointUnavailable",
    "ImagePart",
    "LLMClient",
    "LLMError",
    "LLMHTTPError",
    "MalformedResponse",
    "Message",
    "OpenAIClient",
    "TextPart",
    "TokenBudget",
    "UnavailableKind",
    "Usage",
    "image_part",
    "text_part",
]

logger = logging.getLogger(__name__)

CONNECT_BACKOFF_CAP_S = 1.0
_TRANSPORT_ERRORS = ("HTTPError", "TransportError", "StreamError", "InvalidURL")


# --- values ---------------------------------------------------------------------------------------


class TextPart(BaseModel):
    type: Literal["text"] = "text"
    text: str


class ImageURL(BaseModel):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(BaseModel):
    type: Literal["image_url"] = "image_url"
    image_url: ImageURL


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class Message(BaseModel):
    """One chat message; ``content`` is plain text or a list of text / image parts."""

    model_config = ConfigDict(frozen=True)
    role: Literal["system", "user", "assistant"]
    content: str | list[ContentPart]

    def text(self) -> str:
        """The text of the message, image parts left out."""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text for part in self.content if isinstance(part, TextPart))

    def to_openai(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


def text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def image_part(png: bytes) -> dict[str, Any]:
    """A PNG as an ``image_url`` part holding a base64 data URL."""
    encoded = base64.b64encode(png).decode("ascii")
    return {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{encoded}"}}


class Usage(BaseModel):
    model_config = ConfigDict(frozen=True)
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )


class Completion(BaseModel):
    """The assistant's text and what it cost."""

    model_config = ConfigDict(frozen=True)
    text: str
    usage: Usage
    model: str
    finish_reason: str | None = None
    latency_s: float = 0.0
    attempts: int = 1
    usage_estimated: bool = False


@runtime_checkable
class LLMClient(Protocol):
    def complete(self, messages: Sequence[Message | dict[str, Any]], **kwargs: Any) -> Completion:
        """kwargs go to the endpoint: temperature, max_tokens, response_format, stop, ..."""
        ...


# --- budget ---------------------------------------------------------------------------------------


class TokenBudget:
    """A token allowance shared by all roles of a run: :meth:`check` before a call, :meth:`charge` after."""

    def __init__(self, max_tokens: int | None) -> None:
        self.max_tokens = max_tokens
        self._spent = 0
        self._lock = threading.Lock()

    @property
    def spent(self) -> int:
        with self._lock:
            return self._spent

    @property
    def remaining(self) -> int | None:
        return None if self.max_tokens is None else max(0, self.max_tokens - self.spent)

    def charge(self, usage: Usage) -> None:
        with self._lock:
            self._spent += usage.total_tokens

    def check(self) -> None:
        spent = self.spent
        if self.max_tokens is not None and spent >= self.max_tokens:
            raise BudgetExceeded(f"token budget spent: {spent} of {self.max_tokens} tokens used")


# --- client ---------------------------------------------------------------------------------------


def _as_message(message: Message | dict[str, Any]) -> Message:
    return message if isinstance(message, Message) else Message.model_validate(message)


def _is_transport_error(error: Exception) -> bool:
    """An exception from the SDK's HTTP stack (``httpx`` or a fork) that the SDK did not wrap."""
    return any(cls.__name__ in _TRANSPORT_ERRORS for cls in type(error).__mro__)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context per process: building one costs ~30 ms of CPU, and every run makes three clients."""
    return ssl.create_default_context()


class OpenAIClient:
    """:class:`LLMClient` for one role's OpenAI-compatible endpoint, with retries, totals and a shared budget."""

    def __init__(
        self,
        endpoint: ModelEndpoint,
        *,
        budget: TokenBudget | None = None,
        role: str = "",
        backoff_s: float = 0.5,
        backoff_cap_s: float = 8.0,
        connect_backoff_cap_s: float = CONNECT_BACKOFF_CAP_S,
    ) -> None:
        self.endpoint = endpoint
        self.budget = budget
        self.role = role or endpoint.model
        self.backoff_s = backoff_s
        self.backoff_cap_s = backoff_cap_s
        self.connect_backoff_cap_s = connect_backoff_cap_s
        self.usage = Usage()
        self.calls = 0
        self._lock = threading.Lock()
        connect_s = min(endpoint.connect_timeout_s, endpoint.timeout_s)
        secret = endpoint.api_key.get_secret_value()
        self._wire = Wire(endpoint.base_url, self.role, endpoint.timeout_s, connect_s, secret)
        self._client = openai.OpenAI(
            base_url=endpoint.base_url,
            api_key=secret,
            timeout=openai.Timeout(endpoint.timeout_s, connect=connect_s),
            max_retries=0,
            http_client=openai.DefaultHttpxClient(verify=_tls_context()),
        )

    @property
    def allowances(self) -> dict[Allowance, int]:
        """Attempts allowed per kind of failure (see the module docstring)."""
        return {
            "connect": max(0, self.endpoint.connect_retries) + 1,
            "timeout": max(0, self.endpoint.timeout_retries) + 1,
            "answer": max(0, self.endpoint.max_retries) + 1,
        }

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAIClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def complete(self, messages: Sequence[Message | dict[str, Any]], **kwargs: Any) -> Completion:
        if kwargs.get("stream"):
            raise ValueError("OpenAIClient.complete does not stream")
        typed = [_as_message(m) for m in messages]
        if self.budget is not None:
            self.budget.check()
        started = time.monotonic()
        reply, attempts = self._create([m.to_openai() for m in typed], kwargs, started)
        completion = self._completion(reply, typed, attempts, time.monotonic() - started)
        self._account(completion.usage)
        if not completion.text:
            refused = f", refusal={safe_text(reply.refusal)[:200]!r}" if reply.refusal else ""
            raise EmptyCompletion(
                f"{endpoint_name(self.role, self.endpoint.base_url)} returned no content "
                f"(finish_reason={completion.finish_reason}{refused})"
            )
        return completion

    def _create(self, payload: list[dict[str, Any]], kwargs: dict[str, Any], started: float) -> tuple[Reply, int]:
        limits = self.allowances
        used: dict[Allowance, int] = dict.fromkeys(limits, 0)
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._attempt(payload, kwargs), attempt
            except Failed as failed:
                waited_s = time.monotonic() - started
                if failed.allowance is None:
                    raise failed.error(attempt, waited_s) from failed.__cause__
                used[failed.allowance] += 1
                if used[failed.allowance] >= limits[failed.allowance]:
                    raise failed.error(attempt, waited_s) from failed.__cause__
                delay = self._delay(failed, used[failed.allowance])
                logger.warning(
                    "%s: %s on attempt %d (%s allowance %d/%d); retrying in %.2fs",
                    self.role,
                    failed.label,
                    attempt,
                    failed.allowance,
                    used[failed.allowance],
                    limits[failed.allowance],
                    delay,
                )
                time.sleep(delay)

    def _attempt(self, payload: list[dict[str, Any]], kwargs: dict[str, Any]) -> Reply:
        """One request: the parsed reply, or raise :class:`Failed`."""
        try:
            raw = self._client.chat.completions.with_raw_response.create(
                model=self.endpoint.model, messages=payload, **kwargs
            )
            http = raw.http_response
            status, content_type, body = http.status_code, http.headers.get("content-type", ""), http.content
        except (openai.OpenAIError, OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
            raise self._wire.transport_failure(error) from error
        except Exception as error:
            if _is_transport_error(error):
                raise self._wire.transport_failure(error) from error
            raise
        return self._wire.reply(status, content_type, body)

    def _delay(self, failed: Failed, count: int) -> float:
        if failed.retry_after_s is not None:
            return min(failed.retry_after_s, self.backoff_cap_s)
        cap = self.connect_backoff_cap_s if failed.allowance == "connect" else self.backoff_cap_s
        delay = min(cap, self.backoff_s * 2 ** (count - 1))
        return delay * (0.5 + random.random() / 2)

    def _completion(self, reply: Reply, messages: list[Message], attempts: int, latency_s: float) -> Completion:
        text = safe_text(reply.text or "")
        if reply.usage is not None:
            usage, estimated = Usage(prompt_tokens=reply.usage[0], completion_tokens=reply.usage[1]), False
        else:
            prompt_chars = sum(len(m.text()) for m in messages)
            usage, estimated = Usage(prompt_tokens=prompt_chars // 4, completion_tokens=len(text) // 4), True
        return Completion(
            text=text,
            usage=usage,
            model=safe_text(reply.model) if reply.model else self.endpoint.model,
            finish_reason=safe_text(reply.finish_reason) if reply.finish_reason is not None else None,
            latency_s=latency_s,
            attempts=attempts,
            usage_estimated=estimated,
        )

    def _account(self, usage: Usage) -> None:
        with self._lock:
            self.usage = self.usage + usage
            self.calls += 1
        if self.budget is not None:
            self.budget.charge(usage)
