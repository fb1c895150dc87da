"""The loop's decisions as pure functions: error steps, best-step selection, backtracking, routing.

Semantics follow the published WebGen-Agent (ARCHITECTURE §4): a step is an error step when any stage
failed or its screenshot score is at most 2; the best step is the max of (GUI grade, screenshot grade,
step index) among good steps (score >= 3 and no error), else among all; after `error_limit`
consecutive error steps along the current branch, the loop backtracks to the best step, or starts
fresh when no step is good.

Unjudged steps (the site rendered but the judge failed) are our addition, handled explicitly: such a
step has no score and is not an error step (so it breaks a run of errors); it is never good, so never a
backtracking target; and when no step is good, selection prefers unjudged steps to error steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from webgen.core.kinds import StepKind

Route = Literal["generate", "backtrack", "select_best"]


class StepSummary(BaseModel):
    """What the rules need to know of a recorded step."""

    model_config = ConfigDict(frozen=True)

    index: int
    parent_index: int | None = None
    kind: StepKind = "edit"
    screenshot_score: float | None = None
    gui_grade: float | None = None
    has_error: bool = False
    judged: bool = True  # False: its files rendered (or were inherited) but no judge score was had
    good_format: bool = True  # the published agent's format rule (markers short, no loop); -1 reward when False
    snapshot_id: str | None = None


def is_good(step: StepSummary, good_score: float = 3.0) -> bool:
    return not step.has_error and step.screenshot_score is not None and step.screenshot_score >= good_score


def is_unjudged(step: StepSummary) -> bool:
    """Not an error, but with no score to say whether it is good (the judge failed on it)."""
    return not step.has_error and step.screenshot_score is None


def select_best(steps: Sequence[StepSummary], good_score: float = 3.0) -> tuple[StepSummary | None, bool]:
    """(best step, whether it is good). Ties go to the later step. A finish step is a marker on its parent's
    files, not a state of its own, so it is a candidate only when nothing else is. With no good step,
    unjudged steps come before error steps."""
    if not steps:
        return None, False
    states = [s for s in steps if s.kind != "finish"] or list(steps)
    good = [s for s in states if is_good(s, good_score)]
    pool = good or [s for s in states if is_unjudged(s)] or states
    best = max(pool, key=lambda s: (s.gui_grade or 0.0, s.screenshot_score or 0.0, s.index))
    return best, bool(good)


def consecutive_errors(steps: Sequence[StepSummary], last_index: int | None) -> int:
    """Error steps in a row, walking the parent chain back from `last_index`."""
    by_index = {s.index: s for s in steps}
    count = 0
    current = by_index.get(last_index) if last_index is not None else None
    while current is not None and current.has_error:
        count += 1
        current = by_index.get(current.parent_index) if current.parent_index is not None else None
    return count


def route_after_record(
    *, kind: str, steps_taken: int, max_steps: int, errors_in_a_row: int, error_limit: int, gave_up: bool = False
) -> Route:
    """Where the loop goes after a step is recorded."""
    if kind == "finish" or steps_taken >= max_steps or gave_up:
        return "select_best"
    if errors_in_a_row >= error_limit:
        return "backtrack"
    return "generate"
