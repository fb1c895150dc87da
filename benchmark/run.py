"""`webgen eval`'s engine: every site prepared in turn (here), every test case on the worker pool, every result
in the store as soon as it is known, so a re-run (or a run after a crash or Ctrl-C) does only what is missing.

Failures are kept apart from verdicts. A site that fails to start gives START_FAILED cases (scored 0). An
unparsable verdict is NO with the reason kept. An endpoint that is down (the GUI agent's or the judge's) for
`stop_after` answers in a row stops the eval with a line naming it; what failed that way is not stored, so a
re-run does it once the endpoint is back.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from webgen.benchmark.appearance import AppearanceJudge
from webgen.benchmark.cases import CaseSpec, cases_of, robust_verdict, substring_verdict
from webgen.benchmark.prepare import EVAL_SITE, Prepared, StartOptions, prepare
from webgen.benchmark.results import CaseResult, EvalResults, SiteResult
from webgen.benchmark.sites import SiteSource
from webgen.benchmark.worker import CaseDone, CaseJob, CasePool
from webgen.core.llm import OpenAIClient
from webgen.core.settings import Settings
from webgen.feedback.gui.protocol import GUIProtocol
from webgen.feedback.gui.types import GUITestResult
from webgen.feedback.site.environment import SiteEnvironment
from webgen.storage import evals
from webgen.storage.evals import CaseRecord, EvalInfo, SiteRecord
from webgen.storage.store import TrajectoryStore
from webgen.storage.values import Task

log = logging.getLogger(__name__)
_DOWN = {"endpoint_error", "budget"}


class EvalRequest(BaseModel):
    name: str
    kind: Literal["collection", "sites"]
    source: str
    mode: str | None = None
    tasks: list[Task]
    sites: list[SiteSource]
    workers: int = 1
    rerun: bool = False
    stop_after: int = 3
    protocol: GUIProtocol = GUIProtocol()  # the published WebGen-Bench settings, our wording unless loaded
    case_timeout_s: float | None = None  # a wall-clock cap per test case (the benchmark has none)
    start: StartOptions = StartOptions()  # --start build|dev, --network


@dataclass
class EvalStats:
    total: int = 0  # cases to run in this invocation
    skipped: int = 0  # cases stored already
    done: int = 0
    verdicts: Counter = field(default_factory=Counter)
    sites: int = 0
    started: float = field(default_factory=time.monotonic)
    stopped: str | None = None

    @property
    def left(self) -> int:
        return self.total - self.done


def case_specs(task: Task) -> list[CaseSpec]:
    return cases_of(task.external_id, task.category, task.ui_test_cases)


class Evaluation:
    """One invocation of an eval; `on_update(stats)` after every change, `interrupt()` from a signal handler."""

    def __init__(
        self,
        settings: Settings,
        store: TrajectoryStore,
        request: EvalRequest,
        on_update: Callable[[EvalStats], None] | None = None,
    ) -> None:
        self.settings, self.store, self.request = settings, store, request
        self.on_update = on_update or (lambda stats: None)
        self.stats = EvalStats()
        self.tasks = {t.external_id: t for t in request.tasks}
        self.specs = {t.external_id: {c.case_index: c for c in case_specs(t)} for t in request.tasks}
        self._servers: dict[tuple[str, int], list[Any]] = {}  # site -> [server, cases left]
        self._gui_down = self._judge_down = 0
        self.info: EvalInfo | None = None

    # -- the run ---------------------------------------------------------------------------------
    def run(self) -> EvalStats:
        request, stats = self.request, self.stats
        self.info = info = evals.ensure_eval(
            self.store, request.name, kind=request.kind, source=request.source, mode=request.mode, config=self.config()
        )
        if request.rerun:
            evals.clear(self.store, info.id, list(self.tasks))
        stored_sites = {(s.task_id, s.rollout): s for s in evals.sites(self.store, info.id)}
        stored_cases = {(c.task_id, c.rollout, c.case_index) for c in evals.cases(self.store, info.id)}
        plan = []
        for source in request.sites:
            key = (source.task_id, source.rollout)
            pending = [c for i, c in self.specs[source.task_id].items() if (*key, i) not in stored_cases]
            stats.skipped += len(self.specs[source.task_id]) - len(pending)
            if pending or key not in stored_sites:
                plan.append((source, stored_sites.get(key), pending))
        stats.total = sum(len(p) for _, _, p in plan)
        self.on_update(stats)
        if plan:
            self._run(plan)
        return stats

    def _run(self, plan: list[tuple[SiteSource, SiteRecord | None, list[CaseSpec]]]) -> None:
        cfg = self.settings.updated(site=EVAL_SITE)
        judge_client = OpenAIClient(cfg.judge, role="judge")
        judge = AppearanceJudge(judge_client, model=cfg.judge.model, cache=self.store)
        pool = CasePool(cfg, self.request.workers, grace_s=60.0, protocol=self.request.protocol)
        cfg.home.mkdir(parents=True, exist_ok=True)
        try:
            with tempfile.TemporaryDirectory(prefix="eval-", dir=cfg.home) as tmp, SiteEnvironment(cfg) as env:
                for source, stored, pending in plan:
                    if self.stats.stopped:
                        break
                    self._site(env, judge, pool, Path(tmp), source, stored, pending)
                    self._collect(pool, 0.0)
                while pool.pending and not self.stats.stopped:
                    self._collect(pool, 0.5)
        except KeyboardInterrupt:
            self.stats.stopped = "interrupted (Ctrl-C): re-run the same command to resume"
        finally:
            pool.close()
            for server, _ in self._servers.values():
                server.stop()
            judge_client.close()
            self.on_update(self.stats)

    def _site(
        self,
        env: SiteEnvironment,
        judge: AppearanceJudge,
        pool: CasePool,
        tmp: Path,
        source: SiteSource,
        stored: SiteRecord | None,
        pending: list[CaseSpec],
    ) -> None:
        info, task = self.info, self.tasks[source.task_id]
        assert info is not None
        work = tmp / f"{source.task_id}-{source.rollout}"
        try:
            prepared = prepare(
                env,
                self.store,
                source,
                work,
                instruction=task.instruction,
                judge=judge if stored is None else None,
                options=self.request.start,
            )
        except Exception as exc:  # noqa: BLE001 - one site must not end the eval; the reason is kept with it
            log.exception("preparing site %s (rollout %d) failed", source.task_id, source.rollout)
            prepared = Prepared(SiteRecord(task_id=source.task_id, rollout=source.rollout, error=f"{exc!r}"[:500]))
        record, grade = prepared.record, prepared.grade
        if stored is None:
            down = grade is not None and grade.outcome in _DOWN
            self._judge_down = self._judge_down + 1 if down else 0
            if down and self._judge_down >= self.request.stop_after:
                self.stats.stopped = (
                    f"the judge endpoint {self.settings.judge.base_url} failed {self._judge_down} times in a row "
                    f"({grade.failure}); re-run to finish once it is back"
                )
            if not down:  # a site the judge could not grade is graded again by the next run
                evals.put_site(self.store, info.id, record)
        self.stats.sites += 1
        self.on_update(self.stats)
        if prepared.server is None:
            why = record.error or "the site did not start"
            for spec in pending:
                self._store_case(
                    spec, source.rollout, "START_FAILED", "START_FAILED", outcome="start_failed", error=why
                )
            return
        if not pending or self.stats.stopped:
            prepared.server.stop()
            return
        self._servers[(source.task_id, source.rollout)] = [prepared.server, len(pending)]
        protocol = self.request.protocol
        for spec in pending:
            job = CaseJob(
                task_id=spec.task_id,
                rollout=source.rollout,
                case_index=spec.case_index,
                url=prepared.server.url,
                text=protocol.task_text(spec.task, spec.expected_result),
                expected_result=spec.expected_result,
                max_steps=protocol.max_iter,
                timeout_s=self.request.case_timeout_s,
            )
            pool.submit(job)

    # -- results ---------------------------------------------------------------------------------
    def _collect(self, pool: CasePool, timeout: float) -> None:
        """Store what the workers finished (all of it, even once the eval is stopping) and stop idle servers."""
        for done in pool.poll(timeout):
            self._case_done(done)
            site = self._servers.get((done.job.task_id, done.job.rollout))
            if site is not None:
                site[1] -= 1
                if site[1] <= 0:
                    site[0].stop()
                    del self._servers[(done.job.task_id, done.job.rollout)]
        if pool.fatal and not self.stats.stopped:
            self.stats.stopped = pool.fatal

    def _case_done(self, done: CaseDone) -> None:
        job = done.job
        spec = self.specs[job.task_id][job.case_index]
        if done.error is not None or done.result is None:
            self._store_case(spec, job.rollout, "NO", "NO", outcome="worker_error", error=done.error)
            return
        result = GUITestResult.model_validate(done.result)
        if result.outcome in _DOWN:
            self._gui_down += 1
            if self._gui_down >= self.request.stop_after:
                self.stats.stopped = (
                    f"the GUI agent's endpoint {self.settings.gui.base_url} failed {self._gui_down} times in a row "
                    f"({result.error}); re-run to finish once it is back"
                )
            self.on_update(self.stats)
            return
        self._gui_down = 0
        if result.outcome == "ok" and result.verdict is not None:
            verdict, error = result.verdict, None
        else:
            verdict, why = robust_verdict(result.answer)
            error = result.error or why
        transcript = [step.model_dump(mode="json") for step in result.steps]
        self._store_case(
            spec,
            job.rollout,
            verdict,
            substring_verdict(result.final_message),  # the benchmark's test, on the raw last reply
            outcome=result.outcome,
            error=error,
            answer=result.answer,
            transcript=transcript,
            actions=len(result.steps),
            tokens=done.tokens,
            calls=result.model_calls,
            seconds=result.seconds,
        )

    def _store_case(self, spec: CaseSpec, rollout: int, verdict: str, substring: str, **values: Any) -> None:
        assert self.info is not None
        record = CaseRecord(
            task_id=spec.task_id,
            rollout=rollout,
            case_index=spec.case_index,
            instruction_category=spec.instruction_category,
            case_category=spec.case_category,
            verdict=verdict,
            substring_verdict=substring,
            **values,
        )
        evals.put_case(self.store, self.info.id, record)
        self.stats.done += 1
        self.stats.verdicts[verdict] += 1
        self.on_update(self.stats)

    def config(self) -> dict[str, Any]:
        cfg, request = self.settings, self.request
        return {
            "gui_model": cfg.gui.model,
            "gui_base_url": cfg.gui.base_url,
            "judge_model": cfg.judge.model,
            "judge_base_url": cfg.judge.base_url,
            "workers": request.workers,
            "protocol": request.protocol.describe(),
            "case_timeout_s": request.case_timeout_s,
            "start": request.start.start,
            "network": request.start.network,
            "tasks_source": request.tasks[0].source if request.tasks else None,
            "task_ids": sorted(self.tasks),
            "rollouts": sorted({s.rollout for s in request.sites}),
        }


def load_results(
    store: TrajectoryStore, info: EvalInfo, tasks: list[Task], sites: list[tuple[str, int]]
) -> EvalResults:
    """The stored results of these tasks' sites (task id, rollout), as the report reads them."""
    wanted = set(sites)
    categories = {t.external_id: str(t.category.get("primary_category", "")) or None for t in tasks}
    site_rows = [
        SiteResult.model_validate(r.model_dump() | {"instruction_category": categories.get(r.task_id)})
        for r in evals.sites(store, info.id)
        if (r.task_id, r.rollout) in wanted
    ]
    case_rows = [
        CaseResult.model_validate(r.model_dump())
        for r in evals.cases(store, info.id)
        if (r.task_id, r.rollout) in wanted
    ]
    return EvalResults(
        name=info.name,
        source=info.source,
        kind=info.kind,  # type: ignore[arg-type]
        mode=info.mode,
        created=info.created_at,
        total_cases=max(1, sum(len(case_specs(t)) for t in tasks)),
        total_tasks=len(tasks) or None,
        sites=site_rows,
        cases=case_rows,
        config=info.config,
    )
