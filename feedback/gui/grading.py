"""The model calls around a GUI test: derive the agent's test instruction from a task, grade its transcript.

Neither raises for model failures.  Deriving falls back to a deterministic instruction built from the task
and its test cases, so the run goes on; grading keeps the agent's verdict, leaves ``grade`` None and says
why in ``error`` (the agent run's own ``outcome`` is never changed).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from webgen.core import templates
from webgen.core.llm import LLMClient, LLMError, Message
from webgen.feedback.gui.types import GUITestResult
from webgen.feedback.judge.replies import (
    coerce_bool,
    coerce_text,
    extract_json,
    pick,
    read_score,
    strip_reasoning,
)

__all__ = ["GRADE_RANGE", "derive_test_instruction", "fallback_test_instruction", "grade_transcript"]

logger = logging.getLogger(__name__)

GRADE_RANGE = (1.0, 5.0)
EXCERPT_CHARS = 200
_TAGGED = re.compile(r"<(test|gui_test|instruction|boltAction)\b[^>]*>(.*?)</\1\s*>", re.DOTALL | re.IGNORECASE)
_GRADE_KEYS = ("grade", "score", "rating", "overall_grade", "final_grade")
_SUGGESTION_KEYS = ("improvement_suggestions", "suggestions", "improvements")
_PASSED_KEYS = ("test_passed", "passed", "success")


# --- deriving the test instruction ----------------------------------------------------------------


def _test_cases(ui_test_cases: list[dict[str, Any]] | None) -> list[dict[str, str]]:
    """The benchmark's ``ui_instruct`` entries as {task, expected}; entries without a task are left out."""
    cases = []
    for case in ui_test_cases or []:
        task = coerce_text(case.get("task"))
        expected = coerce_text(case.get("expected_result") or case.get("expected"))
        if task:
            cases.append({"task": task, "expected": expected})
    return cases


def _macro(name: str, *args: Any) -> str:
    module = templates.macros("webgen.feedback.gui", "gui_instruction.j2")
    return str(getattr(module, name)(*args)).strip()


def _with_suffix(body: str) -> str:
    return f"{body.strip()}\n\n{_macro('suffix')}"


def fallback_test_instruction(instruction: str, ui_test_cases: list[dict[str, Any]] | None = None) -> str:
    """The instruction used when the model cannot write one: the task and its test cases, plus the suffix."""
    return _with_suffix(_macro("fallback", instruction.strip(), _test_cases(ui_test_cases)))


def _instruction_from(reply: str) -> str:
    """The last tagged block (``<test>...</test>``) of a reply, else the whole reply; "" if empty."""
    text = strip_reasoning(reply)
    tagged = _TAGGED.findall(text)
    if tagged:
        return tagged[-1][1].strip()
    return text


def derive_test_instruction(
    client: LLMClient, *, instruction: str, ui_test_cases: list[dict[str, Any]] | None, max_tokens: int = 1024
) -> str:
    """A compact GUI test instruction (appearance checks, then the main flows) for the task, with the
    credentials rule and the YES / PARTIAL / NO rule appended."""
    cases = _test_cases(ui_test_cases)
    prompt = _macro("prompt", instruction.strip(), cases)
    try:
        completion = client.complete([Message(role="user", content=prompt)], temperature=0.0, max_tokens=max_tokens)
    except LLMError as error:
        logger.warning("GUI test instruction: model failed (%s: %s); using the fallback", type(error).__name__, error)
        return fallback_test_instruction(instruction, ui_test_cases)
    body = _instruction_from(completion.text)
    if not body:
        logger.warning("GUI test instruction: empty instruction in the reply %r; using the fallback", completion.text)
        return fallback_test_instruction(instruction, ui_test_cases)
    return _with_suffix(body)


# --- grading the transcript -----------------------------------------------------------------------


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "..."


def _grading_failed(result: GUITestResult, why: str) -> GUITestResult:
    note = f"grading failed: {why}"
    logger.warning("GUI transcript: %s", note)
    error = f"{result.error}; {note}" if result.error else note
    return result.model_copy(update={"grade": None, "error": error})


def _graded(result: GUITestResult, reply: str) -> GUITestResult:
    text = strip_reasoning(reply)
    data = extract_json(text)
    grade = read_score(data, text, *GRADE_RANGE, aliases=_GRADE_KEYS)
    if grade is None:
        return _grading_failed(result, f"no usable 1-5 grade in the reply: {_excerpt(reply)!r}")
    suggestions = coerce_text(pick(data, _SUGGESTION_KEYS)) if data is not None else text
    if result.verdict == "YES":
        suggestions = ""
    passed = coerce_bool(pick(data, _PASSED_KEYS)) if data is not None else None
    if passed is not None and result.verdict is not None and passed != (result.verdict == "YES"):
        logger.info("GUI transcript: grader says test_passed=%s, the agent answered %s", passed, result.verdict)
    return result.model_copy(update={"grade": grade, "suggestions": suggestions})


def grade_transcript(
    client: LLMClient, *, instruction: str, result: GUITestResult, max_tokens: int = 1024
) -> GUITestResult:
    """A copy of ``result`` with ``grade`` (1-5) and ``suggestions`` from one model call over its transcript."""
    transcript = result.transcript()
    if not transcript.strip():
        return _grading_failed(result, "the agent left no transcript to grade")
    verdict = result.verdict or "none given"
    prompt = templates.render(
        "webgen.feedback.gui", "gui_grade.j2", instruction=instruction.strip(), transcript=transcript, verdict=verdict
    )
    try:
        completion = client.complete([Message(role="user", content=prompt)], temperature=0.0, max_tokens=max_tokens)
    except LLMError as error:
        return _grading_failed(result, f"{type(error).__name__}: {error}")
    return _graded(result, completion.text)
