"""Keep a conversation within a token budget: old feedback goes first, the system prompt and request never."""

from __future__ import annotations

from typing import Any

IMAGE_TOKENS = 1000
_OMITTED_FEEDBACK = "[feedback on an earlier step omitted to save space]"
_OMITTED_REPLY = "[an earlier reply omitted to save space; its files are in the project]"


def estimate_tokens(message: dict[str, Any]) -> int:
    """A cheap, tokenizer-free estimate: 4 characters a token, a fixed cost per image."""
    content = message.get("content", "")
    if isinstance(content, str):
        return len(content) // 4 + 4
    total = 4
    for part in content:
        total += IMAGE_TOKENS if part.get("type") == "image_url" else len(part.get("text", "")) // 4
    return total


def fit_to_budget(
    messages: list[dict[str, Any]], budget: int, *, keep_first: int = 2, keep_last: int = 2
) -> list[dict]:
    """A copy of `messages` within `budget` tokens (when possible). Oldest feedback (user turns after the
    first `keep_first` messages) is replaced first, then the oldest assistant replies; the last `keep_last`
    messages are never touched."""
    fitted = [dict(m) for m in messages]
    total = sum(estimate_tokens(m) for m in fitted)
    if total <= budget:
        return fitted
    middle = range(keep_first, max(keep_first, len(fitted) - keep_last))
    for role, placeholder in (("user", _OMITTED_FEEDBACK), ("assistant", _OMITTED_REPLY)):
        for i in middle:
            if total <= budget:
                return fitted
            if fitted[i]["role"] == role and fitted[i]["content"] != placeholder:
                total -= estimate_tokens(fitted[i])
                fitted[i]["content"] = placeholder
                total += estimate_tokens(fitted[i])
    return fitted
