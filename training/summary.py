"""What a training run reports at the end: steps, time, loss, mean reward, stored runs, where the checkpoints are."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from transformers import TrainerCallback

__all__ = ["MetricsCallback", "TrainSummary", "checkpoints_in", "summarize"]


class TrainSummary(BaseModel):
    trainer: str
    steps: int = Field(description="optimizer steps done (the global step, counting resumed ones)")
    seconds: float
    examples: int = Field(description="rows in the training dataset")
    loss: float | None = Field(default=None, description="the last logged training loss")
    mean_reward: float | None = Field(default=None, description="mean reward over the steps of this invocation")
    rewards: list[float] = Field(default_factory=list, description="the mean reward of each logged step")
    runs_stored: int = Field(default=0, description="scored completions written to the store as runs")
    output_dir: str
    checkpoints: list[str] = Field(default_factory=list)
    final_model: str | None = None
    resumed_from: str | None = None
    config_file: str | None = None


class MetricsCallback(TrainerCallback):
    """Keeps every logged value (TRL logs ``loss`` and, for GRPO, ``reward``)."""

    def __init__(self) -> None:
        self.logs: list[dict[str, Any]] = []
        self.started = time.monotonic()

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001 - the transformers signature
        if logs:
            self.logs.append(dict(logs))

    def last(self, key: str) -> float | None:
        for entry in reversed(self.logs):
            value = entry.get(key)
            if isinstance(value, int | float) and math.isfinite(value):
                return float(value)
        return None

    def series(self, key: str) -> list[float]:
        return [float(e[key]) for e in self.logs if isinstance(e.get(key), int | float) and math.isfinite(e[key])]


def checkpoints_in(output_dir: Path | str) -> list[str]:
    """The ``checkpoint-N`` folders under ``output_dir``, in step order."""
    root = Path(output_dir)
    found = [p for p in root.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return [str(p) for p in sorted(found, key=lambda p: int(p.name.split("-")[-1]))]


def summarize(
    trainer_name: str,
    trainer: Any,
    metrics: MetricsCallback,
    *,
    examples: int,
    runs_stored: int = 0,
    final_model: Path | None = None,
    resumed_from: str | None = None,
    config_file: Path | None = None,
) -> TrainSummary:
    rewards = metrics.series("reward")
    return TrainSummary(
        trainer=trainer_name,
        steps=int(trainer.state.global_step),
        seconds=round(time.monotonic() - metrics.started, 2),
        examples=examples,
        loss=metrics.last("loss") if metrics.last("loss") is not None else metrics.last("train_loss"),
        mean_reward=sum(rewards) / len(rewards) if rewards else None,
        rewards=rewards,
        runs_stored=runs_stored,
        output_dir=str(trainer.args.output_dir),
        checkpoints=checkpoints_in(trainer.args.output_dir),
        final_model=str(final_model) if final_model else None,
        resumed_from=resumed_from,
        config_file=str(config_file) if config_file else None,
    )
