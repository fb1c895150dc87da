"""Degenerate repetition: the published agent's rule for a reply that loops on the same text."""

from __future__ import annotations

import re
from collections import Counter

REPETITION_TAIL = 30_000
_VAR_RE = re.compile(r"#[0-9a-f]{3,8}\b|\d+(?:\.\d+)?")
_WS_COLLAPSE_RE = re.compile(r"\s+")


def is_repetitive(text: str, *, window: int = 50, min_count: int = 3, share: float = 0.4) -> bool:
    """The published agent's repetition rule on the last ``REPETITION_TAIL`` characters: canonicalise (numbers
    and hex colours become ``<VAR>``, lower-case, collapse whitespace), slide ``window``-character windows, and
    flag the text when at least ``share`` of the windows occur ``min_count`` times or more."""
    canon = _WS_COLLAPSE_RE.sub(" ", _VAR_RE.sub("<VAR>", text[-REPETITION_TAIL:].lower())).strip()
    if len(canon) < window * 4:
        return False
    counts = Counter(canon[i : i + window] for i in range(len(canon) - window + 1))
    total = sum(counts.values())
    repeated = sum(n for n in counts.values() if n >= min_count)
    return repeated / total >= share
