"""`webgen train sft | grpo | step-grpo`: the trainers on TRL, configured by a YAML file plus flags.

Every TRL option is a config key: give it in `--config FILE.yaml` or as `--set key=value` (repeatable); the typed
flags below set the common ones. Precedence: defaults < file < --set < typed flags. Models are local folders
only (`--model PATH`; nothing is downloaded).

Exit codes: 0 trained; 1 training failed; 2 bad input (an unknown key, a missing model folder, no data matching
the filters); 130 interrupted (continue with `--resume-from-checkpoint last`).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from webgen.cli.common import EXIT_FAILED, EXIT_INTERRUPTED, console, fail
from webgen.cli.common import settings as load_settings

train_app = typer.Typer(
    help="Train a policy on the store's trajectories with TRL: sft, grpo (single-shot), step-grpo.",
    no_args_is_help=True,
)


class ReportTo(StrEnum):
    tensorboard = "tensorboard"
    none = "none"


class VLLMMode(StrEnum):
    colocate = "colocate"
    server = "server"


class Grouping(StrEnum):
    state = "state"
    trajectory = "trajectory"
    gigpo = "gigpo"


ConfigFile = Annotated[Path | None, typer.Option("--config", help="a YAML file of config keys (see training/README)")]
Sets = Annotated[list[str] | None, typer.Option("--set", help="KEY=VALUE, any config key (repeatable)")]
Model = Annotated[str | None, typer.Option("--model", help="a local model folder (weights + tokenizer)")]
Out = Annotated[Path | None, typer.Option("--output-dir", "--out", help="checkpoints, logs and the final model")]
MaxSteps = Annotated[int | None, typer.Option(help="stop after this many optimizer steps")]
Lr = Annotated[float | None, typer.Option("--learning-rate", "--lr", help="peak learning rate")]
Lora = Annotated[bool | None, typer.Option("--lora/--no-lora", help="train a LoRA adapter (peft)")]
Report = Annotated[ReportTo | None, typer.Option(help="where to log metrics")]
Resume = Annotated[
    str | None, typer.Option(help="a checkpoint folder to continue from, or `last` (the newest in --output-dir)")
]
Collection = Annotated[str | None, typer.Option(help="only this collection's runs/tasks")]
UseVLLM = Annotated[bool | None, typer.Option("--use-vllm/--no-vllm", help="generate with vLLM (GPU)")]
Mode = Annotated[VLLMMode | None, typer.Option(help="vLLM in this process (colocate) or a `trl vllm-serve` server")]
Gens = Annotated[int | None, typer.Option("--num-generations", "-G", help="completions per prompt (group size)")]
Workers = Annotated[int | None, typer.Option(help="evaluator worker processes")]


def _given(**values: Any) -> dict[str, Any]:
    return {
        key: (value.value if isinstance(value, StrEnum) else value)
        for key, value in values.items()
        if value is not None
    }


def _run(config_cls: Any, train: Any, config_file: Path | None, sets: list[str] | None, flags: dict[str, Any]) -> None:
    from webgen.training.config import ConfigError, DataError, load_config, parse_overrides

    try:
        overrides = {**parse_overrides(sets or []), **flags}
        if config_file is not None and not config_file.is_file():
            raise ConfigError(f"no config file {config_file}")
        config = load_config(config_cls, config_file, overrides)
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    cfg = load_settings()
    try:
        summary = train(config, cfg)
    except (ConfigError, DataError) as exc:
        raise fail(str(exc)) from exc
    except KeyboardInterrupt:
        raise fail("interrupted; continue with --resume-from-checkpoint last", EXIT_INTERRUPTED) from None
    except Exception as exc:  # noqa: BLE001 - a failed training run is one line (the traceback with --verbose)
        raise fail(
            f"training failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", EXIT_FAILED
        ) from exc
    _print_summary(summary)


def _print_summary(summary: Any) -> None:
    table = Table("", "", title=f"webgen train {summary.trainer}", show_header=False)
    table.add_row("optimizer steps", str(summary.steps))
    table.add_row("time", f"{summary.seconds:.1f} s")
    table.add_row("examples", str(summary.examples))
    table.add_row("last loss", "-" if summary.loss is None else f"{summary.loss:.4g}")
    if summary.rewards:
        table.add_row(
            "mean reward", f"{summary.mean_reward:.3f} (per step: {', '.join(f'{r:.2f}' for r in summary.rewards)})"
        )
    if summary.runs_stored:
        table.add_row("completions stored", f"{summary.runs_stored} runs")
    table.add_row("checkpoints", "\n".join(summary.checkpoints) or "-")
    table.add_row("final model", summary.final_model or "-")
    table.add_row("config", summary.config_file or "-")
    if summary.resumed_from:
        table.add_row("resumed from", summary.resumed_from)
    console.print(table)


@train_app.command("sft")
def sft(
    model: Model = None,
    config: ConfigFile = None,
    sets: Sets = None,
    output_dir: Out = None,
    collection: Collection = None,
    data_file: Annotated[Path | None, typer.Option(help="a JSONL of {messages: [...]} instead of the store")] = None,
    min_score: Annotated[float | None, typer.Option(help="the best step scored at least this (default 3)")] = None,
    status: Annotated[str | None, typer.Option(help="only runs with this status (default finished; `any`)")] = None,
    packing: Annotated[bool | None, typer.Option("--packing/--no-packing", help="pack examples")] = None,
    max_steps: MaxSteps = None,
    learning_rate: Lr = None,
    lora: Lora = None,
    report_to: Report = None,
    resume_from_checkpoint: Resume = None,
) -> None:
    """Supervised fine-tuning on stored conversations that end at each run's best step (assistant turns only)."""
    from webgen.training.config import SFTTrainConfig
    from webgen.training.sft import train

    flags = _given(
        model=model,
        output_dir=str(output_dir) if output_dir else None,
        collection=collection,
        data_file=str(data_file) if data_file else None,
        min_score=min_score,
        packing=packing,
        max_steps=max_steps,
        learning_rate=learning_rate,
        use_lora=lora,
        report_to=report_to,
        resume_from_checkpoint=resume_from_checkpoint,
    )
    if status is not None:
        flags["status"] = None if status == "any" else status
    _run(SFTTrainConfig, train, config, sets, flags)


