"""Trainer configs: TRL config dataclasses with webgen fields, read from YAML plus ``key=value`` overrides.

Every trainer's config subclasses TRL's own (``SFTConfig``, ``GRPOConfig``), so every TRL option works as a key
(``learning_rate``, ``num_generations``, ``use_vllm``, ``vllm_mode``, ``report_to``...), and adds the webgen
fields of :class:`WebgenFields` plus its own data fields. Precedence: the class defaults (TRL's, then the paper's
below), then the YAML file, then the overrides. An unknown key is a :class:`ConfigError` naming it.

The resolved config (every field, as JSON) is written to ``<output_dir>/webgen_config.yaml`` and stored with
every run a trainer writes to the store (``run.config["training"]``); see :func:`resolved`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import enum
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from trl import GRPOConfig, SFTConfig

__all__ = [
    "CONFIG_FILE",
    "ConfigError",
    "DataError",
    "GRPOTrainConfig",
    "SFTTrainConfig",
    "StateGRPOConfig",
    "WebgenFields",
    "check_importance_sampling",
    "load_config",
    "parse_overrides",
    "resolved",
    "resume_arg",
    "save_resolved",
    "set_torch_threads",
    "settings_for",
    "torch_threads",
    "truncated_sampling",
]

CONFIG_FILE = "webgen_config.yaml"
C = TypeVar("C")


class ConfigError(ValueError):
    """A config file or override that cannot be used (one line, says which key and why)."""


class DataError(ValueError):
    """The training data cannot be built: nothing matches the filters, or a data file is malformed."""


@dataclass
class WebgenFields:
    """What every webgen trainer adds to TRL's config."""

    model: str = field(default="", metadata={"help": "a local model folder (weights and tokenizer); never downloaded"})
    database_url: str | None = field(default=None, metadata={"help": "the store (default: webgen's settings)"})
    webgen_settings: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "changes to webgen's Settings, e.g. {site: {page_timeout_s: 10}, agent: {...}}"},
    )
    use_lora: bool = field(default=False, metadata={"help": "train a LoRA adapter (peft) instead of all weights"})
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: str = field(default="all-linear", metadata={"help": "peft target_modules (comma list)"})
    torch_threads: int | None = field(
        default=None, metadata={"help": "CPU threads for torch (default: at most 4, leaving room for the evaluators)"}
    )


@dataclass
class SFTTrainConfig(WebgenFields, SFTConfig):
    """`webgen train sft`: chat conversations from the store, each ending at its run's best step; loss on the
    assistant turns only (TRL ``assistant_only_loss``; the chat template needs ``{% generation %}`` markers).
    Defaults after WebGen-Agent's SFT: lr 4e-5 cosine, warmup 0.1, 1 epoch, 32k tokens."""

    collection: str | None = field(default=None, metadata={"help": "only runs of this collection"})
    data_file: str | None = field(default=None, metadata={"help": "a JSONL of {messages: [...]} instead of the store"})
    min_score: float = field(default=3.0, metadata={"help": "the best step's screenshot or GUI score at least this"})
    status: str | None = field(default="finished", metadata={"help": "only runs with this status (None: any)"})
    max_examples: int | None = None
    include_training_runs: bool = field(
        default=False, metadata={"help": "also runs the trainers wrote (scored GRPO completions, rollouts)"}
    )
    assistant_only_loss: bool = True
    max_length: int | None = 32768
    learning_rate: float = 4e-5
    lr_scheduler_type: str = "cosine"
    warmup_ratio: float = 0.1
    num_train_epochs: float = 1.0


@dataclass
class _PoolFields:
    pool_workers: int = field(default=1, metadata={"help": "evaluator worker processes (each a site environment)"})
    eval_timeout_s: float = field(default=300.0, metadata={"help": "seconds one completion's evaluation may take"})


