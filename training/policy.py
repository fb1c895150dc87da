"""The policy a trainer starts from: a local model folder (never downloaded), its tokenizer, an optional LoRA."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from webgen.training.config import ConfigError, WebgenFields

__all__ = ["check_model_dir", "check_vllm", "load_policy", "lora_config"]

logger = logging.getLogger(__name__)


def check_model_dir(model: str) -> Path:
    """The model folder, or a ConfigError saying what is wrong (no hub ids: nothing is downloaded)."""
    if not model:
        raise ConfigError("no model: give --model PATH (a local folder with config.json, weights and a tokenizer)")
    path = Path(model).expanduser()
    if not path.is_dir():
        raise ConfigError(f"model folder {path} does not exist (models are never downloaded; give a local folder)")
    if not (path / "config.json").is_file():
        raise ConfigError(f"model folder {path} has no config.json")
    return path


def load_policy(config: WebgenFields) -> tuple[Any, Any]:
    """(model, tokenizer) from ``config.model``; the tokenizer gets a pad token (its EOS) when it has none."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = check_model_dir(config.model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"model folder {path} cannot be loaded: {str(exc).splitlines()[0]}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        raise ConfigError(f"the tokenizer in {path} has no chat template (webgen trains on chat messages)")
    logger.info("policy %s: %.1fM parameters", path, sum(p.numel() for p in model.parameters()) / 1e6)
    return model, tokenizer


def lora_config(config: WebgenFields) -> Any:
    """A peft ``LoraConfig`` when ``use_lora``, else None."""
    if not config.use_lora:
        return None
    from peft import LoraConfig

    targets = config.lora_target_modules
    modules: str | list[str] = targets if targets == "all-linear" else [t.strip() for t in targets.split(",")]
    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=modules,
        task_type="CAUSAL_LM",
    )


def check_vllm(config: object) -> None:
    """With ``use_vllm``, vLLM (the ``gpu`` extra) and a CUDA device must be there; else a one-line ConfigError."""
    if not getattr(config, "use_vllm", False):
        return
    import importlib.util

    import torch

    if importlib.util.find_spec("vllm") is None:
        raise ConfigError("use_vllm: vLLM is not installed (the `gpu` extra, on GPU machines only)")
    if not torch.cuda.is_available():
        raise ConfigError("use_vllm: vLLM needs a CUDA GPU and none is visible")
