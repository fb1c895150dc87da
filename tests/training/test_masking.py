"""The loss TRL computes with Step-GRPO's (B, T) advantages: feedback tokens give no gradient, and each step's
tokens give exactly their own share (gradients compared on a tiny local model)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from webgen.training.advantage import FEEDBACK, token_advantages
from webgen.training.config import load_config
from webgen.training.step_trainer import StepGRPOTrainer, trajectory_reward
from webgen.training.trajectory import TrajectoryConfig

# one sample: step 0 (3 tokens), feedback (2), step 1 (3); another: step 0 (4), feedback (4)
TURNS = [[0, 0, 0, FEEDBACK, FEEDBACK, 1, 1, 1], [0, 0, 0, 0, FEEDBACK, FEEDBACK, FEEDBACK, FEEDBACK]]
STEP_ADVANTAGES = [[1.5, -0.75], [-0.5]]


@pytest.fixture(scope="module")
def trainer(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> StepGRPOTrainer:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = load_config(
        TrajectoryConfig,
        None,
        {
            "output_dir": str(tmp_path_factory.mktemp("masking")),
            "num_generations": 2,
            "per_device_train_batch_size": 2,
            "gradient_accumulation_steps": 1,
            "report_to": "none",
        },
    )
    return StepGRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_model),
        reward_funcs=[trajectory_reward],
        args=config,
        train_dataset=Dataset.from_list([{"prompt": [{"role": "user", "content": "a site"}]}]),
        processing_class=AutoTokenizer.from_pretrained(tiny_model),
    )


def _gradient(trainer: StepGRPOTrainer, advantages: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    prompt_ids = torch.randint(3, 500, (2, 5), generator=generator)
    completion_ids = torch.randint(3, 500, (2, 8), generator=generator)
    env_mask = torch.tensor([[0 if t == FEEDBACK else 1 for t in row] for row in TURNS])
    inputs = {
        "prompt_ids": prompt_ids,
        "prompt_mask": torch.ones_like(prompt_ids),
        "completion_ids": completion_ids,
        "completion_mask": torch.ones_like(completion_ids),
        "tool_mask": env_mask,
        "advantages": advantages,
        "num_items_in_batch": env_mask.sum(),
    }
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer's training loop, which is not running here
    model = trainer.model
    model.train()
    model.zero_grad()
    trainer.compute_loss(model, inputs).backward()
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]).clone()


def test_feedback_tokens_give_no_gradient_and_each_step_gives_its_own(trainer: StepGRPOTrainer) -> None:
    full = token_advantages(TURNS, STEP_ADVANTAGES)
    assert full.shape == (2, 8)
    g_full = _gradient(trainer, full)
    assert g_full.abs().sum() > 0

    # a huge advantage on the feedback tokens changes nothing: they are masked by env_mask
    poisoned = full.clone()
    poisoned[torch.tensor(TURNS) == FEEDBACK] = 1e6
    assert torch.allclose(_gradient(trainer, poisoned), g_full, rtol=1e-5, atol=1e-8)

    # zeroing step 1 of sample 0 removes exactly its tokens' share; the shares add up to the whole
    without_step1 = token_advantages(TURNS, [[1.5, 0.0], [-0.5]])
    only_step1 = token_advantages(TURNS, [[0.0, -0.75], [0.0]])
    g_without, g_only = _gradient(trainer, without_step1), _gradient(trainer, only_step1)
    assert g_only.abs().sum() > 0
    assert torch.allclose(g_full - g_without, g_only, rtol=1e-4, atol=1e-7)
    relative = (g_without + g_only - g_full).norm() / g_full.norm()
    assert relative < 1e-5

    # no advantage, no gradient
    assert torch.count_nonzero(_gradient(trainer, torch.zeros(2, 8))) == 0
