"""Pure tests of the step verdicts (webgen.feedback.evaluation.assess) and the cascaded reward over a StepEvaluation."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from webgen.core.types import BuildResult, CheckResult, Observation, PageVisit
from webgen.feedback.evaluation.assess import (
    REWARD_RANGE,
    Assessment,
    RewardStep,
    assess,
    good_format,
    step_reward,
    step_rewards,
)
from webgen.feedback.evaluation.evaluator import StepEvaluation
from webgen.feedback.evaluation.rewards import RewardWeights, cascaded_from_evaluation, cascaded_reward
from webgen.feedback.gui.types import GUITestResult
from webgen.feedback.judge.vlm import Judgment
from webgen.feedback.site.workspace import ApplyReport


def observation(*, build_ok: bool = True, failed_check: str | None = None, page_error: bool = False) -> Observation:
    pages = [PageVisit(route="/", url="http://127.0.0.1:1/", ok=True, page_errors=["boom"] if page_error else [])]
    checks = [CheckResult(name="build", passed=build_ok)]
    if failed_check:
        checks.append(CheckResult(name=failed_check, passed=False))  # type: ignore[arg-type]
    checks.append(CheckResult(name="interactive", passed=False, severity="warning"))  # a warning is no error
    if not build_ok:
        return Observation(build=BuildResult(ok=False, seconds=0.1), checks=checks)
    return Observation(build=BuildResult(ok=True, seconds=0.1), served=True, pages=pages, checks=checks)


def judged(score: float, *, has_error: bool = False) -> Judgment:
    return Judgment(outcome="ok", score=score, has_error=has_error)


def evaluation(
    obs: Observation | None = None, judgment: Judgment | None = None, gui: GUITestResult | None = None
) -> StepEvaluation:
    applied = ApplyReport(written=["src/App.tsx"], unchanged=[], rejected=[])
    return StepEvaluation(applied=applied, observation=obs, judgment=judgment, gui=gui)


GOOD = Assessment(screenshot_score=4.0, has_error=False, judged=True)
BAD = Assessment(screenshot_score=1.0, has_error=True, judged=True)
UNJUDGED = Assessment(screenshot_score=None, has_error=False, judged=False)
GUI_OK = GUITestResult(outcome="ok", verdict="YES", grade=5.0)
GUI_TIMEOUT = GUITestResult(outcome="timeout", verdict=None)
DOWN = Judgment(outcome="endpoint_error", failure="ConnectError")


# --- assess: every kind (the module docstring's table) ---------------------------------------------------
# (kind, evaluation, parent) -> (screenshot_score, gui_grade, has_error, judged)
CASES: dict[str, tuple[Any, StepEvaluation | None, Assessment | None, tuple]] = {
    "invalid": ("invalid", None, GOOD, (None, None, True, False)),
    "invalid-even-with-an-evaluation": (
        "invalid",
        evaluation(observation(), judged(5)),
        None,
        (None, None, True, False),
    ),
    "edit-good": ("edit", evaluation(observation(), judged(4)), None, (4.0, None, False, True)),
    "edit-score-3-is-not-an-error": ("edit", evaluation(observation(), judged(3)), None, (3.0, None, False, True)),
    "edit-score-2-is-an-error": ("edit", evaluation(observation(), judged(2)), None, (2.0, None, True, True)),
    "edit-score-0": ("edit", evaluation(observation(), judged(0)), None, (0.0, None, True, True)),
    "edit-judge-saw-an-error": (
        "edit",
        evaluation(observation(), judged(5, has_error=True)),
        None,
        (5.0, None, True, True),
    ),
    "edit-failed-check": (
        "edit",
        evaluation(observation(failed_check="blank_page"), judged(4)),
        None,
        (4.0, None, True, True),
    ),
    "edit-build-failed": ("edit", evaluation(observation(build_ok=False)), None, (None, None, True, False)),
    "edit-judge-down-is-unjudged": ("edit", evaluation(observation(), DOWN), None, (None, None, False, False)),
    "edit-unparsable-is-unjudged": (
        "edit",
        evaluation(observation(), Judgment(outcome="unparsable")),
        None,
        (None, None, False, False),
    ),
    "edit-unparsable-that-saw-an-error": (  # the judge's has_error counts whatever its outcome (kept as it was)
        "edit",
        evaluation(observation(), Judgment(outcome="unparsable", has_error=True)),
        None,
        (None, None, True, False),
    ),
    "edit-rendered-no-judgment": ("edit", evaluation(observation()), None, (None, None, False, False)),
    "edit-no-observation": ("edit", evaluation(None, None), None, (None, None, True, False)),
    "edit-no-evaluation": ("edit", None, None, (None, None, True, False)),
    "edit-ignores-parent": ("edit", evaluation(observation(), judged(4)), BAD, (4.0, None, False, True)),
    "gui-ok": ("gui_request", evaluation(gui=GUI_OK), GOOD, (4.0, 5.0, False, True)),
    "gui-timeout": ("gui_request", evaluation(gui=GUI_TIMEOUT), GOOD, (4.0, None, True, True)),
    "gui-not-run": ("gui_request", evaluation(), GOOD, (4.0, None, True, True)),
    "gui-no-evaluation": ("gui_request", None, GOOD, (4.0, None, True, True)),
    "gui-parent-error": ("gui_request", evaluation(gui=GUI_OK), BAD, (1.0, 5.0, True, True)),
    "gui-parent-unjudged": ("gui_request", evaluation(gui=GUI_OK), UNJUDGED, (None, 5.0, False, False)),
    "gui-no-parent": ("gui_request", evaluation(gui=GUI_OK), None, (None, 5.0, True, False)),
    "finish-good": ("finish", None, GOOD, (4.0, None, False, True)),
    "finish-parent-error": ("finish", None, BAD, (1.0, None, True, True)),
    "finish-parent-unjudged": ("finish", None, UNJUDGED, (None, None, False, False)),
    "finish-no-parent": ("finish", None, None, (None, None, True, False)),
    "finish-low-inherited-score": (  # an inherited score <= 2 is an error even if the parent was not marked
        "finish",
        None,
        Assessment(screenshot_score=2.0, has_error=False, judged=True),
        (2.0, None, True, True),
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_assess_table(case: tuple) -> None:
    kind, ev, parent, expected = case
    got = assess(kind, ev, parent)
    assert (got.screenshot_score, got.gui_grade, got.has_error, got.judged) == expected


def test_assess_max_bad_score_is_a_parameter() -> None:
    ev = evaluation(observation(), judged(3))
    assert not assess("edit", ev, None).has_error
    assert assess("edit", ev, None, max_bad_score=3.0).has_error


def test_assess_accepts_the_loops_step_summary_as_parent() -> None:
    from webgen.graph.rules import StepSummary  # tests may cross layers; the feedback code does not

    parent = StepSummary(index=0, screenshot_score=4.0, has_error=False, judged=True)
    assert assess("gui_request", evaluation(gui=GUI_OK), parent) == Assessment(
        screenshot_score=4.0, gui_grade=5.0, has_error=False, judged=True
    )


# --- step rewards ---------------------------------------------------------------------------------------


def step(index: int, kind: Any, parent: int | None = None, score: float | None = None, grade: float | None = None,
         fmt: bool = True) -> RewardStep:  # fmt: skip
    return RewardStep(
        index=index, parent_index=parent, kind=kind, screenshot_score=score, gui_grade=grade, good_format=fmt
    )


def test_gui_grade_is_credited_to_the_edit_it_tested() -> None:
    assert step_rewards([step(0, "edit", score=4), step(1, "gui_request", 0, score=4, grade=5)]) == [9.0, None]


def test_each_kind_alone() -> None:
    assert step_reward("edit", 3.0) == 3.0
    assert step_reward("edit", None) == 0.0  # unjudged counts 0
    assert step_reward("edit", 3.0, 4.0) == 7.0
    assert step_reward("edit", 5.0, 5.0, good_format=False) == -1.0  # a degenerate repetition
    assert step_reward("gui_request", 4.0, 5.0) is None
    assert step_reward("gui_request", 4.0, 5.0, good_format=False) == -1.0
    assert step_reward("finish", 4.0) is None
    assert step_reward("finish", 4.0, good_format=False) == -1.0
    assert step_reward("invalid", None) == -1.0
    assert step_reward("invalid", 5.0, 5.0) == -1.0


def test_a_trajectory() -> None:
    steps = [
        step(0, "invalid"),
        step(1, "edit", 0, score=2),  # an invalid step changes no files: the edit follows it
        step(2, "edit", 1, score=None),  # unjudged
        step(3, "gui_request", 2, grade=3),
        step(4, "gui_request", 3, grade=4, fmt=False),  # tests step 2's files again (last one counts), bad format
        step(5, "edit", 4, score=5, fmt=False),  # repetitive
        step(6, "finish", 5, score=5),
    ]
    assert step_rewards(steps) == [-1.0, 2.0, 4.0, None, -1.0, -1.0, None]


def test_last_gui_grade_wins_and_backtracking_keeps_the_tested_edit() -> None:
    steps = [
        step(0, "edit", score=4),
        step(1, "edit", 0, score=1),
        step(2, "gui_request", 0, grade=2),  # after backtracking to step 0
        step(3, "gui_request", 2, grade=5),
        step(4, "finish", 3, fmt=False),
    ]
    assert step_rewards(steps) == [9.0, 1.0, None, None, -1.0]
    assert step_rewards(list(reversed(steps))) == [-1.0, None, None, 1.0, 9.0]  # order of the input is kept


def test_gui_request_without_an_edit_credits_nobody() -> None:
    assert step_rewards([step(0, "gui_request", grade=5), step(1, "edit", None, score=3)]) == [None, 3.0]
    assert step_rewards([step(0, "gui_request", 7, grade=5)]) == [None]  # parent not in the trajectory
    assert step_rewards([]) == []


def test_cycles_in_parent_links_do_not_hang() -> None:
    assert step_rewards([step(0, "gui_request", 1, grade=5), step(1, "finish", 0)]) == [None, None]


def test_rewards_stay_in_range() -> None:
    kinds = ["edit", "gui_request", "finish", "invalid"]
    for kinds_, score, grade, fmt in itertools.product(
        itertools.product(kinds, repeat=2), [None, 0.0, 5.0], [None, 1.0, 5.0], [True, False]
    ):
        steps = [step(0, kinds_[0], score=score, fmt=fmt), step(1, kinds_[1], 0, score=score, grade=grade)]
        for reward in step_rewards(steps):
            assert reward is None or REWARD_RANGE[0] <= reward <= REWARD_RANGE[1]


def test_reward_step_reads_a_step_summary() -> None:
    from webgen.graph.rules import StepSummary

    summary = StepSummary(index=3, parent_index=2, kind="edit", screenshot_score=4.0, snapshot_id="abc")
    assert step_rewards([RewardStep.model_validate(summary.model_dump())]) == [4.0]


@pytest.mark.parametrize(
    ("kind", "chars", "artifact", "repetitive", "expected"),
    [
        ("gui_request", 400, False, False, True),
        ("gui_request", 401, False, False, False),
        ("finish", 30, True, False, False),
        ("finish", 30, False, True, False),
        ("edit", 20_000, True, False, True),
        ("edit", 500, True, True, False),
        ("invalid", 10, False, False, True),
    ],
)
def test_good_format(kind: Any, chars: int, artifact: bool, repetitive: bool, expected: bool) -> None:
    assert good_format(kind, chars, has_artifact=artifact, repetitive=repetitive) is expected


# --- the cascaded reward over a StepEvaluation ---------------------------------------------------------------


def test_cascaded_from_evaluation_matches_cascaded_reward() -> None:
    weights = RewardWeights(gamma=0.1, lam=0.1, psi_static=-1.0, psi_build=-0.5)
    scored = cascaded_from_evaluation([], evaluation(observation(), judged(4)), True, weights)
    assert scored.stage == "scored" and scored.reward == pytest.approx(4.2)
    direct = cascaded_reward(static_problems=[], observation=observation(), s_vis=4.0, cot_ok=True, weights=weights)
    assert scored == direct
    noisy = cascaded_from_evaluation([], evaluation(observation(page_error=True), judged(4)), False, weights)
    assert noisy.reward == pytest.approx(4.0) and noisy.s_func == 0.0
    assert cascaded_from_evaluation(["no files written"], None, True, weights).reward == -1.0
    assert cascaded_from_evaluation([], None, True, weights).stage == "build"
    assert cascaded_from_evaluation([], evaluation(observation(build_ok=False)), True, weights).reward == -0.5
    unjudged = cascaded_from_evaluation([], evaluation(observation(), DOWN), True, weights)
    assert unjudged.stage == "unjudged" and unjudged.reward is None
