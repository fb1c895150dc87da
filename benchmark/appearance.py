"""The appearance grade of WebGen-Bench: a vision judge over the first 1024x768 viewport, 1-5.

Our own prompt (`prompts/appearance.j2`) asks for the benchmark's four criteria (rendering, content relevance,
layout harmony, modernness) and an ``Analysis: ... Grade: N`` answer. The reply is read leniently (a JSON field,
"Grade: 4", "4/5") with the judge's reply helpers, never guessed: no readable 1-5 grade is ``unparsable``.
Ok grades are cached in the store's judgment cache, keyed by (model, prompt hash, image hash), like the step
judge's; a model-side failure is an outcome too, so a down endpoint is never taken for an ugly site.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Literal

from pydantic import BaseModel

from webgen.core import templates
from webgen.core.llm import BudgetExceeded, EmptyCompletion, LLMClient, LLMError, Message, image_part, text_part
from webgen.feedback.judge.replies import extract_json, read_score, strip_reasoning
from webgen.feedback.judge.vlm import JudgmentCache

log = logging.getLogger(__name__)

AppearanceOutcome = Literal["ok", "unparsable", "endpoint_error", "budget"]
_ALIASES = ("grade", "appearance_grade", "score", "rating", "final_grade")


class AppearanceGrade(BaseModel):
    outcome: AppearanceOutcome
    grade: int | None = None  # 1-5 when ok
    raw: str = ""
    model: str = ""
    cached: bool = False
    failure: str = ""
    tokens: int = 0
    calls: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


def parse_grade(raw: str) -> int | None:
    """The 1-5 grade of a reply ("Grade: 4", a JSON ``grade``, "4/5"); None when there is no usable one."""
    text = strip_reasoning(raw)
    value = read_score(extract_json(text), text, 1.0, 5.0, aliases=_ALIASES)
    return None if value is None else int(round(value))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class AppearanceJudge:
    """One call per (uncached) screenshot; never raises for model failures."""

    def __init__(self, client: LLMClient, *, model: str, cache: JudgmentCache | None = None) -> None:
        self.client, self.model, self.cache = client, model, cache

    def grade(self, instruction: str, screenshot: bytes) -> AppearanceGrade:
        prompt = templates.render("webgen.benchmark", "appearance.j2", instruction=instruction)
        key = (self.model, _sha256(prompt.encode()), _sha256(screenshot))
        if self.cache is not None and (hit := self.cache.get_judgment(*key)) is not None:
            try:
                return AppearanceGrade.model_validate({**hit, "cached": True, "tokens": 0, "calls": 0})
            except ValueError:
                log.warning("appearance %s: ignoring a cached grade that no longer validates", self.model)
        message = Message(role="user", content=[text_part(prompt), image_part(screenshot)])
        try:
            completion = self.client.complete([message], max_tokens=1024, temperature=0.0)
        except BudgetExceeded as error:
            return self._failed("budget", error)
        except EmptyCompletion as error:
            return self._failed("unparsable", error, calls=1)
        except LLMError as error:
            return self._failed("endpoint_error", error, calls=1)
        grade = parse_grade(completion.text)
        tokens = completion.usage.total_tokens
        if grade is None:
            failure = "the reply has no 1-5 grade"
            return AppearanceGrade(
                outcome="unparsable", raw=completion.text, model=self.model, failure=failure, tokens=tokens, calls=1
            )
        result = AppearanceGrade(
            outcome="ok", grade=grade, raw=completion.text, model=self.model, tokens=tokens, calls=1
        )
        if self.cache is not None:
            self.cache.put_judgment(*key, result.model_dump(mode="json", exclude={"cached", "tokens", "calls"}))
        log.info("appearance %s: grade %s", self.model, grade)
        return result

    def _failed(self, outcome: AppearanceOutcome, error: LLMError, calls: int = 0) -> AppearanceGrade:
        log.warning("appearance %s: %s: %s", self.model, outcome, error)
        return AppearanceGrade(
            outcome=outcome, model=self.model, failure=f"{type(error).__name__}: {error}", calls=calls
        )
