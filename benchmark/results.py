"""WebGen-Bench results: the values an evaluation produces, and the pure `summarize()` that turns them into the
paper's numbers (webgen-bench.md §3.4-§3.5) and WebGen-R1's (webgen-r1.md §4.1).

Every rate is a fraction (0-1); the report prints them as percentages. The accuracy denominator is always
`total_cases` (647 for the whole benchmark). A case with no recorded verdict was *not run* (the eval stopped
or was cut short): it scores 0 like the benchmark's missing transcript, but it is counted apart from a start
failure (START_FAILED is stored only for a site that was tried and did not start), and a summary with cases
not run is incomplete. With several rollouts per task, every task's
numbers are averaged over its rollouts first (each rollout is one evaluation of all its cases).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from statistics import fmean
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Verdict = Literal["YES", "PARTIAL", "NO", "START_FAILED"]
Scoring = Literal["robust", "substring"]
VERDICTS: tuple[Verdict, ...] = ("YES", "PARTIAL", "NO", "START_FAILED")
NOT_RUN = "NOT_RUN"  # no verdict recorded: never a stored verdict, only a share of the summary
_KEYS = (*VERDICTS, NOT_RUN)
#: the paper's order of the primary categories (Table 4); other labels follow, sorted
INSTRUCTION_CATEGORIES = ("Content Presentation", "User Interaction", "Data Management")
CASE_CATEGORIES = ("Functional Testing", "Data Display Testing", "Design Validation Testing")
UNKNOWN_CATEGORY = "(unknown)"


class CaseResult(BaseModel):
    """One ui_instruct test case of one site."""

    task_id: str  # the benchmark's task id ("000001")
    case_index: int = Field(ge=0)  # index in the task's ui_instruct list
    instruction_category: str  # the task's Category.primary_category
    case_category: str  # the case's task_category.primary_category
    verdict: Verdict  # our robust parsing of the agent's final answer
    substring_verdict: Verdict  # the benchmark's own substring scoring of the same answer
    rollout: int = Field(default=0, ge=0)  # which rollout (site) of the task this case ran on
    answer: str = ""  # the agent's final answer text
    actions: int = 0
    tokens: int = 0
    calls: int = 0
    seconds: float = 0.0
    error: str | None = None


class SiteResult(BaseModel):
    """One generated site (one task, one rollout)."""

    task_id: str
    rollout: int = Field(default=0, ge=0)
    run_id: str | None = None
    step: int | None = None
    best_step: int | None = None  # agent runs: the index of the best step (for the "step reached" plot)
    steps: int | None = None
    gate: bool  # WebGen-R1 VRR parts (each implies the previous)
    built: bool
    served: bool
    rendered: bool
    started: bool  # the site could be served (WebGen-Bench "start failed" when False)
    appearance: int = Field(ge=0, le=5)  # 1-5 from the judge; 0 when the site failed or was unjudged
    aas: float = Field(ge=0.0, le=5.0)  # WebGen-R1 AAS 0-5 (webgen-r1.md §4.1)
    instruction_category: str | None = None  # the task's primary category; taken from its cases when None
    tokens: int = 0
    calls: int = 0
    error: str | None = None

    @property
    def valid(self) -> bool:
        """WebGen-R1's valid render: gate, build, serve and render all passed."""
        return self.gate and self.built and self.served and self.rendered


class EvalResults(BaseModel):
    """One evaluation: the sites and the verdicts of their test cases."""

    name: str
    source: str  # collection name or sites folder
    kind: Literal["collection", "sites"]
    mode: str | None = None  # agent | single-shot
    created: datetime
    total_cases: int = Field(ge=1)  # cases in the selected tasks (647 for the whole benchmark)
    total_tasks: int | None = Field(default=None, ge=1)  # selected tasks; the tasks seen when None
    sites: list[SiteResult]
    cases: list[CaseResult]
    config: dict[str, Any] = Field(default_factory=dict)  # models, workers, options

    @model_validator(mode="after")
    def _consistent(self) -> EvalResults:
        seen_sites = _duplicates((s.task_id, s.rollout) for s in self.sites)
        if seen_sites:
            raise ValueError(f"site (task, rollout) {seen_sites[0]} appears more than once")
        seen_cases = _duplicates((c.task_id, c.rollout, c.case_index) for c in self.cases)
        if seen_cases:
            raise ValueError(f"case (task, rollout, index) {seen_cases[0]} appears more than once")
        known = len({(c.task_id, c.case_index) for c in self.cases})
        if known > self.total_cases:
            raise ValueError(f"{known} distinct test cases recorded but total_cases is {self.total_cases}")
        tasks = len(self.task_ids)
        if self.total_tasks is not None and tasks > self.total_tasks:
            raise ValueError(f"{tasks} tasks recorded but total_tasks is {self.total_tasks}")
        return self

    @property
    def task_ids(self) -> list[str]:
        return sorted({s.task_id for s in self.sites} | {c.task_id for c in self.cases})