@train_app.command("grpo")
def grpo(
    model: Model = None,
    config: ConfigFile = None,
    sets: Sets = None,
    output_dir: Out = None,
    tasks_file: Annotated[Path | None, typer.Option("--tasks", help="a WebGen-Bench/Instruct JSONL")] = None,
    source: Annotated[str | None, typer.Option(help="the tasks of this source in the store")] = None,
    collection: Collection = None,
    limit: Annotated[int | None, typer.Option(help="at most this many tasks")] = None,
    num_generations: Gens = None,
    max_steps: MaxSteps = None,
    learning_rate: Lr = None,
    lora: Lora = None,
    workers: Workers = None,
    use_vllm: UseVLLM = None,
    vllm_mode: Mode = None,
    report_to: Report = None,
    resume_from_checkpoint: Resume = None,
) -> None:
    """WebGen-R1 single-shot GRPO: each completion writes a whole site, scored by the cascaded reward."""
    from webgen.training.config import GRPOTrainConfig
    from webgen.training.grpo import train

    flags = _given(
        model=model,
        output_dir=str(output_dir) if output_dir else None,
        tasks_file=str(tasks_file) if tasks_file else None,
        source=source,
        collection=collection,
        limit=limit,
        num_generations=num_generations,
        max_steps=max_steps,
        learning_rate=learning_rate,
        use_lora=lora,
        pool_workers=workers,
        use_vllm=use_vllm,
        vllm_mode=vllm_mode,
        report_to=report_to,
        resume_from_checkpoint=resume_from_checkpoint,
    )
    _run(GRPOTrainConfig, train, config, sets, flags)


@train_app.command("step-grpo")
def step_grpo(
    grouping: Annotated[
        Grouping,
        typer.Option(help="state: stored steps; trajectory: multi-turn rollouts; gigpo: rollouts + shared-state term"),
    ] = Grouping.state,
    model: Model = None,
    config: ConfigFile = None,
    sets: Sets = None,
    output_dir: Out = None,
    collection: Collection = None,
    tasks_file: Annotated[Path | None, typer.Option("--tasks", help="trajectory: a tasks JSONL")] = None,
    source: Annotated[str | None, typer.Option(help="trajectory: the tasks of this source")] = None,
    min_score: Annotated[float | None, typer.Option(help="state: only steps scored at least this")] = None,
    max_score: Annotated[float | None, typer.Option(help="state: only steps scored at most this")] = None,
    include_error_steps: Annotated[
        bool | None, typer.Option("--include-error-steps/--no-error-steps", help="state: error steps too")
    ] = None,
    num_generations: Gens = None,
    max_steps: MaxSteps = None,
    learning_rate: Lr = None,
    lora: Lora = None,
    workers: Workers = None,
    use_vllm: UseVLLM = None,
    vllm_mode: Mode = None,
    report_to: Report = None,
    resume_from_checkpoint: Resume = None,
) -> None:
    """Step-GRPO (WebGen-Agent): step rewards from the real environment, no KL, PPO-clip."""
    flags = _given(
        model=model,
        output_dir=str(output_dir) if output_dir else None,
        collection=collection,
        tasks_file=str(tasks_file) if tasks_file else None,
        source=source,
        min_score=min_score,
        max_score=max_score,
        include_error_steps=include_error_steps,
        num_generations=num_generations,
        max_steps=max_steps,
        learning_rate=learning_rate,
        use_lora=lora,
        pool_workers=workers,
        use_vllm=use_vllm,
        vllm_mode=vllm_mode,
        report_to=report_to,
        resume_from_checkpoint=resume_from_checkpoint,
    )
    if grouping in (Grouping.trajectory, Grouping.gigpo):
        flags["grouping"] = grouping.value
        try:
            from webgen.training.trajectory import TrajectoryConfig, train
        except ImportError as exc:
            raise fail(f"the trajectory grouping is not available: {exc}", EXIT_FAILED) from exc
        _run(TrajectoryConfig, train, config, sets, flags)
        return
    from webgen.training.config import StateGRPOConfig
    from webgen.training.state import train as train_state

    _run(StateGRPOConfig, train_state, config, sets, flags)
