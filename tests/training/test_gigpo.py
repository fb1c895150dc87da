"""The gigpo grouping: an episode-level advantage plus a step-level one over steps that start from the same state,
checked against numbers worked out by hand, and through StepGRPOTrainer (with its state-group histogram)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.training.sign_helpers import SIGN_RUN, prompt_ids
from webgen.training.advantage import FEEDBACK, gigpo_advantages, state_group_sizes, token_advantages
from webgen.training.config import load_config
from webgen.training.step_trainer import StepGRPOTrainer, trajectory_reward
from webgen.training.trajectory import TrajectoryConfig

# one group of 2 rollouts: both start from state "s0"; rollout 0 then reaches "a", rollout 1 reaches "b"
REWARDS = [[1.0, 4.0], [1.0, 0.0]]
KEYS = [["s0", "a"], ["s0", "b"]]


def test_episode_plus_step_term_by_hand() -> None:
    out = gigpo_advantages(REWARDS, KEYS, 2, step_weight=1.0, gamma=0.5)
    # episode: totals 5 and 1, mean 3, unbiased std sqrt(8) -> +-2/sqrt(8) = +-0.7071
    episode = 2 / (math.sqrt(8) + 1e-6)
    # step term at s0: returns 1 + 0.5*4 = 3 and 1 + 0 = 1 -> +-1/sqrt(2); at "a" and "b": groups of one -> 0
    step = 1 / (math.sqrt(2) + 1e-6)
    assert out[0] == pytest.approx([episode + step, episode])
    assert out[1] == pytest.approx([-episode - step, -episode])
    half = gigpo_advantages(REWARDS, KEYS, 2, step_weight=0.5, gamma=0.5)
    assert half[0][0] == pytest.approx(episode + 0.5 * step)
    assert state_group_sizes(REWARDS, KEYS, 2) == {1: 2, 2: 1}
    # unscorable steps get 0 and are no one's peer; a rollout with no score takes no part in the episode term
    out = gigpo_advantages([[None, 2.0], [None, None]], [["s0", "x"], ["s0", "y"]], 2)
    assert out == [[0.0, 0.0], [0.0, 0.0]]  # one scored rollout: no episode spread, "x" alone: no step spread
    with pytest.raises(ValueError, match="groups of 2"):
        gigpo_advantages([[1.0]] * 3, [["s"]] * 3, 2)


class KeyedRollout:
    """Fixed 2-turn rollouts with the step rewards and state keys of REWARDS and KEYS (the policy is the model)."""

    __name__ = "keyed_rollout"

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, Any]:
        turns = [0, 0, 0, FEEDBACK, FEEDBACK, 1, 1]
        n = len(prompts)
        return {
            "prompt_ids": [prompt_ids(trainer.processing_class, p) for p in prompts],
            "completion_ids": [[5 + i, 6, 7, 8, 9, 10 + i, 11] for i in range(n)],
            "logprobs": None,
            "env_mask": [[0 if t == FEEDBACK else 1 for t in turns]] * n,
            "step_rewards": [REWARDS[i % 2] for i in range(n)],
            "turn_ids": [turns] * n,
            "state_keys": [KEYS[i % 2] for i in range(n)],
        }


class Recording(StepGRPOTrainer):
    seen: list[torch.Tensor] = []

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        out = super()._generate_and_score_completions(inputs)
        Recording.seen.append(out["advantages"].clone())
        return out


def test_trainer_uses_gigpo_advantages_and_logs_state_groups(tiny_model: Path, tmp_path: Path) -> None:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run = {**SIGN_RUN, "max_steps": 1, "output_dir": str(tmp_path), "grouping": "gigpo", "gigpo_gamma": 0.5}
    config = load_config(TrajectoryConfig, None, run)
    trainer = Recording(
        model=AutoModelForCausalLM.from_pretrained(tiny_model),
        reward_funcs=[trajectory_reward],
        args=config,
        train_dataset=Dataset.from_list([{"prompt": [{"role": "user", "content": "a site"}]}]),
        processing_class=AutoTokenizer.from_pretrained(tiny_model),
        rollout_func=KeyedRollout(),
    )
    trainer.train()
    want = token_advantages([[0, 0, 0, FEEDBACK, FEEDBACK, 1, 1]] * 2, gigpo_advantages(REWARDS, KEYS, 2, gamma=0.5))
    assert torch.allclose(Recording.seen[-1], want, atol=1e-5)
    logged = {k: v for entry in trainer.state.log_history for k, v in entry.items() if k.startswith("state_groups")}
    assert logged == {"state_groups/size_1": 2.0, "state_groups/size_2": 1.0, "state_groups/shared_step_rate": 0.5}