class Row(BaseModel):
    """One line of a results table: the paper's columns plus WebGen-R1's. Rates are fractions."""

    model_config = ConfigDict(frozen=True)

    label: str
    cases: int  # the denominator of the rates
    tasks: int = 0
    yes: float
    partial: float
    no: float
    start_failed: float  # tried, and the site did not start
    accuracy: float  # (YES + 0.5 * PARTIAL) / cases
    not_run: float = 0.0  # no verdict recorded (the eval stopped before the case ran)
    appearance: float | None = None  # 0-5 mean over tasks, a failed site 0 (None for case categories)
    vrr: float | None = None  # share of sites that passed gate, build, serve and render
    aas: float | None = None  # 0-5 mean


class Costs(BaseModel):
    """Token, call, action and time counts of the recorded test cases (all rollouts)."""

    model_config = ConfigDict(frozen=True)

    cases: int = 0
    tokens_total: int = 0
    tokens_mean: float = 0.0
    calls_total: int = 0
    calls_mean: float = 0.0
    actions_total: int = 0
    actions_mean: float = 0.0
    seconds_total: float = 0.0
    seconds_mean: float = 0.0
    tokens_max: int = 0
    calls_max: int = 0
    actions_max: int = 0
    seconds_max: float = 0.0
    site_tokens_total: int = 0  # the generation side (SiteResult.tokens / calls)
    site_calls_total: int = 0


class Summary(BaseModel):
    """The numbers of one evaluation under one scoring."""

    model_config = ConfigDict(frozen=True)

    scoring: Scoring
    tasks: int  # the appearance / VRR / AAS denominator
    sites: int
    rollouts: int  # the most rollouts any task has
    recorded_cases: int  # CaseResults, all rollouts
    unrecorded_cases: float  # cases per rollout with no verdict (not run), averaged over rollouts
    disagreements: int  # cases whose robust and substring verdicts differ
    overall: Row
    by_instruction_category: list[Row]
    by_case_category: list[Row]
    costs: Costs
    best_steps: list[int] = Field(default_factory=list)  # sorted, one per site with a best step

    @property
    def complete(self) -> bool:
        """Every case of the selected tasks has a verdict (else the headline is incomplete)."""
        return self.unrecorded_cases <= 0


def summarize(results: EvalResults, *, scoring: Scoring = "robust") -> Summary:
    """The paper's table for `results` (pure): rates, accuracy, appearance, VRR, AAS, overall and per category."""

    def pick(case: CaseResult) -> Verdict:
        return case.verdict if scoring == "robust" else case.substring_verdict

    rollouts = _rollouts(results)
    # per known case (task, index): the fraction of its task's rollouts that gave each verdict
    shares: dict[tuple[str, int], dict[str, float]] = defaultdict(lambda: dict.fromkeys(_KEYS, 0.0))
    case_category: dict[tuple[str, int], str] = {}
    task_category = _task_categories(results)
    for case in sorted(results.cases, key=lambda c: (c.task_id, c.case_index, c.rollout)):
        key = (case.task_id, case.case_index)
        shares[key][pick(case)] += 1.0 / len(rollouts[case.task_id])
        case_category.setdefault(key, case.case_category)
    for share in shares.values():  # a rollout with no verdict for a known case: not run
        share[NOT_RUN] += 1.0 - sum(share.values())

    tasks = results.total_tasks or len(results.task_ids)
    overall = _row("Overall", shares.values(), results.total_cases, _site_means(results, rollouts), tasks)
    by_instruction = [  # the denominators: the category's known cases and tasks
        _row(
            label,
            [s for k, s in shares.items() if task_category[k[0]] == label],
            None,
            _site_means(results, rollouts, lambda t, label=label: task_category[t] == label),
        )
        for label in _ordered({task_category[t] for t in results.task_ids}, INSTRUCTION_CATEGORIES)
    ]
    by_case = [
        _row(label, [s for k, s in shares.items() if case_category[k] == label], None, None)
        for label in _ordered(set(case_category.values()), CASE_CATEGORIES)
    ]
    recorded_per_rollout = sum(sum(1 for c in results.cases if c.task_id == t) / len(rollouts[t]) for t in rollouts)
    return Summary(
        scoring=scoring,
        tasks=tasks,
        sites=len(results.sites),
        rollouts=max((len(r) for r in rollouts.values()), default=0),
        recorded_cases=len(results.cases),
        unrecorded_cases=round(results.total_cases - recorded_per_rollout, 9),
        disagreements=sum(1 for c in results.cases if c.verdict != c.substring_verdict),
        overall=overall,
        by_instruction_category=by_instruction,
        by_case_category=by_case,
        costs=_costs(results),
        best_steps=sorted(s.best_step for s in results.sites if s.best_step is not None),
    )


