"""`webgen train step-grpo --grouping trajectory`: the published Step-GRPO on TRL's ``GRPOTrainer``.

A prompt is a task's agent prompt (the agent loop's system prompt and the request). For each, G multi-turn
rollouts run against the real environment (:class:`~webgen.training.rollout.TrajectoryRollout`, environment
steps in parallel through the evaluator pool), every rollout lands in the store as a run, and
:class:`~webgen.training.step_trainer.StepGRPOTrainer` trains on per-token step advantages pooled over each
group. Defaults are the published run's (webgen-agent.md §6.5) where they map onto TRL: no KL (``beta=0``, no
reference model), PPO-clip ε 0.2 with dual-clip c = 3 (TRL's ``delta``), token-mean loss (``dapo``), lr 1e-6
constant, weight decay 0.01, grad clip 0.5, temperature 1, top-p 0.95, 5 rollouts of at most 5 turns, 16
instructions × 5 rollouts = 80 sequences and one update per step, 5 epochs, keep 2 checkpoints.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from trl import GRPOConfig

from webgen.core import templates
from webgen.feedback.site.scaffold import PROTECTED_FILES, get_scaffold
from webgen.storage.store import TrajectoryStore
from webgen.training.config import WebgenFields, resolved, resume_arg, save_resolved, set_torch_threads, settings_for
from webgen.training.grpo import prompt_rows
from webgen.training.policy import check_model_dir, load_policy, lora_config
from webgen.training.pool import EvaluatorPool
from webgen.training.rollout import TrajectoryRollout
from webgen.training.rollout_store import RolloutRecorder
from webgen.training.step_trainer import StepGRPOTrainer, trajectory_reward
from webgen.training.summary import MetricsCallback, TrainSummary, summarize

__all__ = ["TrajectoryConfig", "agent_messages", "train"]

logger = logging.getLogger(__name__)


@dataclass
class TrajectoryConfig(WebgenFields, GRPOConfig):
    """Step-GRPO, trajectory grouping: every TRL ``GRPOConfig`` option, the webgen fields, and these."""

    grouping: Literal["trajectory", "gigpo"] = field(
        default="trajectory",
        metadata={"help": "trajectory: pooled step z-scores (the paper's); gigpo: episode + shared-state step term"},
    )
    gigpo_step_weight: float = field(default=1.0, metadata={"help": "gigpo: ω, the weight of the step-level term"})
    gigpo_gamma: float = field(default=0.95, metadata={"help": "gigpo: γ, the discount of the step-level returns"})
    collection: str | None = field(default=None, metadata={"help": "the tasks of this collection"})
    source: str | None = field(default=None, metadata={"help": "the tasks of this source in the store"})
    tasks_file: str | None = field(default=None, metadata={"help": "a WebGen-Bench/Instruct JSONL (imported)"})
    limit: int | None = field(default=None, metadata={"help": "at most this many tasks"})
    max_turns: int = field(default=5, metadata={"help": "turns (policy replies) per rollout at most"})
    max_turn_tokens: int = field(default=9000, metadata={"help": "tokens one reply may have (cut-off: dropped)"})
    max_feedback_tokens: int = field(default=5000, metadata={"help": "feedback text is cut to this many tokens"})
    max_context_tokens: int = field(default=32768, metadata={"help": "a rollout stops before its context passes this"})
    drop_overlong: bool = field(default=True, metadata={"help": "drop trajectories with a cut-off, non-looping reply"})
    gui: bool = field(default=True, metadata={"help": "run the GUI test when a reply asks for one"})
    pool_workers: int = field(default=1, metadata={"help": "evaluator worker processes (each a site environment)"})
    eval_timeout_s: float = field(default=300.0, metadata={"help": "seconds one environment step may take"})
    # the published run's hyper-parameters (webgen-agent.md §6.5)
    beta: float = 0.0
    epsilon: float = 0.2
    delta: float | None = 3.0
    loss_type: str = "dapo"
    learning_rate: float = 1e-6
    lr_scheduler_type: str = "constant"
    warmup_ratio: float = 0.0
    weight_decay: float = 0.01
    max_grad_norm: float = 0.5
    num_generations: int | None = 5
    per_device_train_batch_size: int = 5
    gradient_accumulation_steps: int = 16
    num_iterations: int = 1
    temperature: float = 1.0
    top_p: float = 0.95
    max_completion_length: int | None = 9000
    num_train_epochs: float = 5.0
    save_total_limit: int | None = 2
    # per-token truncated IS: top-p 0.95 makes vLLM's log-probs renormalised ones (see config.check_importance_sampling)
    vllm_importance_sampling_mode: str = "token_truncate"


def agent_messages(settings: Any, instruction: str) -> list[dict[str, str]]:
    """The agent loop's first prompt: its system prompt (the scaffold's packages and protected files) and the
    request."""
    declared = get_scaffold(settings.scaffold, settings.home).package_json()
    packages = sorted({*declared.get("dependencies", {})} - {"react", "react-dom"})
    system = templates.render("webgen.agent", "system.j2", packages=packages, protected=sorted(PROTECTED_FILES))
    user = templates.render("webgen.agent", "instruction.j2", instruction=instruction)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def train(config: TrajectoryConfig, settings: Any = None) -> TrainSummary:
    """Train (checkpoints, ``<output_dir>/final``), storing every rollout; return the summary."""
    from datasets import Dataset

    check_model_dir(config.model)
    resume = resume_arg(config.resume_from_checkpoint, config.output_dir)
    settings = settings_for(config, settings)
    with TrajectoryStore(settings.resolved_database_url) as store:
        rows = prompt_rows(config, settings, store)  # type: ignore[arg-type] - the same data fields
        for row in rows:
            row["prompt"] = agent_messages(settings, row["instruction"])
        tasks = {row["prompt"][-1]["content"]: (row["instruction"], row["task_id"]) for row in rows}
        set_torch_threads(config)
        model, tokenizer = load_policy(config)
        config_file = save_resolved(config, "step-grpo")
        training = {"output_dir": str(config.output_dir), "config": resolved(config)}
        models = {"policy": config.model, "judge": settings.judge.model, "gui": settings.gui.model}
        recorder = RolloutRecorder(store, training=training, models=models)
        metrics = MetricsCallback()
        with EvaluatorPool(settings, workers=config.pool_workers, timeout_s=config.eval_timeout_s) as pool:
            rollout = TrajectoryRollout(
                pool,
                max_turns=config.max_turns,
                max_turn_tokens=config.max_turn_tokens,
                max_feedback_tokens=config.max_feedback_tokens,
                max_context_tokens=config.max_context_tokens,
                drop_overlong=config.drop_overlong,
                gui=config.gui,
                tasks=tasks,
                recorder=recorder,
            )
            trainer = StepGRPOTrainer(
                model=model,
                reward_funcs=[trajectory_reward],
                args=config,
                train_dataset=Dataset.from_list(rows),
                processing_class=tokenizer,
                peft_config=lora_config(config),
                callbacks=[metrics],
                rollout_func=rollout,
            )
            logger.info("step-grpo (%s): %d tasks, resume from %s", config.grouping, len(rows), resume)
            trainer.train(resume_from_checkpoint=resume)
        final = Path(config.output_dir) / "final"
        trainer.save_model(str(final))
        tokenizer.save_pretrained(final)
        return summarize(
            "step-grpo",
            trainer,
            metrics,
            examples=len(rows),
            runs_stored=len(recorder.run_ids),
            final_model=final,
            resumed_from=str(config.resume_from_checkpoint) if resume else None,
            config_file=config_file,
        )
