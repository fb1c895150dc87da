"""Making untrusted text safe to store and write: the one place that decides how (used everywhere)."""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")


def safe_text(text: str) -> str:
    """Lone surrogates (which UTF-8 cannot encode) become U+FFFD and NUL characters (which databases
    and C strings refuse) are dropped; all other text is returned unchanged."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    return _SURROGATE_RE.sub(REPLACEMENT, text) if _SURROGATE_RE.search(text) else text


def safe_data(value: Any) -> Any:
    """:func:`safe_text` applied to every string inside JSON-like data (dict keys included)."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {safe_data(k): safe_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [safe_data(v) for v in value]
    return value
