"""SFT data: chat conversations, each ending at a run's best step, from the store or a JSONL file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from webgen.storage.store import StoreError, TrajectoryStore
from webgen.storage.training import collection_run_ids, conversations
from webgen.training.config import DataError, SFTTrainConfig
from webgen.training.context import fit_rows, token_counter

__all__ = ["fit_examples", "read_conversations", "sft_examples"]

ROLES = {"system", "user", "assistant"}


def read_conversations(path: Path) -> list[dict[str, Any]]:
    """``{"messages": [{role, content}, ...]}`` per line, each with at least one assistant turn; a bad line is a
    DataError naming its line number."""
    rows: list[dict[str, Any]] = []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise DataError(f"data file {path}: {exc.strerror or exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            messages = json.loads(line)["messages"]
            ok = isinstance(messages, list) and all(
                isinstance(m, dict) and m.get("role") in ROLES and isinstance(m.get("content"), str) for m in messages
            )
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok or not any(m["role"] == "assistant" for m in messages):
            raise DataError(
                f'{path} line {number}: expected {{"messages": [{{role, content}}, ...]}} with an assistant turn'
            )
        rows.append({"messages": [{"role": m["role"], "content": m["content"]} for m in messages]})
    if not rows:
        raise DataError(f"data file {path} has no conversations")
    return rows


def sft_examples(config: SFTTrainConfig, store: TrajectoryStore) -> list[dict[str, Any]]:
    """The conversations to train on (``data_file``, else the store with the config's filters); never empty."""
    if config.data_file:
        rows = read_conversations(Path(config.data_file))
        return rows[: config.max_examples] if config.max_examples else rows
    try:
        run_ids = collection_run_ids(store, config.collection) if config.collection else None
    except StoreError as exc:
        raise DataError(str(exc)) from None
    rows = conversations(store, run_ids=run_ids, min_score=config.min_score, status=config.status)
    if not config.include_training_runs:  # scored GRPO completions and rollouts are the trainers' own samples
        rows = [r for r in rows if not store.get_run(r["run_id"]).config.get("training")]
    rows = rows[: config.max_examples] if config.max_examples else rows
    if not rows:
        where = f"collection {config.collection!r}" if config.collection else "the store"
        raise DataError(
            f"no conversations in {where} with a best step scored >= {config.min_score:g} and no error"
            + (f" in {config.status} runs" if config.status else "")
            + ("" if config.include_training_runs else " (runs written by the trainers are left out)")
        )
    return [{"messages": r["messages"]} for r in rows]


def fit_examples(rows: list[dict[str, Any]], tokenizer: Any, max_length: int | None) -> list[dict[str, Any]]:
    """Conversations within ``max_length`` tokens, their oldest turns dropped so the last reply (the one worth
    learning) stays whole (TRL would cut the end); a DataError when none fits."""
    if not max_length:
        return rows
    fitted = fit_rows(rows, "messages", token_counter(tokenizer, generation_prompt=False), max_length, "sft")
    if not fitted:
        raise DataError(
            f"all {len(rows)} conversations are longer than max_length {max_length} even without their earlier "
            "turns: raise max_length"
        )
    return fitted
