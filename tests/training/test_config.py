"""Trainer configs: YAML plus overrides over TRL's dataclasses, unknown keys refused, the resolved config saved."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from webgen.training.config import (
    CONFIG_FILE,
    ConfigError,
    GRPOTrainConfig,
    SFTTrainConfig,
    StateGRPOConfig,
    load_config,
    parse_overrides,
    resolved,
    resume_arg,
    save_resolved,
)


def test_defaults_follow_the_papers(tmp_path: Path) -> None:
    grpo = load_config(GRPOTrainConfig, None, {"output_dir": str(tmp_path)})
    assert (grpo.beta, grpo.epsilon, grpo.num_generations, grpo.learning_rate) == (0.0, 0.2, 16, 5e-6)
    assert (grpo.reward_gamma, grpo.reward_lambda, grpo.reward_psi_static, grpo.reward_psi_build) == (0.1, 0.1, 0, 0)
    state = load_config(StateGRPOConfig, None, {"output_dir": str(tmp_path)})
    assert (state.beta, state.learning_rate, state.max_grad_norm, state.top_p) == (0.0, 1e-6, 0.5, 0.95)
    sft = load_config(SFTTrainConfig, None, {"output_dir": str(tmp_path)})
    assert sft.assistant_only_loss and sft.min_score == 3.0 and sft.status == "finished"
    assert sft.bf16 is False  # no CUDA here: TRL's bf16 default would refuse to start


def test_yaml_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("learning_rate: 0.01\nnum_generations: 4\nper_device_train_batch_size: 4\nreward_gamma: 0.5\n")
    overrides = parse_overrides(["num_generations=2", "model=/m", "limit=3", f"output_dir={tmp_path / 'out'}"])
    config = load_config(GRPOTrainConfig, path, overrides)
    assert (config.learning_rate, config.num_generations, config.reward_gamma) == (0.01, 2, 0.5)
    assert (config.model, config.limit, config.per_device_train_batch_size) == ("/m", 3, 4)
    data = resolved(config)
    assert data["num_generations"] == 2 and data["lr_scheduler_type"] == "cosine_with_min_lr"
    saved = save_resolved(config, "grpo")
    assert saved == tmp_path / "out" / CONFIG_FILE
    stored = yaml.safe_load(saved.read_text())
    assert stored["trainer"] == "grpo" and stored["config"]["reward_gamma"] == 0.5


def test_overrides_are_typed() -> None:
    assert parse_overrides(["a=1", "b=0.5", "c=true", "d=[x, y]", "e=text", "f="]) == {
        "a": 1,
        "b": 0.5,
        "c": True,
        "d": ["x", "y"],
        "e": "text",
        "f": None,
    }
    with pytest.raises(ConfigError, match="not KEY=VALUE"):
        parse_overrides(["novalue"])


def test_yaml_yes_and_no_stay_words_for_fields_that_take_words(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("save_strategy: no\nuse_lora: yes\n")  # YAML 1.1 reads both as booleans
    config = load_config(GRPOTrainConfig, path, parse_overrides(["eval_strategy=no", f"output_dir={tmp_path}"]))
    assert (config.save_strategy, config.eval_strategy, config.use_lora) == ("no", "no", True)


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        (
            "",
            {"learnig_rate": 1.0},
            "unknown config key 'learnig_rate' for GRPOTrainConfig \\(did you mean learning_rate",
        ),
        ("[1, 2]\n", {}, "must be a mapping"),
        ("a: [\n", {}, "not valid YAML"),
        ("", {"num_generations": 3, "per_device_train_batch_size": 2}, "divisible by num_generations"),
    ],
)
def test_bad_configs_are_one_line_errors(tmp_path: Path, text: str, overrides: dict, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(GRPOTrainConfig, path, overrides)
    assert "\n" not in str(caught.value)


def test_resume_needs_a_checkpoint(tmp_path: Path) -> None:
    assert resume_arg(None, str(tmp_path)) is None
    with pytest.raises(ConfigError, match="no checkpoint-N folder"):
        resume_arg("last", str(tmp_path))
    with pytest.raises(ConfigError, match="no checkpoint folder"):
        resume_arg(str(tmp_path / "nope"), str(tmp_path))
    (tmp_path / "checkpoint-2").mkdir()
    assert resume_arg("last", str(tmp_path)) is True
    assert resume_arg(str(tmp_path / "checkpoint-2"), str(tmp_path)) == str(tmp_path / "checkpoint-2")