def _row(
    label: str,
    shares: Iterable[dict[str, float]],
    cases: int | None,  # the denominator; None: the number of `shares` (known cases)
    site_means: list[tuple[float, float, float]] | None,
    tasks: int | None = None,
) -> Row:
    shares = list(shares)
    denominator = cases if cases is not None else len(shares)
    totals = {v: sum(s[v] for s in shares) for v in _KEYS}
    rate = {v: totals[v] / denominator if denominator else 0.0 for v in _KEYS}
    recorded = sum(totals.values())
    rate[NOT_RUN] += (denominator - recorded) / denominator if denominator else 0.0  # no verdict at all
    appearance = vrr = aas = None
    n_tasks = 0
    if site_means is not None:
        n_tasks = tasks if tasks is not None else len(site_means)
        appearance = sum(m[0] for m in site_means) / n_tasks if n_tasks else 0.0
        vrr = sum(m[1] for m in site_means) / n_tasks if n_tasks else 0.0
        aas = sum(m[2] for m in site_means) / n_tasks if n_tasks else 0.0
    return Row(
        label=label,
        cases=denominator,
        tasks=n_tasks,
        yes=rate["YES"],
        partial=rate["PARTIAL"],
        no=rate["NO"],
        start_failed=rate["START_FAILED"],
        not_run=rate[NOT_RUN],
        accuracy=(totals["YES"] + 0.5 * totals["PARTIAL"]) / denominator if denominator else 0.0,
        appearance=appearance,
        vrr=vrr,
        aas=aas,
    )


def _rollouts(results: EvalResults) -> dict[str, set[int]]:
    """Each task's rollouts: those with a site or a case."""
    found: dict[str, set[int]] = defaultdict(set)
    for item in [*results.sites, *results.cases]:
        found[item.task_id].add(item.rollout)
    return dict(found)


def _task_categories(results: EvalResults) -> dict[str, str]:
    """Each task's instruction category: from its sites, else its cases, else unknown."""
    found = {c.task_id: c.instruction_category for c in sorted(results.cases, key=lambda c: (c.rollout, c.case_index))}
    for site in results.sites:
        if site.instruction_category:
            found[site.task_id] = site.instruction_category
    return {t: found.get(t, UNKNOWN_CATEGORY) for t in results.task_ids}


def _site_means(
    results: EvalResults, rollouts: dict[str, set[int]], keep: Callable[[str], bool] = lambda t: True
) -> list[tuple[float, float, float]]:
    """(appearance, valid, aas) per kept task, averaged over its rollouts; a rollout with no site counts 0."""
    by_task: dict[str, list[SiteResult]] = defaultdict(list)
    for site in results.sites:
        by_task[site.task_id].append(site)
    means = []
    for task in sorted(t for t in rollouts if keep(t)):
        n = len(rollouts[task])
        sites = by_task.get(task, [])
        means.append(
            (
                sum(s.appearance for s in sites) / n,
                sum(1.0 for s in sites if s.valid) / n,
                sum(s.aas for s in sites) / n,
            )
        )
    return means


def _costs(results: EvalResults) -> Costs:
    cases = results.cases
    if not cases:
        return Costs(
            site_tokens_total=sum(s.tokens for s in results.sites),
            site_calls_total=sum(s.calls for s in results.sites),
        )
    return Costs(
        cases=len(cases),
        tokens_total=sum(c.tokens for c in cases),
        tokens_mean=fmean(c.tokens for c in cases),
        calls_total=sum(c.calls for c in cases),
        calls_mean=fmean(c.calls for c in cases),
        actions_total=sum(c.actions for c in cases),
        actions_mean=fmean(c.actions for c in cases),
        seconds_total=sum(c.seconds for c in cases),
        seconds_mean=fmean(c.seconds for c in cases),
        tokens_max=max(c.tokens for c in cases),
        calls_max=max(c.calls for c in cases),
        actions_max=max(c.actions for c in cases),
        seconds_max=max(c.seconds for c in cases),
        site_tokens_total=sum(s.tokens for s in results.sites),
        site_calls_total=sum(s.calls for s in results.sites),
    )


def _ordered(labels: set[str], known: tuple[str, ...]) -> list[str]:
    """`labels` in the paper's order first, then the others sorted (the unknown label last)."""
    first = [label for label in known if label in labels]
    rest = sorted(labels - set(known) - {UNKNOWN_CATEGORY})
    return first + rest + ([UNKNOWN_CATEGORY] if UNKNOWN_CATEGORY in labels else [])


def _duplicates(keys: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    seen: set[tuple[Any, ...]] = set()
    dupes = []
    for key in keys:
        if key in seen:
            dupes.append(key)
        seen.add(key)
    return dupes
