"""`webgen train ...` refuses bad input with one line and exit 2, before any training starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training import conftest_trainers
from tests.training.conftest_trainers import Models, cli

models = conftest_trainers.models  # the fixture


def _error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    return lines[0]


@pytest.mark.parametrize("trainer", ["sft", "grpo", "step-grpo"])
def test_bad_input_exits_2_with_one_line(models: Models, tiny_model: Path, tmp_path: Path, trainer: str) -> None:
    out = ["--out", str(tmp_path / "out")]
    line = _error_line(
        cli(models, "train", trainer, "--model", str(tiny_model), "--set", "learnin_rate=1", *out, code=2)
    )
    assert "unknown config key 'learnin_rate'" in line and "did you mean learning_rate" in line
    line = _error_line(cli(models, "train", trainer, "--model", str(tmp_path / "nope"), *out, code=2))
    assert "does not exist" in line and "never downloaded" in line
    line = _error_line(cli(models, "train", trainer, "--config", str(tmp_path / "none.yaml"), *out, code=2))
    assert "no config file" in line
    line = _error_line(cli(models, "train", trainer, "--model", str(tiny_model), "--collection", "empty", *out, code=2))
    assert "no collection 'empty'" in line
    assert not (tmp_path / "out" / "checkpoint-1").exists()


def test_empty_store_and_bad_resume(models: Models, tiny_model: Path, tmp_path: Path) -> None:
    out = ["--out", str(tmp_path / "out")]
    line = _error_line(cli(models, "train", "sft", "--model", str(tiny_model), *out, code=2))
    assert "no conversations in the store" in line
    line = _error_line(cli(models, "train", "step-grpo", "--model", str(tiny_model), *out, code=2))
    assert "no stored steps with a snapshot" in line
    line = _error_line(cli(models, "train", "grpo", "--model", str(tiny_model), "--source", "nothing", *out, code=2))
    assert "no tasks in source nothing" in line
    line = _error_line(
        cli(models, "train", "grpo", "--model", str(tiny_model), "--use-vllm", "--source", "s", *out, code=2)
    )
    assert "no tasks in source s" in line  # the data is checked first ...
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text('{"id": 1, "instruction": "A site"}\n')
    line = _error_line(
        cli(models, "train", "grpo", "--model", str(tiny_model), "--use-vllm", "--tasks", str(tasks), *out, code=2)
    )
    assert "use_vllm: vLLM" in line  # ... then vLLM, before any model or evaluator starts
    args = ["train", "grpo", "--model", str(tiny_model), "--resume-from-checkpoint", "last", *out]
    assert "no checkpoint-N folder" in _error_line(cli(models, *args, code=2))
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text((tiny_model / "config.json").read_text())  # no weights, no tokenizer
    good = tmp_path / "good.jsonl"
    good.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]}\n')
    line = _error_line(cli(models, "train", "sft", "--model", str(broken), "--data-file", str(good), *out, code=2))
    assert f"model folder {broken} cannot be loaded" in line
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    line = _error_line(cli(models, "train", "sft", "--model", str(tiny_model), "--data-file", str(bad), *out, code=2))
    assert "line 1" in line and "assistant turn" in line


def test_trajectory_grouping_dispatches_to_its_own_config(models: Models, tiny_model: Path, tmp_path: Path) -> None:
    args = ["train", "step-grpo", "--grouping", "trajectory", "--model", str(tiny_model), "--out", str(tmp_path)]
    line = _error_line(cli(models, *args, "--min-score", "3", code=2))
    assert "unknown config key 'min_score' for TrajectoryConfig" in line  # a state-only filter
    line = _error_line(cli(models, *args, "--source", "nothing", code=2))
    assert "no tasks in source nothing" in line
    gigpo = [a if a != "trajectory" else "gigpo" for a in args]
    line = _error_line(cli(models, *gigpo, "--min-score", "3", code=2))
    assert "unknown config key 'min_score' for TrajectoryConfig" in line  # gigpo runs the trajectory trainer
    line = _error_line(cli(models, *gigpo, "--set", "gigpo_step_weigth=2", code=2))
    assert "did you mean gigpo_step_weight" in line