@dataclass
class GRPOTrainConfig(_PoolFields, WebgenFields, GRPOConfig):
    """`webgen train grpo`: WebGen-R1 single-shot GRPO. A prompt is an instruction; each completion writes a
    whole site into the fresh scaffold and gets the cascaded reward
    ``ψ_static | ψ_build | s_vis + γ·s_func + λ·s_cot``. Defaults after WebGen-R1 (lr 5e-6 cosine with a 10 %
    floor, warmup 3 %, temperature 1, G 16, 8192 completion tokens, 2 per device x 8 accumulation steps), but
    no KL term (``beta=0``; WebGen-R1 used 0.01) and TRL's PPO-clip (ε 0.2)."""

    collection: str | None = field(default=None, metadata={"help": "the tasks of this collection"})
    source: str | None = field(default=None, metadata={"help": "the tasks of this source in the store"})
    tasks_file: str | None = field(default=None, metadata={"help": "a WebGen-Bench/Instruct JSONL (imported)"})
    limit: int | None = field(default=None, metadata={"help": "at most this many tasks"})
    reward_gamma: float = field(default=0.1, metadata={"help": "γ, the weight of s_func (no console errors)"})
    reward_lambda: float = field(default=0.1, metadata={"help": "λ, the weight of s_cot (<think>/<answer> format)"})
    reward_psi_static: float = field(default=0.0, metadata={"help": "ψ_static, the reward when the static gate fails"})
    reward_psi_build: float = field(default=0.0, metadata={"help": "ψ_build, the reward when build/render fails"})
    beta: float = 0.0
    learning_rate: float = 5e-6
    lr_scheduler_type: str = "cosine_with_min_lr"
    lr_scheduler_kwargs: dict | str | None = field(default_factory=lambda: {"min_lr_rate": 0.1})
    warmup_ratio: float = 0.03
    num_generations: int | None = 16
    per_device_train_batch_size: int = 2
    gradient_accumulation_steps: int = 8
    max_completion_length: int | None = 8192
    temperature: float = 1.0
    vllm_importance_sampling_mode: str = "token_truncate"


@dataclass
class StateGRPOConfig(_PoolFields, WebgenFields, GRPOConfig):
    """`webgen train step-grpo --grouping state`: a row is a stored step (its history and the snapshot it was
    applied to); G completions per row are each applied to that snapshot and scored with the step reward
    (screenshot grade, GUI grade for a GUI request, -1 for a bad format or repetition). Defaults after
    WebGen-Agent's Step-GRPO: no KL, PPO-clip (ε 0.2) with the ratio capped at 3 (``delta``, like its
    dual clip), lr 1e-6 constant, weight decay 0.01, grad clip 0.5,
    temperature 1, top-p 0.95, G 5, micro-batch 1 x 5 accumulation steps."""

    grouping: Literal["state"] = "state"
    collection: str | None = field(default=None, metadata={"help": "only steps of this collection's runs"})
    min_score: float | None = field(default=None, metadata={"help": "only steps scored at least this"})
    max_score: float | None = field(default=None, metadata={"help": "only steps scored at most this"})
    include_error_steps: bool = field(default=False, metadata={"help": "also the steps that were error steps"})
    status: str | None = field(default=None, metadata={"help": "only steps of runs with this status"})
    limit: int | None = field(default=None, metadata={"help": "at most this many rows"})
    gui: bool = field(default=True, metadata={"help": "run the GUI test for completions that ask for one"})
    beta: float = 0.0
    delta: float | None = 3.0
    learning_rate: float = 1e-6
    lr_scheduler_type: str = "constant"
    warmup_ratio: float = 0.0
    weight_decay: float = 0.01
    max_grad_norm: float = 0.5
    num_generations: int | None = 5
    per_device_train_batch_size: int = 1
    gradient_accumulation_steps: int = 5
    temperature: float = 1.0
    top_p: float = 0.95
    max_completion_length: int | None = 9000
    save_total_limit: int | None = 2
    vllm_importance_sampling_mode: str = "token_truncate"


# --- loading ------------------------------------------------------------------------------------------


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["a=1", "b=[x, y]"]`` -> ``{"a": 1, "b": ["x", "y"]}``; values are YAML scalars or flow collections."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not KEY=VALUE")
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a mapping of keys to values")
    return data


def load_config(cls: type[C], yaml_path: Path | str | None = None, overrides: dict[str, Any] | None = None) -> C:
    """``cls`` (a config dataclass) from its defaults, then ``yaml_path``, then ``overrides``.

    On a machine without CUDA, ``bf16`` (TRL would otherwise refuse to start) and ``dataloader_pin_memory``
    default to False. Raises
    :class:`ConfigError` for an unknown key or a value TRL rejects, with one line saying which.
    """
    values = _read_yaml(Path(yaml_path)) if yaml_path is not None else {}
    values.update(overrides or {})
    names = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    for key in values:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"unknown config key {key!r} for {cls.__name__}{hint}")
    _undo_yaml_booleans(cls, values)
    if not _cuda():
        if "bf16" not in values and "fp16" not in values:
            values["bf16"] = False
        values.setdefault("dataloader_pin_memory", False)
    values.setdefault("output_dir", "webgen-out/train")
    try:
        config = cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{cls.__name__}: {str(exc).splitlines()[0]}") from None
    check_importance_sampling(config)
    return config


def truncated_sampling(config: Any) -> bool:
    """Whether the sampler draws from a truncated distribution (top-p < 1, top-k, min-p): vLLM's log-probs are then
    renormalised over the kept tokens, and the trainer's (full softmax) are not."""
    top_p, top_k, min_p = getattr(config, "top_p", 1.0), getattr(config, "top_k", 0), getattr(config, "min_p", None)
    return (top_p is not None and top_p < 1.0) or bool(top_k and top_k > 0) or bool(min_p)


