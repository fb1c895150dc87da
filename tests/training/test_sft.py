"""`webgen train sft` end to end: a real stored run -> its conversation -> 2 optimizer steps -> resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from tests.training import conftest_trainers
from tests.training.conftest_trainers import Models, cli, first_tensor
from webgen.storage.training import conversations

pytestmark = [pytest.mark.browser, pytest.mark.node]
models, stored_run = conftest_trainers.models, conftest_trainers.stored_run  # the fixtures


@pytest.mark.slow
def test_sft_trains_on_the_stored_best_step_and_resumes(
    models: Models, stored_run: str, tiny_model: Path, tmp_path: Path
) -> None:
    with models.store() as store:
        rows = conversations(store, min_score=3)
        assert [r["run_id"] for r in rows] == [stored_run]
        assert [m["role"] for m in rows[0]["messages"]] == ["system", "user", "assistant"]
        assert conversations(store, min_score=4.5) == []  # the step scored 4
    out = tmp_path / "sft"
    args = ["train", "sft", "--model", str(tiny_model), "--out", str(out), "--min-score", "3", "--lr", "0.01"]
    small = [
        "--set",
        "max_length=4096",
        "--set",
        "lr_scheduler_type=constant",
        "--set",
        "per_device_train_batch_size=1",
        "--set",
        "save_steps=1",
        "--set",
        "logging_steps=1",
    ]
    output = cli(models, *args, *small, "--max-steps", "2", "--report-to", "none")
    assert "optimizer steps" in output and (out / "checkpoint-2").is_dir()
    assert not torch.equal(first_tensor(tiny_model), first_tensor(out / "final"))
    stored = yaml.safe_load((out / "webgen_config.yaml").read_text())
    assert stored["trainer"] == "sft" and stored["config"]["assistant_only_loss"] is True
    assert stored["config"]["max_steps"] == 2 and stored["config"]["model"] == str(tiny_model)

    before = first_tensor(out / "final")
    output = cli(models, *args, *small, "--max-steps", "3", "--resume-from-checkpoint", "last", "--packing")
    assert (out / "checkpoint-3").is_dir() and "resumed from" in output
    assert not torch.equal(before, first_tensor(out / "final"))

    short = cli(models, *args, "--set", "max_length=64", "--out", str(tmp_path / "short"), code=2)
    assert "longer than max_length 64 even without their earlier turns" in short


def test_sft_lora_with_tensorboard(models: Models, tiny_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "chats.jsonl"
    chat = [{"role": "user", "content": "A bakery site"}, {"role": "assistant", "content": "<think>ok</think>"}]
    data.write_text(json.dumps({"messages": chat}) + "\n")
    out = tmp_path / "lora"
    args = ["train", "sft", "--model", str(tiny_model), "--data-file", str(data), "--out", str(out), "--lora"]
    cli(models, *args, "--max-steps", "1", "--report-to", "tensorboard", "--set", "logging_steps=1")
    assert (out / "final" / "adapter_model.safetensors").is_file()  # only the adapter is trained and saved
    assert list(out.glob("runs/*/events.out.tfevents.*"))
