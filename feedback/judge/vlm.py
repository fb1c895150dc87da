"""The vision judge: one VLM call grades a site's screenshots against the request it was built from.

The reply is read leniently (:mod:`webgen.feedback.judge.replies`) but never guessed: a reply without a usable
0-5 score is ``unparsable`` with ``score=None`` and the raw text kept, never a silent 0.  Model-side
failures are outcomes too, so a broken endpoint is never mistaken for a bad site:

=================  ==============================================================================
``ok``             a score in [0, 5] was read from the reply
``unparsable``     the endpoint answered, but with no usable score (an empty completion included)
``endpoint_error`` connection, timeout or HTTP failure after the client's retries
``budget``         the run's token budget is spent
=================  ==============================================================================

Only ``ok`` judgments are cached, keyed by (model, sha256 of the prompt, sha256 of the image bytes).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from webgen.core import templates
from webgen.core.llm import BudgetExceeded, EmptyCompletion, LLMClient, LLMError, Message, image_part, text_part
from webgen.feedback.judge.replies import (
    coerce_bool,
    coerce_text,
    extract_json,
    pick,
    read_score,
    strip_reasoning,
)

__all__ = [
    "SCORE_RANGE",
    "Judge",
    "JudgeOutcome",
    "Judgment",
    "JudgmentCache",
    "VLMJudge",
    "parse_judgment",
]

logger = logging.getLogger(__name__)

JudgeOutcome = Literal["ok", "unparsable", "endpoint_error", "budget"]
SCORE_RANGE = (0.0, 5.0)

#: Key names models use for each field (the published prompt's names included), compared lower-cased.
_ALIASES: dict[str, tuple[str, ...]] = {
    "has_error": ("has_error", "is_error", "haserror", "iserror", "error_found"),
    "error": ("error", "error_message", "errormessage", "error_description"),
    "description": ("description", "screenshot_description", "analysis", "summary"),
    "suggestions": ("suggestions", "improvement_suggestions", "suggestion", "improvements"),
    "score": ("score", "grade", "rating", "overall_score", "final_score", "appearance_score", "appearance_grade"),
}


class Judgment(BaseModel):
    """The judge's verdict on one set of screenshots."""

    model_config = ConfigDict(frozen=True)

    outcome: JudgeOutcome
    score: float | None = Field(default=None, ge=0, le=5, description="0-5; None unless outcome is ok")
    has_error: bool = Field(default=False, description="the judge saw a rendering or runtime error on the page")
    error: str = Field(default="", description="the error the judge saw on the page")
    description: str = ""
    suggestions: str = ""
    raw: str = Field(default="", description="the model's reply as it came")
    model: str = ""
    cached: bool = False
    failure: str = Field(default="", description="why the outcome is not ok (endpoint error, unreadable reply)")

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@runtime_checkable
class Judge(Protocol):
    def grade(self, instruction: str, screenshots: Sequence[bytes]) -> Judgment:
        """Grade PNG screenshots (first route's viewport first) against the site's request.

        Never raises for model failures: they are outcomes of the :class:`Judgment`.
        """
        ...


@runtime_checkable
class JudgmentCache(Protocol):
    """Where ok judgments are kept; :class:`webgen.storage.store.TrajectoryStore` is one."""

    def get_judgment(self, model: str, prompt_hash: str, image_hash: str) -> dict[str, Any] | None: ...

    def put_judgment(self, model: str, prompt_hash: str, image_hash: str, value: dict[str, Any]) -> None: ...


# --- prompts --------------------------------------------------------------------------------------


# --- parsing --------------------------------------------------------------------------------------


def _pick_field(data: dict[str, Any], field: str) -> Any:
    return pick(data, _ALIASES[field])


def _fields(data: dict[str, Any]) -> dict[str, Any]:
    error_value = _pick_field(data, "error")
    error = coerce_text(error_value)
    has_error = coerce_bool(_pick_field(data, "has_error"))
    if has_error is None:
        has_error = error_value if isinstance(error_value, bool) else bool(error)
    return {
        "has_error": has_error,
        "error": error,
        "description": coerce_text(_pick_field(data, "description")),
        "suggestions": coerce_text(_pick_field(data, "suggestions")),
    }


def parse_judgment(raw: str, *, model: str = "") -> Judgment:
    """Read a judge reply: JSON (however wrapped) or, failing that, a score written in prose."""
    text = strip_reasoning(raw)
    data = extract_json(text)
    fields = _fields(data) if data is not None else {"description": text}
    score = read_score(data, text, *SCORE_RANGE, aliases=_ALIASES["score"])
    if score is None:
        failure = "the reply has no usable 0-5 score"
        return Judgment(outcome="unparsable", raw=raw, model=model, failure=failure, **fields)
    return Judgment(outcome="ok", score=score, raw=raw, model=model, **fields)


# --- the judge ------------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class VLMJudge:
    """:class:`Judge` over any OpenAI-compatible vision model: one call per (uncached) grading."""

    def __init__(
        self,
        client: LLMClient,
        *,
        model: str,
        cache: JudgmentCache | None = None,
        max_images: int = 3,
        template: str = "judge.j2",
        max_tokens: int | None = 1024,
        temperature: float | None = 0.0,
    ) -> None:
        if max_images < 1:
            raise ValueError(f"max_images must be at least 1, not {max_images}")
        self.client, self.model, self.cache = client, model, cache
        self.max_images, self.template = max_images, template
        options = {"max_tokens": max_tokens, "temperature": temperature}
        self.options = {name: value for name, value in options.items() if value is not None}

    def grade(self, instruction: str, screenshots: Sequence[bytes]) -> Judgment:
        images = list(screenshots[: self.max_images])
        if not images:
            raise ValueError("VLMJudge.grade needs at least one screenshot")
        prompt = templates.render("webgen.feedback.judge", self.template, instruction=instruction, n_images=len(images))
        key = (self.model, _sha256(prompt.encode()), _sha256(b"".join(images)))
        if (hit := self._cached(key)) is not None:
            return hit
        judgment = self._ask(prompt, images)
        logger.info("judge %s: %s, score %s", self.model, judgment.outcome, judgment.score)
        if judgment.ok and self.cache is not None:
            self.cache.put_judgment(*key, judgment.model_dump(mode="json", exclude={"cached"}))
        return judgment

    def _ask(self, prompt: str, images: list[bytes]) -> Judgment:
        message = Message(role="user", content=[text_part(prompt), *(image_part(png) for png in images)])
        try:
            completion = self.client.complete([message], **self.options)
        except BudgetExceeded as error:
            return self._failed("budget", error)
        except EmptyCompletion as error:  # the endpoint answered, with nothing to read: a reply problem
            return self._failed("unparsable", error)
        except LLMError as error:
            return self._failed("endpoint_error", error)
        return parse_judgment(completion.text, model=self.model)

    def _failed(self, outcome: JudgeOutcome, error: LLMError) -> Judgment:
        logger.warning("judge %s: %s: %s", self.model, outcome, error)
        return Judgment(outcome=outcome, model=self.model, failure=f"{type(error).__name__}: {error}")

    def _cached(self, key: tuple[str, str, str]) -> Judgment | None:
        if self.cache is None:
            return None
        value = self.cache.get_judgment(*key)
        if value is None:
            return None
        try:
            return Judgment.model_validate({**value, "cached": True})
        except ValidationError as error:
            logger.warning("judge %s: ignoring a cached judgment that no longer validates: %s", self.model, error)
            return None
