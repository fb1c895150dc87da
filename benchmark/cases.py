"""WebGen-Bench test cases and their scoring: pure functions, no I/O.

Two scorings of the same final answer are kept side by side:
- **robust** (ours): the last standalone YES / PARTIAL / NO word of the agent's ANSWER; none is NO, with the
  reason kept as the case's error;
- **substring** (the benchmark's `compute_acc.py`): the whole last assistant message, Thought included, is
  searched for the substring "YES" (1), else "PARTIAL" (0.5), else NO. So "... the answer is not YES" is a YES.
"""

from __future__ import annotations

from pydantic import BaseModel

from webgen.benchmark.results import Verdict
from webgen.feedback.gui.types import verdict_from_text

SCORES: dict[str, float] = {"YES": 1.0, "PARTIAL": 0.5}


class CaseSpec(BaseModel):
    """One ui_instruct entry of a task, with the categories the report groups by."""

    task_id: str
    case_index: int
    task: str
    expected_result: str
    instruction_category: str = ""
    case_category: str = ""


def _primary(category: object) -> str:
    return str(category.get("primary_category", "")) if isinstance(category, dict) else ""


def cases_of(task_id: str, category: dict, ui_test_cases: list[dict]) -> list[CaseSpec]:
    """The test cases of one task (WebGen-Bench's `ui_instruct`), in order; malformed entries are skipped."""
    found = []
    for index, case in enumerate(ui_test_cases):
        if not isinstance(case, dict) or not str(case.get("task", "")).strip():
            continue
        found.append(
            CaseSpec(
                task_id=task_id,
                case_index=index,
                task=str(case["task"]),
                expected_result=str(case.get("expected_result", "")),
                instruction_category=_primary(category),
                case_category=_primary(case.get("task_category")),
            )
        )
    return found


def substring_verdict(last_message: str | None) -> Verdict:
    """The benchmark's own scoring of the last assistant message: a plain, case-sensitive substring test."""
    text = last_message or ""
    if "YES" in text:
        return "YES"
    if "PARTIAL" in text:
        return "PARTIAL"
    return "NO"


def robust_verdict(answer: str | None) -> tuple[Verdict, str | None]:
    """Our reading of the ANSWER text: (verdict, error); no verdict word at all is NO with the reason."""
    found = verdict_from_text(answer or "")
    if found is None:
        shown = (answer or "").strip().replace("\n", " ")[:120]
        return "NO", f"unparsable verdict: {shown!r}" if shown else "the agent gave no answer"
    return found, None


def score(verdict: str) -> float:
    """YES 1, PARTIAL 0.5, anything else (NO, START_FAILED) 0."""
    return SCORES.get(verdict, 0.0)
