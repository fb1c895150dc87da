"""Pure verdicts on evaluated steps: the loop's assessment of one step, and the Step-GRPO step rewards.

No I/O here: everything works on values (a :class:`~webgen.feedback.evaluation.evaluator.StepEvaluation`, or
small records of recorded steps).

**Assessment** (the agent loop, ARCHITECTURE §4). ``assess`` reproduces the loop's rules: a step is an *error
step* when a stage failed or its screenshot score is at most ``max_bad_score`` (2); a step that rendered but
whose judge failed is *unjudged* (no score, not an error by itself).

===============  ================  =========  ========================================================  ========
kind             screenshot_score  gui_grade  has_error                                                 judged
===============  ================  =========  ========================================================  ========
``invalid``      None              None       always                                                    False
``edit``         judge's score     None       an error-severity check failed, or the judge saw an       judge
                 if it said ok                error (``has_error``, whatever its outcome), or there     said ok
                                              is no observation, or the score is <= max_bad_score
``gui_request``  the parent's      GUI grade  the parent was an error step (no parent: error), or the   parent's
                                              GUI test's outcome is not ``ok`` (or no test ran), or
                                              the inherited score is <= max_bad_score
``finish``       the parent's      None       the parent was an error step (no parent: error), or the   parent's
                                              inherited score is <= max_bad_score
===============  ================  =========  ========================================================  ========

**Step rewards** (Step-GRPO, ARCHITECTURE §7; WebGen-Agent ``generation.py`` and its reward manager):

===============  ========================================================================================
kind             reward
===============  ========================================================================================
``edit``         screenshot score (0-5; unjudged counts 0) + the GUI grade (1-5) of the ``gui_request`` step
                 that tested its files (the last one, if several); -1 if badly formatted (a repetition)
``gui_request``  None (its grade is credited to the edit it tested); -1 if badly formatted
``finish``       None; -1 if badly formatted
``invalid``      -1 (no usable action: prose, a refusal, a cut-off file, a failed coder call)
===============  ========================================================================================

So a reward is None or in [-1, 10]. A ``gui_request``/``finish`` reply is badly formatted when it is longer
than 400 characters or carries an artifact; any reply is when it degenerates into repetition.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict

from webgen.core.kinds import StepKind

if TYPE_CHECKING:
    from webgen.feedback.evaluation.evaluator import StepEvaluation

__all__ = [
    "BAD_FORMAT_REWARD",
    "MARKER_MAX_CHARS",
    "REWARD_RANGE",
    "Assessed",
    "Assessment",
    "RewardStep",
    "assess",
    "good_format",
    "is_error_step",
    "step_reward",
    "step_rewards",
]

BAD_FORMAT_REWARD = -1.0
#: a marker reply (gui_request / finish) longer than this is badly formatted (the published rule)
MARKER_MAX_CHARS = 400
REWARD_RANGE = (-1.0, 10.0)


# --- the loop's assessment --------------------------------------------------------------------------


class Assessed(Protocol):
    """What ``assess`` reads of the parent step (an :class:`Assessment`, or the loop's step summary)."""

    @property
    def screenshot_score(self) -> float | None: ...

    @property
    def has_error(self) -> bool: ...

    @property
    def judged(self) -> bool: ...


class Assessment(BaseModel):
    """The loop's verdict on one step (see the module's table)."""

    model_config = ConfigDict(frozen=True)

    screenshot_score: float | None = None
    gui_grade: float | None = None
    has_error: bool = False
    judged: bool = False


def is_error_step(*, stage_failed: bool, screenshot_score: float | None, max_bad_score: float = 2.0) -> bool:
    """Any stage failed, or the screenshot was graded at most ``max_bad_score`` (an unknown score is no verdict)."""
    return stage_failed or (screenshot_score is not None and screenshot_score <= max_bad_score)


def _edit(evaluation: StepEvaluation | None) -> tuple[float | None, bool, bool]:
    """(score, stage failed, judged) of an edit step."""
    observation = evaluation.observation if evaluation is not None else None
    judgment = evaluation.judgment if evaluation is not None else None
    judged = judgment is not None and judgment.outcome == "ok"
    score = judgment.score if judged and judgment is not None else None
    failed_checks = observation is not None and observation.has_error
    judge_saw_error = judgment is not None and judgment.has_error
    return score, failed_checks or judge_saw_error or observation is None, judged


def assess(
    kind: StepKind,
    evaluation: StepEvaluation | None,
    parent: Assessed | None,
    *,
    max_bad_score: float = 2.0,
) -> Assessment:
    """The loop's verdict on a step of ``kind`` from what evaluating it observed (see the module's table).

    ``parent`` is the assessment of the step it follows (``gui_request`` and ``finish`` steps write no files:
    they inherit its score, error and judged flags); ``evaluation`` may be None for steps that ran nothing.
    """
    gui_grade: float | None = None
    if kind == "invalid":
        score, failed, judged = None, True, False
    elif kind == "edit":
        score, failed, judged = _edit(evaluation)
    else:
        score = parent.screenshot_score if parent is not None else None
        failed = parent.has_error if parent is not None else True
        judged = parent.judged if parent is not None else False
        if kind == "gui_request":
            gui = evaluation.gui if evaluation is not None else None
            gui_grade = gui.grade if gui is not None else None
            failed = failed or gui is None or gui.outcome != "ok"
    has_error = is_error_step(stage_failed=failed, screenshot_score=score, max_bad_score=max_bad_score)
    return Assessment(screenshot_score=score, gui_grade=gui_grade, has_error=has_error, judged=judged)


# --- Step-GRPO rewards ------------------------------------------------------------------------------


class RewardStep(BaseModel):
    """What a step reward needs of one step of a trajectory (extra fields, e.g. a step summary's, are ignored)."""

    model_config = ConfigDict(frozen=True)

    index: int
    parent_index: int | None = None
    kind: StepKind
    screenshot_score: float | None = None
    gui_grade: float | None = None
    good_format: bool = True


def good_format(kind: StepKind, completion_chars: int, *, has_artifact: bool, repetitive: bool) -> bool:
    """The published format rule: a marker reply (``gui_request``/``finish``) must be at most 400 characters
    and carry no artifact; no reply may degenerate into repetition."""
    if repetitive:
        return False
    if kind in ("gui_request", "finish"):
        return completion_chars <= MARKER_MAX_CHARS and not has_artifact
    return True


def step_reward(
    kind: StepKind, screenshot_score: float | None, gui_grade: float | None = None, *, good_format: bool = True
) -> float | None:
    """One step's reward. For an ``edit`` step, ``gui_grade`` is the grade credited to it (from the GUI test
    of its files); for the other kinds it is ignored. None means no reward of its own (TRL skips it)."""
    if kind == "invalid" or not good_format:
        return BAD_FORMAT_REWARD
    if kind == "edit":
        return (screenshot_score or 0.0) + (gui_grade or 0.0)
    return None


def _tested_edit(step: RewardStep, by_index: dict[int, RewardStep]) -> int | None:
    """The edit step whose files a step saw: the nearest edit up its parent chain (markers and invalid
    replies change no files)."""
    seen: set[int] = set()
    current = by_index.get(step.parent_index) if step.parent_index is not None else None
    while current is not None and current.index not in seen:
        if current.kind == "edit":
            return current.index
        seen.add(current.index)
        current = by_index.get(current.parent_index) if current.parent_index is not None else None
    return None


def step_rewards(steps: Sequence[RewardStep]) -> list[float | None]:
    """Rewards of one trajectory's steps, in the given order (see the module's table).

    A ``gui_request`` step's grade is credited to the edit step whose files it tested (its nearest edit
    ancestor); when several tested the same edit, the last (highest index) counts.
    """
    by_index = {step.index: step for step in steps}
    credited: dict[int, tuple[int, float | None]] = {}
    for step in steps:
        if step.kind != "gui_request":
            continue
        target = _tested_edit(step, by_index)
        if target is not None and (target not in credited or credited[target][0] < step.index):
            credited[target] = (step.index, step.gui_grade)
    rewards: list[float | None] = []
    for step in steps:
        grade = credited.get(step.index, (0, None))[1] if step.kind == "edit" else None
        rewards.append(step_reward(step.kind, step.screenshot_score, grade, good_format=step.good_format))
    return rewards