def check_importance_sampling(config: Any) -> None:
    """Refuse a vLLM run whose importance-sampling correction would silently scale the loss towards 0.

    With truncated sampling every sampled token's vLLM log-prob exceeds the trainer's by -log Z_t (Z_t, the mass
    kept at step t), so a *sequence*-level ratio is prod Z_t: about 0.95^n over n tokens, 0 for the completions
    of thousands of tokens these trainers make. TRL's per-token truncated IS (``token_truncate``, the default
    here) keeps each token's ratio at Z_t, which is the correct weight for sampling from the truncated policy.
    """
    if not getattr(config, "use_vllm", False) or not getattr(config, "vllm_importance_sampling_correction", False):
        return
    mode = getattr(config, "vllm_importance_sampling_mode", "")
    if str(mode).startswith("sequence") and truncated_sampling(config):
        raise ConfigError(
            f"vllm_importance_sampling_mode={mode} with top_p/top_k/min_p sampling: the sequence-level ratio of "
            "vLLM's renormalised log-probs vanishes over long completions and the loss with it; use "
            "token_truncate (the default), or top_p=1.0 and top_k=0"
        )


def _undo_yaml_booleans(cls: type, values: dict[str, Any]) -> None:
    """YAML reads ``no`` and ``yes`` as booleans: for a field that takes a word (``save_strategy: no``,
    ``--set eval_strategy=no``), they are put back as the words."""
    defaults = {f.name: f.default for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    for key, value in values.items():
        default = defaults.get(key)
        if isinstance(value, bool) and isinstance(default, str | enum.Enum) and not isinstance(default, bool):
            values[key] = "yes" if value else "no"


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def resolved(config: Any) -> dict[str, Any]:
    """Every field of ``config`` as JSON-safe data (enums as their values; what is stored with runs)."""
    data = config.to_dict() if hasattr(config, "to_dict") else dataclasses.asdict(config)
    return yaml.safe_load(yaml.safe_dump(_plain(data)))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return getattr(value, "value", str(value))


def save_resolved(config: Any, trainer: str) -> Path:
    """Write the resolved config to ``<output_dir>/webgen_config.yaml`` (with the trainer's name)."""
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / CONFIG_FILE
    path.write_text(yaml.safe_dump({"trainer": trainer, "config": resolved(config)}, sort_keys=True))
    return path


def set_torch_threads(config: WebgenFields) -> int:
    """Use ``torch_threads`` CPU threads (default: half the cores, 1 to 4); returns the number."""
    import torch

    threads = config.torch_threads or max(1, min(4, (os.cpu_count() or 2) // 2))
    torch.set_num_threads(threads)
    return threads


@contextlib.contextmanager
def torch_threads(config: WebgenFields) -> Iterator[int]:
    """:func:`set_torch_threads` while the block runs; the caller's thread count comes back after it."""
    import torch

    before = torch.get_num_threads()
    try:
        yield set_torch_threads(config)
    finally:
        torch.set_num_threads(before)


def settings_for(config: WebgenFields, base: Any = None) -> Any:
    """webgen's Settings for a trainer: ``base`` (default: loaded as the CLI does), with ``webgen_settings`` and
    ``database_url`` applied, and for GRPO the reward weights γ, λ, ψ."""
    from webgen.core.settings import Settings

    settings = base if base is not None else Settings.load()
    try:
        if config.webgen_settings:
            settings = settings.updated(**config.webgen_settings)
        if config.database_url:
            settings = settings.updated(database_url=config.database_url)
        if isinstance(config, GRPOTrainConfig):
            weights = {
                "reward_gamma": config.reward_gamma,
                "reward_lambda": config.reward_lambda,
                "reward_psi_static": config.reward_psi_static,
                "reward_psi_build": config.reward_psi_build,
            }
            settings = settings.updated(agent=weights)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"webgen_settings: {str(exc).splitlines()[0]}") from None
    return settings


def resume_arg(value: str | None, output_dir: str) -> str | bool | None:
    """``resume_from_checkpoint`` for ``Trainer.train``: a checkpoint folder, or ``last`` (the newest checkpoint
    in ``output_dir``), or None."""
    if value is None or value == "":
        return None
    if str(value).lower() in {"last", "latest", "true"}:
        if not any(p.name.startswith("checkpoint-") for p in Path(output_dir).glob("checkpoint-*")):
            raise ConfigError(f"resume_from_checkpoint: no checkpoint-N folder in {output_dir} to resume from")
        return True
    if not Path(value).is_dir():
        raise ConfigError(f"resume_from_checkpoint: no checkpoint folder {value}")
    return str(value)
