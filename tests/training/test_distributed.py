"""Step-GRPO's advantages with 2 processes (torch.distributed, gloo on CPU): a group split across the ranks is
gathered first, and each rank's (B, T) advantages equal its slice of the computation over the whole batch.

The test launches this module with ``torch.distributed.run``; each rank trains one step of a tiny local model
with scripted rollouts (fixed ids and step rewards: the policy is the model) and writes what it saw to JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from webgen.training.advantage import FEEDBACK, group_advantages, token_advantages

G = 2  # rollouts per prompt
PER_RANK = 3  # samples per rank: groups [A A B | B C C] (B is split between the ranks)


def _rewards(rank: int, i: int) -> list[float | None]:
    """Distinct step rewards for each sample (one unscorable step on rank 1)."""
    base = float(rank * 10 + i)
    return [base, None, base / 2] if (rank, i) == (1, 0) else [base, base / 2]


def _turn_ids(rewards: list[float | None]) -> list[int]:
    ids: list[int] = []
    for step in range(len(rewards)):
        ids += [step] * (3 + step) + [FEEDBACK] * 2
    return ids


def _worker(model: str, out_dir: str) -> None:
    import torch
    from datasets import Dataset

    from webgen.training.config import load_config
    from webgen.training.step_trainer import StepGRPOTrainer, trajectory_reward
    from webgen.training.trajectory import TrajectoryConfig

    rank = int(os.environ["RANK"])

    def rollout(prompts: list[Any], trainer: Any) -> dict[str, Any]:
        tok = trainer.processing_class
        rewards = [_rewards(rank, i) for i in range(len(prompts))]
        turns = [_turn_ids(r) for r in rewards]
        return {
            "prompt_ids": [tok(p[-1]["content"], add_special_tokens=False)["input_ids"] for p in prompts],
            "completion_ids": [[5 + (j % 50) for j in range(len(t))] for t in turns],
            "logprobs": None,
            "env_mask": [[0 if x == FEEDBACK else 1 for x in t] for t in turns],
            "step_rewards": rewards,
            "turn_ids": turns,
        }

    class Recording(StepGRPOTrainer):
        def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
            out = super()._generate_and_score_completions(inputs)
            seen = {
                "rank": rank,
                "step_rewards": [x["step_rewards"] for x in inputs],
                "turn_ids": [x["turn_ids"] for x in inputs],
                "advantages": out["advantages"].tolist(),
            }
            Path(out_dir, f"rank{rank}.json").write_text(json.dumps(seen))
            return out

    config = load_config(
        TrajectoryConfig,
        None,
        {
            "output_dir": str(Path(out_dir) / "train"),
            "num_generations": G,
            "per_device_train_batch_size": PER_RANK,
            "gradient_accumulation_steps": 1,
            "max_steps": 1,
            "report_to": "none",
            "save_strategy": "no",
            "use_cpu": True,
            "torch_threads": 1,
        },
    )
    torch.set_num_threads(1)
    trainer = Recording(
        model=model,
        reward_funcs=[trajectory_reward],
        args=config,
        train_dataset=Dataset.from_list([{"prompt": [{"role": "user", "content": f"site {c}"}]} for c in "ABC"]),
        rollout_func=rollout,
    )
    trainer.train()


@pytest.mark.slow
def test_groups_split_across_two_processes_match_the_global_computation(tiny_model: Path, tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TRL_EXPERIMENTAL_SILENCE": "1", "PYTHONPATH": str(Path.cwd())}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "tests.training.test_distributed", str(tiny_model), str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240, start_new_session=True)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    everyone = [r for rank in seen for r in rank["step_rewards"]]
    assert everyone == [_rewards(rank, i) for rank in (0, 1) for i in range(PER_RANK)]  # rank order, 3 + 3
    expected = group_advantages(everyone, G)  # the global computation: group B spans both ranks
    for rank in seen:
        mine = expected[rank["rank"] * PER_RANK : (rank["rank"] + 1) * PER_RANK]
        width = len(rank["advantages"][0])
        want = token_advantages(rank["turn_ids"], mine, width)
        assert torch.allclose(torch.tensor(rank["advantages"]), want, atol=1e-6)
    # the split group's advantages pool both ranks' steps: not what either rank alone would compute
    alone = group_advantages([everyone[2], [0.0]], 2)[0]
    assert not torch.allclose(torch.tensor(expected[2]), torch.tensor(alone))


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2])
