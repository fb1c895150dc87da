"""Step-GRPO rollouts into the store: each rollout is a run of its own, one stored step per turn.

A run's ``config["training"]`` names the trainer (``step-grpo``), the optimizer step and the trainer's resolved
config (the same convention as the other trainers' scored runs); each step keeps its prompt (the conversation
so far), reply, feedback, observation (screenshots included), scores, its step reward and the files before and
after it as snapshots, so the state grouping can train on rollouts too. A dropped (over-length) rollout is
stored ``failed`` with the reason. A store error is logged and never stops training.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from webgen.core.types import Observation
from webgen.storage.store import TrajectoryStore
from webgen.storage.training import snapshot_of
from webgen.storage.values import StepRecord, TaskIn

__all__ = ["RUN_MODE", "RolloutRecorder"]

logger = logging.getLogger(__name__)

#: the store's run mode for rollouts: multi-step agent trajectories (``config["training"]`` marks them)
RUN_MODE = "agent"
DROPPED = "dropped: a turn reached the token limit without repeating itself (over-length trajectory)"


class RolloutRecorder:
    def __init__(
        self, store: TrajectoryStore, *, training: dict[str, Any], models: dict[str, Any] | None = None
    ) -> None:
        self.store, self.training, self.models = store, training, models or {}
        self.run_ids: list[str] = []

    def record(self, rollout: Any, rewards: list[float | None], *, step: int) -> str | None:
        try:
            return self._record(rollout, rewards, step)
        except Exception:  # noqa: BLE001 - a store hiccup must not lose the training step; it is logged
            logger.exception("could not store a rollout of step %d", step)
            return None

    def _task_id(self, rollout: Any) -> int:
        if rollout.task_id is not None:
            return int(rollout.task_id)
        digest = hashlib.sha256(rollout.instruction.encode()).hexdigest()[:16]
        return self.store.ensure_task(TaskIn(source="train", external_id=digest, instruction=rollout.instruction)).id

    def _record(self, rollout: Any, rewards: list[float | None], step: int) -> str:
        config = {"training": {**self.training, "trainer": "step-grpo", "global_step": step}}
        run_id = self.store.start_run(self._task_id(rollout), RUN_MODE, config=config, models=self.models)  # type: ignore[arg-type]
        refs = self.store.put_messages(rollout.messages)
        before: str | None = None
        for t, result in enumerate(rollout.results):
            evaluation = result.evaluation or {}
            observation = evaluation.get("observation")
            after = snapshot_of(self.store, result.files) if result.error is None else before
            judge, gui = evaluation.get("judgment") or {}, evaluation.get("gui") or {}
            self.store.add_step(
                run_id,
                StepRecord(
                    index=t,
                    parent_index=t - 1 if t else None,
                    kind=result.kind if result.kind in ("edit", "gui_request", "finish", "invalid") else "invalid",
                    prompt_refs=refs,
                    completion=rollout.replies[t],
                    feedback=result.feedback,
                    base_snapshot_id=before,
                    snapshot_id=after,
                    observation=Observation.model_validate(observation) if observation else None,
                    errors=[result.error] if result.error else [],
                    has_error=result.has_error or result.error is not None,
                    screenshot_score=result.screenshot_score,
                    judge=judge,
                    gui_verdict=gui.get("verdict"),
                    gui_grade=result.gui_grade,
                    gui=gui,
                    reward=rewards[t],
                    reward_breakdown={"own": result.reward, "good_format": result.good_format},
                ),
            )
            refs = refs + self.store.put_messages([{"role": "assistant", "content": rollout.replies[t]}])
            if result.feedback:
                refs = refs + self.store.put_messages([{"role": "user", "content": result.feedback}])
            before = after
        scored = [(r, t) for t, r in enumerate(rewards) if r is not None]
        best = max(scored)[1] if scored else None
        if rollout.dropped:
            self.store.finish_run(run_id, "failed", best_step=best, error=DROPPED)
        else:
            self.store.finish_run(run_id, "finished", best_step=best)
        self.run_ids.append(run_id)
        return run_id
