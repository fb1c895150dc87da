"""``StepGRPOTrainer``: TRL's ``GRPOTrainer`` with Step-GRPO's per-token advantages (reference/trl-step-grpo.md).

The one override calls TRL's ``_generate_and_score_completions``, gathers every sample's step rewards across
processes (a group of ``num_generations`` may be split between ranks), computes the pooled per-group advantages
(:func:`~webgen.training.advantage.group_advantages`), takes this rank's slice and sets ``out["advantages"]`` to a
(B, T) tensor: each token takes its step's advantage, feedback tokens 0. TRL's loss accepts (B, T) advantages
as they are. The rollout function must return ``step_rewards`` and ``turn_ids`` per sample
(:class:`~webgen.training.rollout.TrajectoryRollout` does); TRL hands them to the inputs of this batch.

TRL's own ``reward``/``reward_std`` logs describe the scalar it computed, not these advantages: the
``step_grpo/*`` metrics are the real ones.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from accelerate.utils import gather_object
from trl import GRPOTrainer

from webgen.training.advantage import gigpo_advantages, group_advantages, state_group_sizes, token_advantages

__all__ = ["StepGRPOTrainer", "log_state_groups", "trajectory_reward"]


def log_state_groups(metrics: Any, sizes: dict[int, int]) -> None:
    """The histogram of state-group sizes (scored steps that start from the same state): ``state_groups/size_N``
    counts groups of N; ``state_groups/shared_step_rate`` is the share of steps in a group of more than one (the
    steps a step-level term can compare at all)."""
    steps = sum(n * count for n, count in sizes.items())
    for n, count in sizes.items():
        metrics[f"state_groups/size_{n}"].append(float(count))
    metrics["state_groups/shared_step_rate"].append(
        sum(n * count for n, count in sizes.items() if n > 1) / steps if steps else 0.0
    )
    logger.info("state-group sizes {size: groups}: %s", sizes)


logger = logging.getLogger(__name__)


def trajectory_reward(prompts: list[Any], completions: list[Any], step_rewards: list[list[float | None]], **_: Any):
    """TRL needs a reward function: the sum of a rollout's step rewards (None when it has none). Logging only;
    the advantages come from the step rewards themselves."""
    out: list[float | None] = []
    for rewards in step_rewards:
        scored = [r for r in rewards if r is not None]
        out.append(float(sum(scored)) if scored else None)
    return out


class StepGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` whose advantages are Step-GRPO's per-token ones (see the module docstring)."""

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        out = super()._generate_and_score_completions(inputs)
        if any("step_rewards" not in x or "turn_ids" not in x for x in inputs):
            raise ValueError(
                "StepGRPOTrainer needs a rollout_func that returns step_rewards and turn_ids per sample "
                "(webgen.training.rollout.TrajectoryRollout does)"
            )
        mode = "train" if self.model.training else "eval"
        group = self.num_generations if mode == "train" else self.num_generations_eval
        local = [list(x.get("step_rewards") or []) for x in inputs]
        turn_ids = [list(x.get("turn_ids") or []) for x in inputs]
        everyone = gather_object(local)  # every rank's samples, in rank order: whole groups
        keys = gather_object([list(x.get("state_keys") or []) for x in inputs])
        if getattr(self.args, "grouping", "trajectory") == "gigpo":
            if any(len(k) != len(r) for k, r in zip(keys, everyone, strict=True)):
                raise ValueError("the gigpo grouping needs state_keys per step from the rollout function")
            advantages = gigpo_advantages(
                everyone, keys, group, step_weight=self.args.gigpo_step_weight, gamma=self.args.gigpo_gamma
            )
        else:
            advantages = group_advantages(everyone, group)
        if all(len(k) == len(r) for k, r in zip(keys, everyone, strict=True)):
            log_state_groups(self._metrics[mode], state_group_sizes(everyone, keys, group))
        start = self.accelerator.process_index * len(inputs)
        mine = advantages[start : start + len(inputs)]
        width = out["completion_ids"].size(1)
        out["advantages"] = token_advantages(turn_ids, mine, width).to(out["completion_ids"].device)
        self._log_step_stats(mode, everyone, advantages)
        return out

    def _log_step_stats(self, mode: str, rewards: list[list[float | None]], advantages: list[list[float]]) -> None:
        scored = torch.tensor([r for sample in rewards for r in sample if r is not None], dtype=torch.float32)
        values = torch.tensor(
            [
                a
                for sample_r, sample_a in zip(rewards, advantages, strict=True)
                for r, a in zip(sample_r, sample_a, strict=True)
                if r is not None
            ],
            dtype=torch.float32,
        )
        metrics = self._metrics[mode]
        metrics["step_grpo/step_reward_mean"].append(scored.mean().item() if scored.numel() else 0.0)
        metrics["step_grpo/step_reward_std"].append(scored.std().item() if scored.numel() > 1 else 0.0)
        metrics["step_grpo/steps_per_sample"].append(sum(len(r) for r in rewards) / max(1, len(rewards)))
        metrics["step_grpo/unscored_steps"].append(float(sum(r is None for sample in rewards for r in sample)))
        metrics["step_grpo/advantage_abs_mean"].append(values.abs().mean().item() if values.numel() else 0.0)
        metrics["step_grpo/advantage_max"].append(values.max().item() if values.numel() else 0.0)
        metrics["step_grpo/advantage_min"].append(values.min().item() if values.numel() else 0.0)
