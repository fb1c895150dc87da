"""`webgen train sft`: supervised fine-tuning on stored trajectories with TRL's ``SFTTrainer``.

Each example is a run's conversation up to its best step (system prompt, request, earlier replies and the
harness's feedback, then the best reply). The loss is on the assistant turns only (``assistant_only_loss``,
which needs ``{% generation %}`` markers in the chat template); ``packing`` packs examples into
``max_length`` windows.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from webgen.storage.store import TrajectoryStore
from webgen.training.config import DataError, SFTTrainConfig, resume_arg, save_resolved, settings_for, torch_threads
from webgen.training.policy import check_model_dir, load_policy, lora_config
from webgen.training.sft_data import fit_examples, sft_examples
from webgen.training.summary import MetricsCallback, TrainSummary, summarize

__all__ = ["train"]

logger = logging.getLogger(__name__)


def train(config: SFTTrainConfig, settings: Any = None) -> TrainSummary:
    """Train, save checkpoints and the final model (``<output_dir>/final``); return the summary."""
    from datasets import Dataset
    from trl import SFTTrainer

    check_model_dir(config.model)
    resume = resume_arg(config.resume_from_checkpoint, config.output_dir)
    settings = settings_for(config, settings)
    with TrajectoryStore(settings.resolved_database_url) as store:
        rows = sft_examples(config, store)
    with torch_threads(config):
        model, tokenizer = load_policy(config)
        rows = fit_examples(rows, tokenizer, config.max_length)
        config_file = save_resolved(config, "sft")
        metrics = MetricsCallback()
        trainer = SFTTrainer(
            model=model,
            args=config,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=lora_config(config),
            callbacks=[metrics],
        )
        if trainer.train_dataset is not None and len(trainer.train_dataset) == 0:
            raise DataError(
                f"all {len(rows)} conversations lost their assistant turns to truncation at max_length "
                f"{config.max_length}: raise max_length"
            )
        logger.info("sft: %d conversations, resume from %s", len(rows), resume)
        trainer.train(resume_from_checkpoint=resume)
        final = Path(config.output_dir) / "final"
        trainer.save_model(str(final))
        tokenizer.save_pretrained(final)
    return summarize(
        "sft",
        trainer,
        metrics,
        examples=len(rows),
        final_model=final,
        resumed_from=str(config.resume_from_checkpoint) if resume else None,
        config_file=config_file,
    )
