"""Step-GRPO advantages (WebGen-Agent, ARCHITECTURE §7): pure functions, no trainer state.

A group is ``group_size`` consecutive samples (the rollouts of one instruction). All their step rewards are
pooled into R; step j of sample i gets ``(r_ij - mean(R)) / (std(R) + eps)`` with the unbiased std, as in the
published ``compute_step_level_grpo_advantage``. A group with a single score uses mean 0 and std 1. A step
whose reward is None or NaN (unscorable: the judge was down) is left out of R and gets advantage 0, as does
every step of a group with no score at all.

:func:`token_advantages` broadcasts step advantages onto tokens through a per-token step-id map, in which
``FEEDBACK`` (-1) marks environment tokens (advantage 0; they are masked from the loss anyway).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = [
    "EPS",
    "FEEDBACK",
    "gigpo_advantages",
    "group_advantages",
    "group_stats",
    "state_group_sizes",
    "token_advantages",
]

EPS = 1e-6
FEEDBACK = -1


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def group_stats(rewards: Sequence[float | None]) -> tuple[float, float] | None:
    """(mean, std) of the scores in ``rewards`` (None/NaN left out): unbiased std; (0, 1) for a single score;
    None when there is no score."""
    scores = [float(r) for r in rewards if _finite(r)]
    if not scores:
        return None
    if len(scores) == 1:
        return 0.0, 1.0
    mean = sum(scores) / len(scores)
    std = math.sqrt(sum((s - mean) ** 2 for s in scores) / (len(scores) - 1))
    return mean, std


def group_advantages(
    step_rewards: Sequence[Sequence[float | None]], group_size: int, *, eps: float = EPS
) -> list[list[float]]:
    """Per-step advantages of each sample; samples come in contiguous groups of ``group_size``."""
    if group_size < 1:
        raise ValueError(f"group_size must be at least 1, not {group_size}")
    if len(step_rewards) % group_size:
        raise ValueError(f"{len(step_rewards)} samples do not split into groups of {group_size}")
    out: list[list[float]] = []
    for start in range(0, len(step_rewards), group_size):
        group = step_rewards[start : start + group_size]
        stats = group_stats([r for sample in group for r in sample])
        for sample in group:
            if stats is None:
                out.append([0.0] * len(sample))
                continue
            mean, std = stats
            out.append([(float(r) - mean) / (std + eps) if _finite(r) else 0.0 for r in sample])  # type: ignore[arg-type]
    return out


def token_advantages(
    step_ids: Sequence[Sequence[int]], advantages: Sequence[Sequence[float]], length: int | None = None
) -> torch.Tensor:
    """A (B, T) float tensor: token t of sample b gets ``advantages[b][step_ids[b][t]]``; ``FEEDBACK`` tokens and
    the right padding (up to ``length``, default the longest map) get 0."""
    if len(step_ids) != len(advantages):
        raise ValueError(f"{len(step_ids)} step-id maps for {len(advantages)} samples")
    width = max((len(ids) for ids in step_ids), default=0) if length is None else length
    out = torch.zeros(len(step_ids), width, dtype=torch.float32)
    for row, (ids, values) in enumerate(zip(step_ids, advantages, strict=True)):
        if len(ids) > width:
            raise ValueError(f"sample {row} has {len(ids)} tokens, more than the width {width}")
        table = torch.tensor([0.0, *values], dtype=torch.float32)  # index 0 is FEEDBACK
        index = torch.tensor(ids, dtype=torch.long) + 1
        if index.numel() and (index.min() < 0 or index.max() >= table.numel()):
            raise ValueError(f"sample {row} names a step it has no advantage for")
        out[row, : len(ids)] = table[index]
    return out


# --- GiGPO (verl-agent's group-in-group idea, written here): episode term + step term over shared states ----


def _returns(rewards: Sequence[float | None], gamma: float) -> list[float]:
    """Discounted return from each step on (unscorable steps count 0)."""
    out, running = [0.0] * len(rewards), 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = (float(rewards[t]) if _finite(rewards[t]) else 0.0) + gamma * running  # type: ignore[arg-type]
        out[t] = running
    return out


def _z(values: Sequence[float], value: float, eps: float) -> float:
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return (value - mean) / (std + eps)


def gigpo_advantages(
    step_rewards: Sequence[Sequence[float | None]],
    state_keys: Sequence[Sequence[str]],
    group_size: int,
    *,
    step_weight: float = 1.0,
    gamma: float = 0.95,
    eps: float = EPS,
) -> list[list[float]]:
    """GiGPO-style advantages: ``A = A_episode + step_weight * A_step`` per step.

    * episode: each rollout's total reward, z-scored over the group's rollouts (unbiased std), on all its steps;
    * step: within a group, steps that start from the same state (``state_keys``: same files, same last
      feedback) form a state group; a step's discounted return from there on, z-scored over its state group
      (0 for a state group of one).

    Unscorable steps (None/NaN) get 0; a rollout with no score at all takes no part in the episode term."""
    if group_size < 1 or len(step_rewards) % group_size:
        raise ValueError(f"{len(step_rewards)} samples do not split into groups of {group_size}")
    out: list[list[float]] = []
    for start in range(0, len(step_rewards), group_size):
        rewards = step_rewards[start : start + group_size]
        keys = state_keys[start : start + group_size]
        totals = [
            sum(float(r) for r in sample if _finite(r)) if any(_finite(r) for r in sample) else None
            for sample in rewards
        ]  # type: ignore[arg-type]
        scored_totals = [t for t in totals if t is not None]
        returns = [_returns(sample, gamma) for sample in rewards]
        by_state: dict[str, list[float]] = {}
        for sample_r, sample_k, sample_g in zip(rewards, keys, returns, strict=True):
            for r, k, g in zip(sample_r, sample_k, sample_g, strict=True):
                if _finite(r):
                    by_state.setdefault(k, []).append(g)
        for sample_r, sample_k, sample_g, total in zip(rewards, keys, returns, totals, strict=True):
            episode = _z(scored_totals, total, eps) if total is not None else 0.0
            out.append(
                [
                    episode + step_weight * _z(by_state[k], g, eps) if _finite(r) else 0.0
                    for r, k, g in zip(sample_r, sample_k, sample_g, strict=True)
                ]
            )
    return out


def state_group_sizes(
    step_rewards: Sequence[Sequence[float | None]], state_keys: Sequence[Sequence[str]], group_size: int
) -> dict[int, int]:
    """How many state groups of each size the scored steps form (per group of rollouts): {size: count}."""
    sizes: dict[int, int] = {}
    for start in range(0, len(step_rewards), group_size):
        counts: dict[str, int] = {}
        for sample_r, sample_k in zip(
            step_rewards[start : start + group_size], state_keys[start : start + group_size], strict=True
        ):
            for r, k in zip(sample_r, sample_k, strict=True):
                if _finite(r):
                    counts[k] = counts.get(k, 0) + 1
        for n in counts.values():
            sizes[n] = sizes.get(n, 0) + 1
    return dict(sorted(sizes.items()))
