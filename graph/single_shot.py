"""Single-shot mode (WebGen-R1): one completion writes the whole site; the cascaded reward scores it."""

from __future__ import annotations

import time

from webgen.agent.actions import has_exact_think_answer_format, parse_response
from webgen.agent.llm import LLMError
from webgen.feedback.report import save_observation
from webgen.feedback.rewards import RewardWeights, cascaded_reward, static_gate
from webgen.graph.deps import Deps
from webgen.graph.run import RunOutcome, fresh_site, guarded, system_messages
from webgen.storage.values import StepRecord, Task


def run_single_shot(deps: Deps, task: Task, run_id: str) -> RunOutcome:
    """One completion, scored by the cascaded reward; an unexpected error marks the run failed (`guarded`)."""
    with guarded(deps, run_id):
        return _single_shot(deps, task, run_id)


def _single_shot(deps: Deps, task: Task, run_id: str) -> RunOutcome:
    agent = deps.settings.agent
    site, workspace = fresh_site(deps)
    base = workspace.snapshot()
    messages = system_messages(deps, task.instruction, template="single_shot.j2")
    latency: dict[str, float] = {}
    started = time.monotonic()
    try:
        completion = deps.coder.complete(
            messages, temperature=agent.coder_temperature, max_tokens=agent.coder_max_tokens
        )
    except LLMError as exc:  # not the policy's fault: no reward, the run fails visibly
        deps.store.add_step(
            run_id,
            StepRecord(
                index=0,
                prompt=messages,
                errors=[f"{type(exc).__name__}: {exc}"],
                has_error=True,
                base_snapshot_id=base,
                snapshot_id=base,
            ),
        )
        deps.store.finish_run(run_id, "failed", best_step=0, error=str(exc))
        return RunOutcome(run_id=run_id, status="failed", best_step=0, steps=1, site=site, error=str(exc))
    latency["generate"] = time.monotonic() - started
    parsed = parse_response(completion.text)
    applied = workspace.apply(parsed.files)
    unsafe = [r.path for r in applied.rejected if "scaffold" not in r.reason]
    problems = static_gate(
        parsed.final_files(), has_artifact=parsed.dialect in ("bolt", "web"), truncated=parsed.truncated, unsafe=unsafe
    )
    if parsed.repetitive:
        problems.append("degenerate repetition: the reply loops on the same text")
    observation = judgement = None
    if not problems:
        started = time.monotonic()
        observation = deps.env.observe(site)
        save_observation(observation, deps.run_dir / "steps" / "000")
        latency["execute"] = time.monotonic() - started
        shots = [p.screenshot for p in observation.pages if p.screenshot][: agent.judge_max_images]
        if observation.rendered and shots:
            judgement = deps.judge.grade(task.instruction, shots)
    weights = RewardWeights(
        gamma=agent.reward_gamma,
        lam=agent.reward_lambda,
        psi_static=agent.reward_psi_static,
        psi_build=agent.reward_psi_build,
    )
    s_vis = judgement.score if judgement is not None and judgement.outcome == "ok" else None
    breakdown = cascaded_reward(
        static_problems=problems,
        observation=observation,
        s_vis=s_vis,
        cot_ok=has_exact_think_answer_format(completion.text),
        weights=weights,
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
            observation=observation,
            errors=problems,
            has_error=breakdown.stage != "scored",
            screenshot_score=s_vis,
            judge=judgement.model_dump(mode="json") if judgement else {},
            tokens_prompt=completion.usage.prompt_tokens,
            tokens_completion=completion.usage.completion_tokens,
            latency=latency,
            reward=breakdown.reward,
            reward_breakdown=breakdown.model_dump(),
        ),
    )
    deps.store.finish_run(run_id, "finished", best_step=0)
    deps.emit("done", best=0, status="finished", reward=breakdown.reward, stage=breakdown.stage, site=str(site))
    return RunOutcome(run_id=run_id, status="finished", best_step=0, steps=1, site=site)
