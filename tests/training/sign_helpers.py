"""Shared pieces of the sign tests: fixed completions (the policy is the model), their log-probs under a model,
a trainer whose advantages are deliberately flipped, and the TRL options of a short, decay-free run."""

from __future__ import annotations

from typing import Any

import torch

from webgen.training.turns import Generated

#: a short run with no weight decay (decay alone moves weights with a zero gradient) and on-policy updates
SIGN_RUN = {
    "num_generations": 2,
    "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 1,
    "num_iterations": 1,
    "weight_decay": 0.0,
    "learning_rate": 3e-3,
    "lr_scheduler_type": "constant",
    "warmup_ratio": 0.0,
    "max_grad_norm": 1.0,
    "max_steps": 3,
    "logging_steps": 1,
    "save_strategy": "no",
    "report_to": "none",
    "gradient_checkpointing": False,
    "torch_threads": 1,
    "seed": 0,
}


def prompt_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def reply_ids(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


def token_logprobs(model: Any, context: list[int], completion: list[int]) -> torch.Tensor:
    """log p(completion token | everything before it), one per completion token."""
    model.eval()
    with torch.no_grad():
        ids = torch.tensor([context + completion])
        logits = model(ids).logits[0, len(context) - 1 : -1].float()
    return torch.log_softmax(logits, -1).gather(-1, torch.tensor(completion).unsqueeze(-1)).squeeze(-1)


class FixedRollout:
    """TRL ``rollout_func``: in each group the first sample is completion A, the second B (no sampling)."""

    def __init__(self, tokenizer: Any, a: str, b: str) -> None:
        self.a, self.b = reply_ids(tokenizer, a), reply_ids(tokenizer, b)
        self.__name__ = "fixed_rollout"

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, Any]:
        tokenizer = trainer.processing_class
        return {
            "prompt_ids": [prompt_ids(tokenizer, p) for p in prompts],
            "completion_ids": [self.a if i % 2 == 0 else self.b for i in range(len(prompts))],
            "logprobs": None,
        }


class FixedTurns:
    """A turn generator for the multi-turn rollout: rollout 2k writes A, rollout 2k+1 writes B."""

    def __init__(self, tokenizer: Any, a: str, b: str) -> None:
        self.a, self.b = reply_ids(tokenizer, a), reply_ids(tokenizer, b)

    def __call__(self, contexts: list[list[int]], max_new_tokens: int) -> list[Generated]:
        return [
            Generated(ids=self.a if i % 2 == 0 else self.b, logprobs=None, stopped=True) for i in range(len(contexts))
        ]


def flipped(cls: type) -> type:
    """``cls`` with the sign of every advantage flipped: a deliberately broken trainer the sign tests must catch."""

    class Flipped(cls):  # type: ignore[misc, valid-type]
        def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
            out = super()._generate_and_score_completions(inputs)
            out["advantages"] = -out["advantages"]
            return out

    return Flipped
