"""Fitting chat conversations into a token budget by dropping their oldest turns, never the ends.

A long agent conversation is ``[system], request, reply 1, feedback 1, ..., reply n`` (SFT) or ends with the
last feedback (a state-grouping prompt). TRL's SFT truncation keeps the start and cuts the end, which is the
reply being learned; a state prompt plus the completion budget past the model's context cannot be generated
at all. :func:`fit_messages` keeps the head (everything up to the request) and the last message, and drops
(reply, feedback) pairs from the oldest on until the conversation fits; None when even that does not fit.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["fit_messages", "fit_rows", "model_context", "token_counter"]

logger = logging.getLogger(__name__)

Messages = list[dict[str, Any]]


def token_counter(tokenizer: Any, *, generation_prompt: bool) -> Callable[[Messages], int]:
    """Tokens of a conversation rendered through the tokenizer's chat template."""

    def count(messages: Messages) -> int:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return count


def fit_messages(messages: Messages, count: Callable[[Messages], int], limit: int) -> Messages | None:
    """``messages`` within ``limit`` tokens: the oldest (assistant, user) pairs after the first user message are
    dropped until it fits; the head and the last message are always kept whole. None if it cannot fit."""
    if count(messages) <= limit:
        return messages
    first_user = next((i for i, m in enumerate(messages) if m.get("role") == "user"), None)
    if first_user is None or first_user >= len(messages) - 1:
        return None
    head, middle, tail = messages[: first_user + 1], list(messages[first_user + 1 : -1]), messages[-1]
    while len(middle) >= 2 and middle[0].get("role") == "assistant" and middle[1].get("role") == "user":
        middle = middle[2:]
        candidate = [*head, *middle, tail]
        if count(candidate) <= limit:
            return candidate
    return None


def fit_rows(
    rows: list[dict[str, Any]], key: str, count: Callable[[Messages], int], limit: int, what: str
) -> list[dict[str, Any]]:
    """Each row's ``key`` conversation fitted to ``limit`` tokens; rows that cannot fit are left out (logged)."""
    kept, shortened = [], 0
    for row in rows:
        fitted = fit_messages(row[key], count, limit)
        if fitted is None:
            continue
        shortened += len(fitted) != len(row[key])
        kept.append({**row, key: fitted})
    if shortened or len(kept) != len(rows):
        logger.warning(
            "%s: %d of %d shortened (oldest turns dropped) and %d left out to fit %d tokens",
            what,
            shortened,
            len(rows),
            len(rows) - len(kept),
            limit,
        )
    return kept


def model_context(model_dir: str | Path, config: Any = None) -> int | None:
    """The tokens the policy can hold: vLLM's ``vllm_max_model_length`` when generating with vLLM and set, else
    the model's ``max_position_embeddings`` (None when neither is known)."""
    if config is not None and getattr(config, "use_vllm", False) and getattr(config, "vllm_max_model_length", None):
        return int(config.vllm_max_model_length)
    try:
        data = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = data.get("max_position_embeddings") or (data.get("text_config") or {}).get("max_position_embeddings")
    return int(value) if value else None
