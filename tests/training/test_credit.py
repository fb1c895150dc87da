"""Multi-turn credit: a reward on turn 2 moves turn 2's tokens, not turn 1's. Two rollouts of one prompt score 0
on turn 1 (different replies) and +1 / -1 on turn 2, so the pooled z-score gives turn 1 an advantage of 0.
The rollout function returns what :class:`~webgen.training.rollout.TrajectoryRollout` returns (token ids, the
feedback mask, step rewards, the per-token turn map) for fixed turns; the trainer is the real StepGRPOTrainer.
A deliberately broken credit (each rollout's turn-2 advantage on all its tokens) must fail the same check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from tests.training.sign_helpers import SIGN_RUN, prompt_ids, reply_ids, token_logprobs
from webgen.training.advantage import FEEDBACK
from webgen.training.config import load_config
from webgen.training.rollout import feedback_ids
from webgen.training.step_trainer import StepGRPOTrainer, trajectory_reward
from webgen.training.trajectory import TrajectoryConfig

PROMPT = [{"role": "user", "content": "Build: A bakery site"}]
TURN1 = {
    +1.0: "<boltArtifact id='s' title='s'>first draft of the home page</boltArtifact>",
    -1.0: "Let me think about the menu page before writing it.",
}
TURN2 = {+1.0: "export default function Home() { return <main>Fresh bread</main>; }", -1.0: "The page is blank."}


class TwoTurns:
    def __init__(self, tokenizer: Any) -> None:
        self.turn1 = {r: reply_ids(tokenizer, text) for r, text in TURN1.items()}
        self.feedback = feedback_ids(tokenizer, "Build: succeeded. The screenshot was graded 3/5.")
        self.turn2 = {r: reply_ids(tokenizer, text) for r, text in TURN2.items()}
        self.__name__ = "two_turns"

    def completion(self, reward: float) -> tuple[list[int], list[int]]:
        ids = self.turn1[reward] + self.feedback + self.turn2[reward]
        turns = [0] * len(self.turn1[reward]) + [FEEDBACK] * len(self.feedback) + [1] * len(self.turn2[reward])
        return ids, turns

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, Any]:
        rewards = [+1.0 if i % 2 == 0 else -1.0 for i in range(len(prompts))]
        built = [self.completion(r) for r in rewards]
        return {
            "prompt_ids": [prompt_ids(trainer.processing_class, p) for p in prompts],
            "completion_ids": [ids for ids, _ in built],
            "logprobs": None,
            "env_mask": [[0 if t == FEEDBACK else 1 for t in turns] for _, turns in built],
            "step_rewards": [[0.0, r] for r in rewards],
            "turn_ids": [turns for _, turns in built],
        }


class CreditToAll(StepGRPOTrainer):
    """Broken on purpose: every token of a rollout takes its last turn's advantage (a trajectory-level scalar)."""

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        out = super()._generate_and_score_completions(inputs)
        advantages = out["advantages"]
        last = torch.stack([row[row != 0][-1] if (row != 0).any() else row[0] for row in advantages])
        out["advantages"] = last.unsqueeze(1).expand_as(advantages).clone()
        return out


def _moves(tiny_model: Path, tmp_path: Path, cls: type) -> dict[str, float]:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    rollout = TwoTurns(tokenizer)
    config = load_config(TrajectoryConfig, None, {**SIGN_RUN, "output_dir": str(tmp_path)})
    start = AutoModelForCausalLM.from_pretrained(tiny_model)
    trainer = cls(
        model=AutoModelForCausalLM.from_pretrained(tiny_model),
        reward_funcs=[trajectory_reward],
        args=config,
        train_dataset=Dataset.from_list([{"prompt": PROMPT}]),
        processing_class=tokenizer,
        rollout_func=rollout,
    )
    trainer.train()
    context = prompt_ids(tokenizer, PROMPT)
    moves = {}
    for reward, name in ((+1.0, "up"), (-1.0, "down")):
        ids, turns = rollout.completion(reward)
        delta = token_logprobs(trainer.model, context, ids) - token_logprobs(start, context, ids)
        turns_t = torch.tensor(turns)
        moves[f"turn1_{name}"] = float(delta[turns_t == 0].mean())
        moves[f"turn2_{name}"] = float(delta[turns_t == 1].mean())
    return moves


def _credited_to_turn2(moves: dict[str, float]) -> bool:
    """Turn 2's +1 reply rose and its -1 reply fell; the two turn-1 replies (advantage 0) moved apart by far less
    (they drift a little through the shared weights: measured 0.18 of turn 2's split, 0.89 with the broken
    credit)."""
    turn2_split = moves["turn2_up"] - moves["turn2_down"]
    turn1_split = abs(moves["turn1_up"] - moves["turn1_down"])
    return moves["turn2_up"] > 0 > moves["turn2_down"] and turn1_split < 0.4 * turn2_split


@pytest.mark.slow
def test_a_reward_on_turn_2_moves_turn_2_not_turn_1(tiny_model: Path, tmp_path: Path) -> None:
    moves = _moves(tiny_model, tmp_path / "ok", StepGRPOTrainer)
    assert _credited_to_turn2(moves), moves
    broken = _moves(tiny_model, tmp_path / "broken", CreditToAll)
    assert not _credited_to_turn2(broken), broken
