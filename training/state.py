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
from webgen.training.grpo import run_pool_grpo
from webgen.training.policy import check_model_dir
from webgen.training.summary import TrainSummary

__all__ = ["rows_for", "train"]

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
    return [{k: r[k] for k in ("prompt", "instruction", "task_id", "snapshot_id")} for r in rows]


def train(config: StateGRPOConfig, settings: Any = None) -> TrainSummary:
    """Step-GRPO with the state grouping (see the module docstring)."""
    check_model_dir(config.model)
    resume_arg(config.resume_from_checkpoint, config.output_dir)
    settings = settings_for(config, settings)
    with TrajectoryStore(settings.resolved_database_url) as store:
        rows = rows_for(config, store)
        logger.info("step-grpo (state): %d stored states", len(rows))
        return run_pool_grpo(config, settings, store, rows, trainer_name="step-grpo-state", kind="step", gui=config.gui)
