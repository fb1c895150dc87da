"""The LLM seam: typed chat messages in, a :class:`Completion` out, over any OpenAI-compatible endpoint.

:class:`OpenAIClient` wraps the ``openai`` package with the SDK's own retries switched off and does its
own: exponential backoff with jitter (honouring ``Retry-After``) on 429, 5xx, timeouts and connection
errors; other 4xx fail at once.  Every failure is an :class:`LLMError`, so a caller can tell "the model
endpoint failed" (:class:`EndpointUnavailable`, :class:`LLMHTTPError`, :class:`EmptyCompletion`) or "the
run is out of tokens" (:class:`BudgetExceeded`) apart from anything wrong with the site being judged.
"""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

import openai
from pydantic import BaseModel, ConfigDict, Field

from webgen.settings import ModelEndpoint

__all__ = [
    "BudgetExceeded",
    "Completion",
    "EmptyCompletion",
    "EndpointUnavailable",
    "ImagePart",
    "LLMClient",
    "LLMError",
    "LLMHTTPError",
    "Message",
    "OpenAIClient",
    "TextPart",
    "TokenBudget",
    "Usage",
    "image_part",
    "text_part",
]

logger = logging.getLogger(__name__)

BODY_EXCERPT_CHARS = 500


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


# --- errors ---------------------------------------------------------------------------------------


class LLMError(Exception):
    """The model side failed (never the site under test)."""


class EndpointUnavailable(LLMError):
    """Connection refused, reset or timed out on every attempt."""

    def __init__(self, url: str, waited_s: float, attempts: int, cause: str) -> None:
        super().__init__(
            f"model endpoint {url} unavailable: {cause} (gave up after {attempts} attempt(s), {waited_s:.1f}s)"
        )
        self.url, self.waited_s, self.attempts = url, waited_s, attempts


class LLMHTTPError(LLMError):
    """The endpoint answered with an error status."""

    def __init__(self, url: str, status: int, body: str, attempts: int) -> None:
        super().__init__(f"model endpoint {url} answered HTTP {status} after {attempts} attempt(s): {body}")
        self.url, self.status, self.body, self.attempts = url, status, body, attempts


class BudgetExceeded(LLMError):
    """The run's token budget is spent."""


class EmptyCompletion(LLMError):
    """The endpoint answered without choices or without content."""


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


def _excerpt(body: object) -> str:
    """The error message of an OpenAI-style error body, else the body as text, cut to a readable length."""
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        body = body["message"]
    text = body if isinstance(body, str) else json.dumps(body, default=str)
    return text if len(text) <= BODY_EXCERPT_CHARS else text[:BODY_EXCERPT_CHARS] + "..."


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
    except (TypeError, ValueError):
        return None


def _retryable(error: openai.OpenAIError) -> bool:
    if isinstance(error, openai.APIConnectionError):
        return True
    return isinstance(error, openai.APIStatusError) and (error.status_code == 429 or error.status_code >= 500)


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
    ) -> None:
        self.endpoint = endpoint
        self.budget = budget
        self.role = role or endpoint.model
        self.backoff_s = backoff_s
        self.backoff_cap_s = backoff_cap_s
        self.usage = Usage()
        self.calls = 0
        self._lock = threading.Lock()
        self._client = openai.OpenAI(
            base_url=endpoint.base_url,
            api_key=endpoint.api_key.get_secret_value(),
            timeout=endpoint.timeout_s,
            max_retries=0,
        )

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
        response, attempts = self._create([m.to_openai() for m in typed], kwargs, started)
        completion = self._completion(response, typed, attempts, time.monotonic() - started)
        self._account(completion.usage)
        if not completion.text:
            raise EmptyCompletion(
                f"{self.role}: {self.endpoint.base_url} returned no content (finish_reason={completion.finish_reason})"
            )
        return completion

    def _create(self, payload: list[dict[str, Any]], kwargs: dict[str, Any], started: float) -> tuple[Any, int]:
        attempts = max(0, self.endpoint.max_retries) + 1
        for attempt in range(1, attempts + 1):
            try:
                response = self._client.chat.completions.create(model=self.endpoint.model, messages=payload, **kwargs)
                return response, attempt
            except openai.OpenAIError as error:
                if not _retryable(error) or attempt == attempts:
                    raise self._translate(error, attempt, time.monotonic() - started) from error
                delay = self._delay(attempt, error)
                logger.warning(
                    "%s: %s on attempt %d/%d; retrying in %.2fs", self.role, _describe(error), attempt, attempts, delay
                )
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, error: openai.OpenAIError) -> float:
        hinted = _retry_after_s(getattr(getattr(error, "response", None), "headers", None))
        if hinted is not None:
            return min(hinted, self.backoff_cap_s)
        delay = min(self.backoff_cap_s, self.backoff_s * 2 ** (attempt - 1))
        return delay * (0.5 + random.random() / 2)

    def _translate(self, error: openai.OpenAIError, attempts: int, waited_s: float) -> LLMError:
        url = self.endpoint.base_url
        if isinstance(error, openai.APITimeoutError):
            cause = f"no answer within the {self.endpoint.timeout_s:g}s timeout"
            return EndpointUnavailable(url, waited_s, attempts, cause)
        if isinstance(error, openai.APIConnectionError):
            return EndpointUnavailable(url, waited_s, attempts, f"connection failed ({error.__cause__ or error})")
        if isinstance(error, openai.APIStatusError):
            body = error.body if error.body is not None else error.response.text
            return LLMHTTPError(url, error.status_code, _excerpt(body), attempts)
        return LLMError(f"{self.role}: {url}: {error}")

    def _completion(self, response: Any, messages: list[Message], attempts: int, latency_s: float) -> Completion:
        choices = getattr(response, "choices", None) or []
        if not choices:
            raise EmptyCompletion(f"{self.role}: {self.endpoint.base_url} returned no choices")
        choice = choices[0]
        text = (choice.message.content if choice.message is not None else None) or ""
        usage, estimated = _usage(response, messages, text)
        return Completion(
            text=text,
            usage=usage,
            model=getattr(response, "model", None) or self.endpoint.model,
            finish_reason=choice.finish_reason,
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


def _usage(response: Any, messages: list[Message], text: str) -> tuple[Usage, bool]:
    reported = getattr(response, "usage", None)
    if reported is not None:
        return Usage(
            prompt_tokens=reported.prompt_tokens or 0, completion_tokens=reported.completion_tokens or 0
        ), False
    prompt_chars = sum(len(m.text()) for m in messages)
    return Usage(prompt_tokens=prompt_chars // 4, completion_tokens=len(text) // 4), True


def _describe(error: openai.OpenAIError) -> str:
    if isinstance(error, openai.APIStatusError):
        return f"HTTP {error.status_code}"
    if isinstance(error, openai.APITimeoutError):
        return "timeout"
    return type(error).__name__
