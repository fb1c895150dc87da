"""`webgen train step-grpo --grouping state`: Step-GRPO on stored states, as single-turn GRPO with a reward function.

A dataset row is a stored step: the history that produced it (its prompt messages) and the snapshot its reply
was applied to. G completions per row are each applied to that snapshot (restored in a scratch workspace by the
evaluator pool), built, rendered, judged (GUI-tested for a GUI request), and scored with the step reward. The
trajectories in the store feed the trainer directly; each scored completion is stored as a run of one step.
"""

from __future__ import annotations

import logging
from typing import Any

from webgen.storage.store import StoreError, TrajectoryStore
from webgen.storage.training import collection_run_ids, state_rows
from webgen.training.config import DataError, StateGRPOConfig, resume_arg, settings_for
from webgen.training.context import fit_rows, model_context, token_counter
from webgen.training.grpo import run_pool_grpo
from webgen.training.policy import check_model_dir
from webgen.training.summary import TrainSummary

__all__ = ["fit_prompts", "rows_for", "train"]

logger = logging.getLogger(__name__)


def rows_for(config: StateGRPOConfig, store: TrajectoryStore) -> list[dict[str, Any]]:
    """The stored states the filters choose: ``prompt``, ``instruction``, ``task_id``, ``snapshot_id`` (never
    empty)."""
    try:
        run_ids = collection_run_ids(store, config.collection) if config.collection else None
    except StoreError as exc:
        raise DataError(str(exc)) from None
    rows = state_rows(
        store,
        run_ids=run_ids,
        min_score=config.min_score,
        max_score=config.max_score,
        include_error_steps=config.include_error_steps,
        status=config.status,
        limit=config.limit,
    )
    if not rows:
        where = f"collection {config.collection!r}" if config.collection else "the store"
        filters = [f"score >= {config.min_score:g}"] if config.min_score is not None else []
        filters += [f"score <= {config.max_score:g}"] if config.max_score is not None else []
        filters += [] if config.include_error_steps else ["no error steps"]
        filters += [f"{config.status} runs"] if config.status else []
        raise DataError(f"no stored steps with a snapshot in {where}" + (f" ({', '.join(filters)})" if filters else ""))
    out = []
    for row in rows:
        kept = {k: row[k] for k in ("prompt", "instruction", "task_id", "snapshot_id")}
        kept["state_score"] = _state_score(store, row["source_run"], row["source_step"])
        out.append(kept)
    return out


def fit_prompts(config: StateGRPOConfig, rows: list[dict[str, Any]], tokenizer: Any = None) -> list[dict[str, Any]]:
    """Rows whose prompt leaves room for ``max_completion_length`` in the policy's context (the oldest turns of a
    long history dropped, the request and the last feedback kept); a DataError when none does."""
    context = model_context(config.model, config)
    if context is None:
        return rows
    budget = context - (config.max_completion_length or 0)
    if budget <= 0:
        raise DataError(f"max_completion_length {config.max_completion_length} leaves no room in the context {context}")
    if tokenizer is None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(config.model, local_files_only=True)
    fitted = fit_rows(rows, "prompt", token_counter(tokenizer, generation_prompt=True), budget, "state prompts")
    if not fitted:
        raise DataError(
            f"no stored state's prompt fits {budget} tokens (context {context} - max_completion_length "
            f"{config.max_completion_length})"
        )
    return fitted


def _state_score(store: TrajectoryStore, run_id: str, index: int) -> float | None:
    """The screenshot grade of the site a stored step starts from: the step before it (the one that wrote the
    snapshot); None when there is none."""
    if index < 1:
        return None
    try:
        return store.get_step(run_id, index - 1).screenshot_score
    except (KeyError, StoreError):
        return None


def train(config: StateGRPOConfig, settings: Any = None) -> TrainSummary:
    """Step-GRPO with the state grouping (see the module docstring)."""
    check_model_dir(config.model)
    resume_arg(config.resume_from_checkpoint, config.output_dir)
    settings = settings_for(config, settings)
    with TrajectoryStore(settings.resolved_database_url) as store:
        rows = fit_prompts(config, rows_for(config, store))
        logger.info("step-grpo (state): %d stored states", len(rows))
        return run_pool_grpo(config, settings, store, rows, trainer_name="step-grpo-state", kind="step", gui=config.gui)
