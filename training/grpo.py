"""`webgen train grpo`: WebGen-R1 single-shot GRPO on TRL's ``GRPOTrainer``.

A prompt is a task's single-shot prompt (the system prompt of single-shot mode and the request). G completions
per prompt are evaluated in parallel by the evaluator pool, each in a fresh scaffold, and scored with the cascaded
reward (:mod:`webgen.training.rewards`); each is stored as a single-shot run. :func:`run_pool_grpo` is the loop
the state grouping shares.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from webgen.core import templates
from webgen.feedback.site.scaffold import PROTECTED_FILES, get_scaffold
from webgen.storage.io import guess_source, read_tasks
from webgen.storage.store import StoreError, TrajectoryStore
from webgen.storage.training import tasks_of
from webgen.training.config import (
    DataError,
    GRPOTrainConfig,
    resolved,
    resume_arg,
    save_resolved,
    settings_for,
    torch_threads,
)
from webgen.training.policy import check_model_dir, check_vllm, load_policy, lora_config
from webgen.training.pool import EvaluatorPool
from webgen.training.rewards import Kind, PoolReward
from webgen.training.summary import MetricsCallback, TrainSummary, summarize

__all__ = ["prompt_rows", "run_pool_grpo", "single_shot_messages", "train"]

logger = logging.getLogger(__name__)


def single_shot_messages(settings: Any, instruction: str) -> list[dict[str, str]]:
    """The prompt single-shot mode sends: the system prompt (the scaffold's packages and protected files) and
    the request."""
    declared = get_scaffold(settings.scaffold, settings.home).package_json()
    packages = sorted({*declared.get("dependencies", {})} - {"react", "react-dom"})
    system = templates.render("webgen.agent", "single_shot.j2", packages=packages, protected=sorted(PROTECTED_FILES))
    user = templates.render("webgen.agent", "instruction.j2", instruction=instruction)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def prompt_rows(config: GRPOTrainConfig, settings: Any, store: TrajectoryStore) -> list[dict[str, Any]]:
    """One row per task: ``prompt`` (chat messages), ``instruction``, ``task_id``. Tasks come from
    ``tasks_file`` (imported into the store first), else a collection, else a source; never empty."""
    if config.tasks_file:
        path = Path(config.tasks_file)
        if not path.is_file():
            raise DataError(f"no tasks file {path}")
        source = config.source or guess_source(path)
        read, problems, _ = read_tasks(path, source)
        if problems:
            raise DataError(f"{path} line {problems[0].line}: {problems[0].message}")
        store.add_tasks(read)
        found = [store.find_task(source, t.external_id) for t in read]
        tasks = [t for t in found if t is not None][: config.limit]
    else:
        try:
            tasks = tasks_of(store, collection=config.collection, source=config.source, limit=config.limit)
        except StoreError as exc:
            raise DataError(str(exc)) from None
    if not tasks:
        what = config.tasks_file or config.collection or (f"source {config.source}" if config.source else "the store")
        raise DataError(f"no tasks in {what}")
    return [
        {"prompt": single_shot_messages(settings, t.instruction), "instruction": t.instruction, "task_id": t.id}
        for t in tasks
    ]


def run_pool_grpo(
    config: Any,
    settings: Any,
    store: TrajectoryStore,
    rows: list[dict[str, Any]],
    *,
    trainer_name: str,
    kind: Kind,
    gui: bool = True,
) -> TrainSummary:
    """GRPO with a :class:`PoolReward` over ``rows``: train, checkpoint, save ``<output_dir>/final``."""
    from datasets import Dataset
    from trl import GRPOTrainer

    resume = resume_arg(config.resume_from_checkpoint, config.output_dir)
    check_vllm(config)
    model, tokenizer = load_policy(config)
    config_file = save_resolved(config, trainer_name)
    training = {"trainer": trainer_name, "output_dir": str(config.output_dir), "config": resolved(config)}
    models = {"policy": config.model, "judge": settings.judge.model, "gui": settings.gui.model}
    metrics = MetricsCallback()
    pool = EvaluatorPool(settings, workers=config.pool_workers, timeout_s=config.eval_timeout_s)
    with pool, torch_threads(config):
        reward = PoolReward(pool, store, kind=kind, training=training, models=models, gui=gui)
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=[reward],
            args=config,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=lora_config(config),
            callbacks=[metrics],
        )
        logger.info("%s: %d rows, resume from %s", trainer_name, len(rows), resume)
        trainer.train(resume_from_checkpoint=resume)
    final = Path(config.output_dir) / "final"
    trainer.save_model(str(final))
    tokenizer.save_pretrained(final)
    return summarize(
        trainer_name,
        trainer,
        metrics,
        examples=len(rows),
        runs_stored=reward.runs_stored,
        final_model=final,
        resumed_from=str(config.resume_from_checkpoint) if resume else None,
        config_file=config_file,
    )


def train(config: GRPOTrainConfig, settings: Any = None) -> TrainSummary:
    """Single-shot GRPO on the cascaded reward (see the module docstring)."""
    check_model_dir(config.model)
    resume_arg(config.resume_from_checkpoint, config.output_dir)
    settings = settings_for(config, settings)
    with TrajectoryStore(settings.resolved_database_url) as store:
        rows = prompt_rows(config, settings, store)
        return run_pool_grpo(config, settings, store, rows, trainer_name="grpo", kind="cascaded")
