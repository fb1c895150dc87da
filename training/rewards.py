"""TRL reward functions over the evaluator pool: each completion is evaluated in a real site environment, scored,
stored as a run of one step, and its reward returned (None when it could not be scored: TRL skips it).

* ``cascaded`` (single-shot GRPO): the completion writes a whole site into the fresh scaffold; the reward is
  WebGen-R1's cascaded reward ``ψ_static | ψ_build | s_vis + γ·s_func + λ·s_cot`` (γ, λ, ψ from the settings).
* ``step`` (Step-GRPO, state grouping): the completion is applied to a stored step's snapshot; the reward is the
  step reward: an edit's screenshot grade, a GUI request's GUI grade (the test runs on the stored site), a
  finish's the stored state's own screenshot grade (``state_score``: what the site it stops on is worth); -1 for
  a bad format or a repetition.

Per batch it logs (TRL ``log_metric``) the valid-render rate, the share of each cascade stage, the mean judge
score, the evaluations that failed and their seconds; and per completion (``log_extra``) the stage and reward.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from typing import Any, Literal

from webgen.core.types import Observation
from webgen.storage.store import TrajectoryStore
from webgen.storage.training import record_scored_run, snapshot_of
from webgen.storage.values import StepRecord
from webgen.training.pool import EnvJob, EnvResult, EvaluatorPool

__all__ = ["PoolReward", "completion_text"]

logger = logging.getLogger(__name__)

Kind = Literal["cascaded", "step"]


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string, or a conversational list of messages (the assistant's last)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion:
        content = completion[-1].get("content", "") if isinstance(completion[-1], dict) else ""
        return content if isinstance(content, str) else ""
    return ""


class PoolReward:
    """Callable as a TRL reward function: ``(prompts, completions, **dataset columns) -> list[float | None]``.

    Dataset columns used: ``instruction`` and ``task_id``; ``snapshot_id`` for the ``step`` kind.
    ``training`` is stored in every run's ``config["training"]`` (with the optimizer step added).
    """

    def __init__(
        self,
        pool: EvaluatorPool,
        store: TrajectoryStore,
        *,
        kind: Kind,
        training: dict[str, Any],
        models: dict[str, Any] | None = None,
        gui: bool = True,
    ) -> None:
        self.pool, self.store, self.kind = pool, store, kind
        self.training, self.models, self.gui = training, models or {}, gui
        self.__name__ = f"webgen_{kind}"
        self.runs_stored = 0
        self.run_ids: list[str] = []

    def __call__(
        self,
        prompts: list[Any],
        completions: list[Any],
        *,
        instruction: list[str],
        task_id: list[int],
        snapshot_id: list[str | None] | None = None,
        state_score: list[float | None] | None = None,
        trainer_state: Any = None,
        log_metric: Any = None,
        log_extra: Any = None,
        **_: Any,
    ) -> list[float | None]:
        self.pool.clear_screenshots()  # the last batch is stored, screenshots included
        texts = [completion_text(c) for c in completions]
        snapshots = snapshot_id if self.kind == "step" and snapshot_id else [None] * len(texts)
        jobs = [
            EnvJob(instruction=task, snapshot_id=snap, reply=text, gui=self.gui, gate=self.kind == "cascaded")
            for task, snap, text in zip(instruction, snapshots, texts, strict=True)
        ]
        started = time.monotonic()
        results = self.pool.map(jobs)
        seconds = time.monotonic() - started
        scores = state_score if state_score is not None else [None] * len(results)
        rewards = [self._reward(result, score) for result, score in zip(results, scores, strict=True)]
        step = int(getattr(trainer_state, "global_step", 0) or 0)
        for i, result in enumerate(results):
            try:
                self._store(prompts[i], texts[i], task_id[i], snapshots[i], result, rewards[i], step)
            except Exception:  # noqa: BLE001 - a store hiccup must not lose the training step; it is logged
                logger.exception("could not store completion %d of step %d", i, step)
        self._log(results, rewards, seconds, log_metric, log_extra)
        if self.kind == "step":
            self._log_state_groups(prompts, snapshots, rewards, log_metric)
        return rewards

    # -- scoring -------------------------------------------------------------------------------------
    def _reward(self, result: EnvResult, state_score: float | None = None) -> float | None:
        if result.error is not None:
            return None  # the environment failed, not the policy: no reward
        if self.kind == "cascaded":
            return (result.cascaded or {}).get("reward")
        if result.good_format and result.kind == "gui_request":
            return result.gui_grade  # None when no test ran (gui off, or the GUI agent failed)
        if result.good_format and result.kind == "finish":
            return state_score
        return result.reward

    def _stage(self, result: EnvResult) -> str:
        if result.error is not None:
            return "error"
        if self.kind == "cascaded":
            return str((result.cascaded or {}).get("stage", "error"))
        return result.kind

    # -- storing -------------------------------------------------------------------------------------
    def _store(
        self,
        prompt: Any,
        text: str,
        task_id: int,
        snapshot: str | None,
        result: EnvResult,
        reward: float | None,
        step: int,
    ) -> None:
        evaluation = result.evaluation or {}
        observation = evaluation.get("observation")
        errors = [result.error] if result.error else []
        if self.kind == "cascaded":
            errors += (result.cascaded or {}).get("static_problems", [])
            breakdown = result.cascaded or {}
        else:
            breakdown = {"step_reward": reward, "good_format": result.good_format}
        gui = evaluation.get("gui") or {}
        record = StepRecord(
            index=0,
            kind=result.kind if result.kind in ("edit", "gui_request", "finish", "invalid") else "invalid",
            prompt=prompt if isinstance(prompt, list) else [{"role": "user", "content": str(prompt)}],
            completion=text,
            feedback=result.feedback,
            base_snapshot_id=snapshot,
            snapshot_id=snapshot_of(self.store, result.files),
            observation=Observation.model_validate(observation) if observation else None,
            errors=errors,
            has_error=result.has_error or result.error is not None,
            screenshot_score=result.screenshot_score,
            judge=evaluation.get("judgment") or {},
            gui_verdict=gui.get("verdict"),
            gui_grade=result.gui_grade,
            gui=gui,
            reward=reward,
            reward_breakdown=breakdown,
        )
        config = {"training": {**self.training, "global_step": step}}
        mode = "single-shot" if self.kind == "cascaded" else "agent"
        run_id = record_scored_run(
            self.store, task_id, mode, record, config=config, models=self.models, error=result.error
        )
        self.run_ids.append(run_id)
        self.runs_stored += 1

    # -- logging -------------------------------------------------------------------------------------
    @staticmethod
    def _log_state_groups(prompts: list[Any], snapshots: list[str | None], rewards: list[float | None], log: Any):
        """The histogram of state-group sizes: scored completions of the same stored state (prompt + snapshot)."""
        counts: Counter[str] = Counter()
        for prompt, snapshot, reward in zip(prompts, snapshots, rewards, strict=True):
            if reward is not None and not math.isnan(reward):
                counts[f"{snapshot}|{prompt!r}"] += 1
        sizes = Counter(counts.values())
        steps = sum(counts.values())
        logger.info("state-group sizes {size: groups}: %s", dict(sorted(sizes.items())))
        if log is None:
            return
        for n, count in sizes.items():
            log(f"state_groups/size_{n}", float(count))
        log("state_groups/shared_step_rate", sum(n * c for n, c in sizes.items() if n > 1) / steps if steps else 0.0)

    def _log(
        self, results: list[EnvResult], rewards: list[float | None], seconds: float, log_metric: Any, log_extra: Any
    ) -> None:
        stages = [self._stage(r) for r in results]
        counts = Counter(stages)
        n = max(1, len(results))
        scores = [r.screenshot_score for r in results if r.screenshot_score is not None]
        valid = sum(1 for r, stage in zip(results, stages, strict=True) if _valid(r, stage))
        metrics = {
            "webgen/valid_render_rate": valid / n,
            "webgen/eval_errors": counts.get("error", 0) / n,
            "webgen/eval_seconds": seconds,
            "webgen/unscored": sum(1 for x in rewards if x is None or math.isnan(x)) / n,
        }
        if scores:
            metrics["webgen/screenshot_score"] = sum(scores) / len(scores)
        for stage, count in counts.items():
            metrics[f"webgen/stage_{stage}"] = count / n
        if self.kind == "cascaded":
            for part in ("s_vis", "s_func", "s_cot"):
                values = [(r.cascaded or {}).get(part) for r in results]
                values = [v for v in values if isinstance(v, int | float)]
                if values:
                    metrics[f"webgen/{part}"] = sum(values) / len(values)
        if log_metric is not None:
            for name, value in metrics.items():
                log_metric(name, float(value))
        if log_extra is not None:
            log_extra("webgen_stage", stages)
        logger.info("rewards %s, stages %s, %.1fs", rewards, dict(counts), seconds)


def _valid(result: EnvResult, stage: str) -> bool:
    """Rendered, and (single-shot) past the static gate: a gate-failed page is not a valid render."""
    return stage != "static" and _rendered(result)


def _rendered(result: EnvResult) -> bool:
    observation = (result.evaluation or {}).get("observation") or {}
    build = observation.get("build") or {}
    pages = observation.get("pages") or []
    return bool(build.get("ok")) and bool(observation.get("served")) and any(p.get("ok") for p in pages)
