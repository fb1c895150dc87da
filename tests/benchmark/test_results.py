"""`summarize()` on small crafted evaluations, every number computed by hand in the comments."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from webgen.benchmark.results import CaseResult, EvalResults, SiteResult, summarize

DM, UI = "Data Management", "User Interaction"
FUNC, DISPLAY, DESIGN = "Functional Testing", "Data Display Testing", "Design Validation Testing"
#: task 000001 (Data Management): (case category, robust verdict, substring verdict) per case
TASK1 = [
    (FUNC, "YES", "YES"),
    (FUNC, "YES", "YES"),
    (DISPLAY, "YES", "YES"),
    (DISPLAY, "PARTIAL", "PARTIAL"),
    (DESIGN, "NO", "NO"),
    (FUNC, "NO", "YES"),  # "Thought: this is not a YES ... Answer: NO": the substring test says YES
]


def case(task: str, index: int, category: str, verdict: str, substring: str, rollout: int = 0, **extra) -> CaseResult:
    instruction = DM if task == "000001" else UI
    return CaseResult(
        task_id=task,
        case_index=index,
        instruction_category=instruction,
        case_category=category,
        verdict=verdict,
        substring_verdict=substring,
        rollout=rollout,
        **extra,
    )


def site(task: str, rollout: int = 0, *, ok: bool = True, appearance: int = 4, aas: float = 3.5, **extra) -> SiteResult:
    return SiteResult(
        task_id=task,
        instruction_category=DM if task == "000001" else UI,
        rollout=rollout,
        gate=True,
        built=ok,
        served=ok,
        rendered=ok,
        started=ok,
        appearance=appearance if ok else 0,
        aas=aas if ok else 0.0,
        **extra,
    )


def crafted(name: str = "crafted", **changes) -> EvalResults:
    """2 tasks, 7 cases: task 1's site serves (3 YES, 1 PARTIAL, 2 NO), task 2's site failed to start (1 case)."""
    cases = [
        case("000001", i, cat, v, s, tokens=100 * (i + 1), calls=i + 1, actions=2, seconds=1.5)
        for i, (cat, v, s) in enumerate(TASK1)
    ]
    cases.append(case("000002", 0, FUNC, "START_FAILED", "START_FAILED"))
    sites = [
        site("000001", best_step=2, steps=4, tokens=5000, calls=4),
        site("000002", ok=False, best_step=0, steps=1, error="npm run build failed"),
    ]
    values = dict(
        name=name,
        source="bench-7",
        kind="collection",
        mode="agent",
        created=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        total_cases=7,
        sites=sites,
        cases=cases,
        config={"coder": "scripted", "workers": 2},
    )
    return EvalResults(**{**values, **changes})


def test_overall_is_the_papers_formula() -> None:
    summary = summarize(crafted())
    row = summary.overall
    assert (row.cases, row.tasks) == (7, 2)
    assert row.yes == pytest.approx(3 / 7)
    assert row.partial == pytest.approx(1 / 7)
    assert row.no == pytest.approx(2 / 7)
    assert row.start_failed == pytest.approx(1 / 7)
    assert row.accuracy == 3.5 / 7  # (3 YES + 0.5 x 1 PARTIAL) / 7, exactly
    assert row.appearance == pytest.approx((4 + 0) / 2)  # the failed site counts 0
    assert row.vrr == pytest.approx(1 / 2)
    assert row.aas == pytest.approx((3.5 + 0) / 2)
    assert (summary.sites, summary.rollouts, summary.recorded_cases, summary.unrecorded_cases) == (2, 1, 7, 0)
    assert summary.disagreements == 1
    assert summary.best_steps == [0, 2]


def test_substring_scoring_counts_not_a_yes_as_yes() -> None:
    robust, substring = summarize(crafted()), summarize(crafted(), scoring="substring")
    assert substring.overall.yes == pytest.approx(4 / 7)
    assert substring.overall.no == pytest.approx(1 / 7)
    assert substring.overall.accuracy == pytest.approx(4.5 / 7)
    assert robust.overall.accuracy == pytest.approx(3.5 / 7)
    functional = {row.label: row for row in substring.by_case_category}[FUNC]
    assert functional.accuracy == pytest.approx(3 / 4)  # YES, YES, YES (the "not a YES"), start failed


def test_categories_in_the_papers_order_with_their_own_denominators() -> None:
    summary = summarize(crafted())
    assert [r.label for r in summary.by_instruction_category] == [UI, DM]  # Content Presentation is absent
    ui, dm = summary.by_instruction_category
    assert (ui.cases, ui.tasks, ui.start_failed, ui.accuracy) == (1, 1, 1.0, 0.0)
    assert (ui.appearance, ui.vrr, ui.aas) == (0.0, 0.0, 0.0)
    assert (dm.cases, dm.tasks) == (6, 1)
    assert dm.accuracy == pytest.approx(3.5 / 6)
    assert (dm.appearance, dm.vrr, dm.aas) == (4.0, 1.0, 3.5)
    assert [r.label for r in summary.by_case_category] == [FUNC, DISPLAY, DESIGN]
    func, display, design = summary.by_case_category
    # Functional: YES, YES, NO (task 1) and START_FAILED (task 2)
    assert (func.cases, func.yes, func.no, func.start_failed, func.accuracy) == (4, 0.5, 0.25, 0.25, 0.5)
    assert (display.cases, display.accuracy) == (2, 0.75)  # YES + 0.5 PARTIAL over 2
    assert (design.cases, design.accuracy) == (1, 0.0)
    assert func.appearance is None and func.vrr is None  # site numbers have no test-case category


def test_costs_per_test_case() -> None:
    costs = summarize(crafted()).costs
    assert (costs.cases, costs.tokens_total, costs.calls_total) == (7, 2100, 21)  # 100..600 tokens, 1..6 calls
    assert costs.tokens_mean == pytest.approx(300.0)
    assert costs.calls_mean == pytest.approx(3.0)
    assert costs.actions_mean == pytest.approx(12 / 7)
    assert costs.seconds_total == pytest.approx(9.0)
    assert (costs.tokens_max, costs.calls_max, costs.actions_total, costs.actions_max) == (600, 6, 12, 2)
    assert (costs.site_tokens_total, costs.site_calls_total) == (5000, 4)


def test_rollouts_are_averaged() -> None:
    base = crafted()
    # rollout 1: both sites serve and every case passes; appearances 5 and 3
    second = [case(c.task_id, c.case_index, c.case_category, "YES", "YES", rollout=1) for c in base.cases]
    sites = [site("000001", 1, appearance=5, aas=4.0), site("000002", 1, appearance=3, aas=2.0)]
    summary = summarize(crafted(cases=base.cases + second, sites=base.sites + sites))
    assert summary.rollouts == 2
    assert summary.overall.accuracy == pytest.approx((3.5 / 7 + 7 / 7) / 2)
    assert summary.overall.start_failed == pytest.approx((1 / 7 + 0) / 2)
    assert summary.overall.appearance == pytest.approx(((4 + 5) / 2 + (0 + 3) / 2) / 2)
    assert summary.overall.vrr == pytest.approx((2 / 2 + 1 / 2) / 2)
    assert summary.overall.aas == pytest.approx(((3.5 + 4.0) / 2 + (0 + 2.0) / 2) / 2)
    ui = summary.by_instruction_category[0]
    assert ui.accuracy == pytest.approx(0.5) and ui.appearance == pytest.approx(1.5)


def test_a_task_with_fewer_rollouts_is_averaged_over_its_own() -> None:
    base = crafted()
    second = [case("000001", i, cat, "YES", "YES", rollout=1) for i, (cat, _, _) in enumerate(TASK1)]
    summary = summarize(crafted(cases=base.cases + second, sites=[*base.sites, site("000001", 1)]))
    assert summary.overall.accuracy == pytest.approx(((3.5 + 6) / 2 + 0) / 7)


def test_cases_without_a_verdict_are_not_run_not_start_failed() -> None:
    # two more cases in the selected tasks than recorded (the eval stopped before they ran)
    summary = summarize(crafted(total_cases=9, total_tasks=3))
    assert summary.overall.accuracy == pytest.approx(3.5 / 9)  # still over every case, as the benchmark divides
    assert summary.overall.start_failed == pytest.approx(1 / 9)  # only the site that was tried and did not start
    assert summary.overall.not_run == pytest.approx(2 / 9)
    assert summary.unrecorded_cases == pytest.approx(2) and not summary.complete
    assert summarize(crafted()).complete
    assert summary.overall.appearance == pytest.approx(4 / 3)  # the third task has no site: 0
    base = crafted()
    half = crafted(cases=base.cases + [case("000001", 0, FUNC, "YES", "YES", rollout=1)])  # rollout 1 has 1 case
    assert summarize(half).overall.accuracy == pytest.approx(((3.5 + 1) / 2) / 7)


def test_bad_results_are_refused_with_a_clear_error() -> None:
    base = crafted()
    with pytest.raises(ValidationError, match="appears more than once"):
        crafted(cases=base.cases + [base.cases[0]])
    with pytest.raises(ValidationError, match="appears more than once"):
        crafted(sites=base.sites + [base.sites[0]])
    with pytest.raises(ValidationError, match="7 distinct test cases recorded but total_cases is 6"):
        crafted(total_cases=6)
    with pytest.raises(ValidationError, match="verdict"):
        case("000001", 0, FUNC, "MAYBE", "NO")
    with pytest.raises(ValidationError, match="appearance"):
        site("000001", appearance=6)


def test_empty_results_summarize_to_zero() -> None:
    summary = summarize(crafted(cases=[], sites=[], total_cases=3, total_tasks=1))
    overall = summary.overall
    assert (overall.accuracy, overall.start_failed, overall.not_run, overall.appearance) == (0.0, 0.0, 1.0, 0.0)
    assert summary.by_instruction_category == [] and summary.costs.cases == 0


def test_a_task_category_comes_from_its_cases_when_its_sites_lack_it() -> None:
    base = crafted()
    bare = [s.model_copy(update={"instruction_category": None}) for s in base.sites]
    summary = summarize(crafted(sites=bare))
    assert [r.label for r in summary.by_instruction_category] == [UI, DM]
    nothing = summarize(crafted(sites=bare, cases=[], total_cases=7))
    assert [(r.label, r.tasks, r.cases) for r in nothing.by_instruction_category] == [("(unknown)", 2, 0)]
