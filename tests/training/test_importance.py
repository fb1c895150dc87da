"""vLLM's sampled log-probs under top-p are renormalised over the nucleus; the trainer's are not. With TRL's
sequence-level importance sampling the ratio over a long completion is prod Z_t and the loss vanishes; the
configs' per-token truncated IS keeps it. The sampler here is the model itself with top-p 0.95 (as vLLM samples)
and its log-probs renormalised as vLLM's ``processed_logprobs`` are; the rest is TRL's own code path."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from webgen.training.config import ConfigError, StateGRPOConfig, load_config
from webgen.training.step_trainer import StepGRPOTrainer, trajectory_reward
from webgen.training.trajectory import TrajectoryConfig

TOP_P = 0.95
LENGTH = 300  # tokens per completion (real ones have thousands)


def _nucleus_logprobs(logits: torch.Tensor, ids: torch.Tensor, top_p: float) -> torch.Tensor:
    """log q(token) with q the softmax renormalised over the top-p nucleus (what vLLM reports when it samples)."""
    probs = torch.softmax(logits.float(), -1)
    sorted_probs, order = probs.sort(-1, descending=True)
    before = sorted_probs.cumsum(-1) - sorted_probs  # mass strictly before each token
    keep_sorted = before < top_p
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    kept_mass = (probs * keep).sum(-1)
    chosen = probs.gather(-1, ids.unsqueeze(-1)).squeeze(-1)
    assert bool(keep.gather(-1, ids.unsqueeze(-1)).all()), "a sampled token outside the nucleus"
    return chosen.log() - kept_mass.log()


class NucleusRollout:
    """A rollout_func: the policy samples with top-p (as vLLM does) and reports renormalised log-probs."""

    def __init__(self, renormalised: bool = True) -> None:
        self.renormalised = renormalised
        self.__name__ = "nucleus_rollout"

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, Any]:
        tokenizer, model = trainer.processing_class, trainer.model
        text = tokenizer.apply_chat_template(prompts[0], add_generation_prompt=True, tokenize=False)
        prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        torch.manual_seed(0)
        with torch.no_grad():
            out = model.generate(
                torch.tensor([prompt_ids] * len(prompts)),
                do_sample=True,
                top_p=TOP_P,
                top_k=0,
                temperature=1.0,
                min_new_tokens=LENGTH,
                max_new_tokens=LENGTH,
                pad_token_id=tokenizer.pad_token_id,
            )
            logits = model(out).logits[:, len(prompt_ids) - 1 : -1]
        completion = out[:, len(prompt_ids) :]
        logprobs = _nucleus_logprobs(logits, completion, TOP_P if self.renormalised else 1.0)
        return {
            "prompt_ids": [prompt_ids] * len(prompts),
            "completion_ids": completion.tolist(),
            "logprobs": logprobs.tolist(),
            "env_mask": [[1] * LENGTH for _ in prompts],
            "step_rewards": [[1.0] if i % 2 == 0 else [0.0] for i in range(len(prompts))],
            "turn_ids": [[0] * LENGTH for _ in prompts],
        }


def _trainer(tiny_model: Path, out: Path, rollout: NucleusRollout, **overrides: Any) -> StepGRPOTrainer:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = load_config(
        TrajectoryConfig,
        None,
        {
            "output_dir": str(out),
            "num_generations": 2,
            "per_device_train_batch_size": 2,
            "gradient_accumulation_steps": 1,
            "report_to": "none",
            "gradient_checkpointing": False,
            **overrides,
        },
    )
    trainer = StepGRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_model),
        reward_funcs=[trajectory_reward],
        args=config,
        train_dataset=Dataset.from_list([{"prompt": [{"role": "user", "content": "a site"}]}]),
        processing_class=AutoTokenizer.from_pretrained(tiny_model),
        rollout_func=rollout,
    )
    # the vLLM path of TRL's scoring without an engine (no GPU here): the rollout is the sampler
    trainer.use_vllm = True
    trainer.vllm_generation = SimpleNamespace(sync_weights=lambda: None)
    trainer._last_loaded_step = 0
    return trainer


def _loss_gradient(trainer: StepGRPOTrainer) -> tuple[torch.Tensor, float]:
    prompt = [{"role": "user", "content": "a site"}]
    trainer.model.eval()
    batch = trainer._generate_and_score_completions([{"prompt": prompt}, {"prompt": prompt}])
    trainer.current_gradient_accumulation_steps = 1
    trainer.model.train()
    trainer.model.zero_grad()
    trainer.compute_loss(trainer.model, batch).backward()
    grad = torch.cat([p.grad.flatten() for p in trainer.model.parameters() if p.grad is not None])
    return batch["importance_sampling_ratio"], float(grad.norm())


@pytest.mark.slow
def test_top_p_log_probs_collapse_the_sequence_ratio_but_not_the_default_token_ratio(
    tiny_model: Path, tmp_path: Path
) -> None:
    # on-policy reference: the sampler's log-probs are the trainer's (top-p 1 log-probs of the same tokens)
    exact, exact_norm = _loss_gradient(_trainer(tiny_model, tmp_path / "a", NucleusRollout(renormalised=False)))
    assert torch.allclose(exact, torch.ones_like(exact), atol=1e-3) and exact_norm > 0

    # TRL's default (sequence_mask): the ratio is the product of the kept masses, about 0.95^300: no loss left
    seq, seq_norm = _loss_gradient(
        _trainer(tiny_model, tmp_path / "b", NucleusRollout(), vllm_importance_sampling_mode="sequence_mask")
    )
    assert seq.shape[-1] == 1 and float(seq.max()) < 1e-3
    assert seq_norm < 1e-3 * exact_norm

    # this project's configs: per-token truncated IS, each ratio is Z_t (about 0.95): the loss keeps its size
    token, token_norm = _loss_gradient(_trainer(tiny_model, tmp_path / "c", NucleusRollout()))
    assert token.shape[-1] == LENGTH and 0.85 < float(token.mean()) <= 1.0 + 1e-4
    assert token_norm > 0.8 * exact_norm
    assert math.isfinite(token_norm)


def test_configs_use_per_token_is_and_refuse_a_vanishing_one(tmp_path: Path) -> None:
    for cls in (TrajectoryConfig, StateGRPOConfig):
        config = load_config(cls, None, {"output_dir": str(tmp_path)})
        assert config.top_p == 0.95 and config.vllm_importance_sampling_mode == "token_truncate"
    with pytest.raises(ConfigError, match="sequence-level ratio"):
        load_config(
            StateGRPOConfig,
            None,
            {"output_dir": str(tmp_path), "use_vllm": True, "vllm_importance_sampling_mode": "sequence_mask"},
        )
    # top-p 1 with a sequence-level ratio is allowed (nothing is renormalised)
    load_config(
        StateGRPOConfig,
        None,
        {"output_dir": str(tmp_path), "use_vllm": True, "vllm_importance_sampling_mode": "sequence_mask", "top_p": 1},
    )
