"""The loop's pure rules: error steps, selection, backtracking counts, routing."""

from __future__ import annotations

from webgen.feedback.evaluation.assess import is_error_step
from webgen.graph.rules import StepSummary, consecutive_errors, route_after_record, select_best


def step(
    i: int, score: float | None, *, gui: float | None = None, error: bool = False, parent: int | None = -1
) -> StepSummary:
    return StepSummary(
        index=i,
        parent_index=(i - 1 if parent == -1 else parent) if i else None,
        screenshot_score=score,
        gui_grade=gui,
        has_error=error,
    )


def test_error_step_rule() -> None:
    assert is_error_step(stage_failed=True, screenshot_score=5)
    assert is_error_step(stage_failed=False, screenshot_score=2)
    assert not is_error_step(stage_failed=False, screenshot_score=3)
    assert not is_error_step(stage_failed=False, screenshot_score=None)


def test_select_best_prefers_gui_grade_then_score_then_later_step() -> None:
    steps = [step(0, 4), step(1, 5), step(2, 4, gui=3), step(3, 3, gui=3), step(4, 5, error=True, gui=5)]
    best, good = select_best(steps)
    assert good and best.index == 2  # gui 3 beats no gui; among gui 3, score 4 beats 3; the error step is not good
    tie, _ = select_best([step(0, 4), step(1, 4)])
    assert tie.index == 1


def test_select_best_falls_back_to_all_steps_when_none_is_good() -> None:
    steps = [step(0, 2, error=True), step(1, 1, error=True), step(2, None, error=True)]
    best, good = select_best(steps)
    assert not good and best.index == 0
    assert select_best([]) == (None, False)


def test_consecutive_errors_follow_the_branch_not_the_list() -> None:
    # 0 good, 1..3 errors on one branch; 4 branches from 0 after a backtrack and errs
    steps = [
        step(0, 4),
        step(1, 1, error=True),
        step(2, 1, error=True),
        step(3, 1, error=True),
        step(4, 1, error=True, parent=0),
    ]
    assert consecutive_errors(steps, 3) == 3
    assert consecutive_errors(steps, 4) == 1
    assert consecutive_errors(steps, 0) == 0
    assert consecutive_errors(steps, None) == 0


def test_routing() -> None:
    common = {"steps_taken": 3, "max_steps": 20, "errors_in_a_row": 0, "error_limit": 5}
    assert route_after_record(kind="edit", **common) == "generate"
    assert route_after_record(kind="finish", **common) == "select_best"
    assert route_after_record(kind="edit", **{**common, "errors_in_a_row": 5}) == "backtrack"
    assert route_after_record(kind="edit", **{**common, "steps_taken": 20}) == "select_best"
    assert route_after_record(kind="edit", **common, gave_up=True) == "select_best"


def test_finish_markers_are_not_selected_over_their_state() -> None:
    steps = [step(0, 4), StepSummary(index=1, parent_index=0, kind="finish", screenshot_score=4)]
    assert select_best(steps)[0].index == 0
    only = [StepSummary(index=0, kind="finish")]
    assert select_best(only)[0].index == 0


def unjudged(i: int, parent: int | None = -1) -> StepSummary:
    return step(i, None, parent=parent).model_copy(update={"judged": False})


def test_unjudged_steps_are_never_good_but_beat_error_steps() -> None:
    steps = [step(0, 1, error=True), unjudged(1), step(2, None, error=True)]
    best, good = select_best(steps)
    assert not good and best.index == 1  # no score to call it good, but it rendered without error
    with_good = [step(0, 3), unjudged(1), unjudged(2)]
    assert select_best(with_good) == (with_good[0], True)  # a judged good step wins over unjudged later ones
    assert select_best([unjudged(0), unjudged(1)])[0].index == 1  # ties go to the later step


def test_unjudged_steps_break_an_error_run_and_are_not_backtrack_targets() -> None:
    steps = [step(0, 1, error=True), step(1, 1, error=True), unjudged(2), step(3, 1, error=True)]
    assert consecutive_errors(steps, 3) == 1  # the unjudged step is not an error
    assert consecutive_errors(steps, 1) == 2
    _, good = select_best(steps)
    assert not good  # so backtracking restarts from scratch rather than going back to an unverified state


def test_invalid_steps_are_error_steps_of_their_own_kind() -> None:
    invalid = StepSummary(index=0, kind="invalid", has_error=True, judged=False)
    assert consecutive_errors([invalid], 0) == 1
    assert select_best([invalid, unjudged(1)])[0].index == 1
