"""Single-shot mode (WebGen-R1): one completion writes the whole site; the cascaded reward scores it.

The evaluation is the step evaluator's (apply, then the static gate, then execute and judge), so the agent
loop, this mode and the trainers score sites the same way.
"""

from __future__ import annotations

import time

from webgen.agent.actions import has_exact_think_answer_format, parse_response
from webgen.core.llm import LLMError
from webgen.feedback.evaluation.evaluator import StepEvaluation
from webgen.feedback.evaluation.rewards import RewardWeights, cascaded_from_evaluation, static_gate
from webgen.graph import events
from webgen.graph.deps import Deps
from webgen.graph.run import RunOutcome, fresh_site, guarded, system_messages
from webgen.storage.values import StepRecord, Task


def run_single_shot(deps: Deps, task: Task, run_id: str) -> RunOutcome:
    """One completion, scored by the cascaded reward; an unexpected error marks the run failed (`guarded`)."""
    with guarded(deps, run_id):
        return _single_shot(deps, task, run_id)


def _weights(deps: Deps) -> RewardWeights:
    agent = deps.settings.agent
    return RewardWeights(
        gamma=agent.reward_gamma,
        lam=agent.reward_lambda,
        psi_static=agent.reward_psi_static,
        psi_build=agent.reward_psi_build,
    )


def _single_shot(deps: Deps, task: Task, run_id: str) -> RunOutcome:
    agent, evaluator = deps.settings.agent, deps.evaluator
    site, workspace = fresh_site(deps)
    base = workspace.snapshot()
    messages = system_messages(deps, task.instruction, template="single_shot.j2")
    deps.emit(events.StepStarted(run_id=run_id, index=0))
    started = time.monotonic()
    try:
        completion = deps.coder.complete(
            messages, temperature=agent.coder_temperature, max_tokens=agent.coder_max_tokens
        )
    except LLMError as exc:  # not the policy's fault: no reward, the run fails visibly
        error = f"{type(exc).__name__}: {exc}"
        record = StepRecord(index=0, kind="invalid", prompt=messages, errors=[error], has_error=True)
        deps.store.add_step(run_id, record.model_copy(update={"base_snapshot_id": base, "snapshot_id": base}))
        deps.store.finish_run(run_id, "failed", best_step=0, error=error)
        deps.emit(events.Finished(run_id=run_id, status="failed", best_step=0, error=error, site=site))
        return RunOutcome(
            run_id=run_id,
            status="failed",
            best_step=0,
            steps=1,
            site=site,
            error=error,
            failure="endpoint",
            endpoint_role="coder",
            endpoint_url=deps.settings.coder.base_url,
        )
    latency = {"generate": time.monotonic() - started}
    parsed = parse_response(completion.text)
    evaluation = StepEvaluation(applied=evaluator.apply(workspace, parsed.files))
    unsafe = [r.path for r in evaluation.applied.rejected if "scaffold" not in r.reason]
    problems = static_gate(
        parsed.final_files(), has_artifact=parsed.dialect in ("bolt", "web"), truncated=parsed.truncated, unsafe=unsafe
    )
    if parsed.repetitive:
        problems.append("degenerate repetition: the reply loops on the same text")
    if not problems:
        started = time.monotonic()
        observation = evaluator.execute(site, deps.run_dir / "steps" / "000")
        latency["execute"] = time.monotonic() - started
        evaluation = evaluation.model_copy(
            update={"observation": observation, "judgment": evaluator.judge(task.instruction, observation)}
        )
    breakdown = cascaded_from_evaluation(
        problems, evaluation, has_exact_think_answer_format(completion.text), _weights(deps)
    )
    snapshot = workspace.snapshot()
    deps.store.register_snapshot(snapshot)
    deps.store.add_step(
        run_id,
        StepRecord(
            index=0,
            kind="edit" if parsed.kind == "edit" else "invalid",
            prompt=messages,
            completion=completion.text,
            actions=parsed.summary(),
            base_snapshot_id=base,
            snapshot_id=snapshot,
            observation=evaluation.observation,
            errors=problems,
            has_error=breakdown.stage != "scored",
            screenshot_score=evaluation.screenshot_score,
            judge=evaluation.judgment.model_dump(mode="json") if evaluation.judgment else {},
            tokens_prompt=completion.usage.prompt_tokens,
            tokens_completion=completion.usage.completion_tokens,
            latency=latency,
            reward=breakdown.reward,
            reward_breakdown=breakdown.model_dump(),
        ),
    )
    deps.store.finish_run(run_id, "finished", best_step=0)
    deps.emit(
        events.Recorded(
            run_id=run_id,
            index=0,
            kind="edit" if parsed.kind == "edit" else "invalid",
            has_error=breakdown.stage != "scored",
            judged=evaluation.judged,
            screenshot_score=evaluation.screenshot_score,
            tokens=completion.usage.prompt_tokens + completion.usage.completion_tokens,
            seconds=sum(latency.values()),
        )
    )
    deps.emit(events.Finished(run_id=run_id, status="finished", best_step=0, site=site))
    return RunOutcome(run_id=run_id, status="finished", best_step=0, steps=1, site=site)
