"""The WebVoyager action grammar: a ``Thought: ... Action: ...`` reply parsed into one :class:`Action`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["Action", "FormatError", "parse_reply"]


@dataclass(frozen=True)
class Action:
    """A parsed action: ``label`` None scrolls the window; ``text`` is typed, a direction or the answer."""

    kind: Literal["click", "type", "scroll", "wait", "goback", "answer"]
    label: int | None = None
    text: str = ""
    source: str = ""  # the action as the model wrote it


class FormatError(ValueError):
    """The reply does not hold a Thought and one well-formed Action."""


_REPLY = re.compile(r"Thought\s*:\s*(?P<thought>.*?)\s*Action\s*:\s*(?P<action>.*)", re.S | re.I)
_FORMS: dict[str, re.Pattern[str]] = {
    "answer": re.compile(r"ANSWER\b\s*[;:]?\s*(?P<text>.*)", re.S | re.I),
    "click": re.compile(r"Click\s*\[?\s*(?P<label>\d+)\s*\]?", re.I),
    "type": re.compile(r"Type\s*\[?\s*(?P<label>\d+)\s*\]?\s*[;,]\s*(?P<text>.*)", re.I),
    "scroll": re.compile(r"Scroll\s*\[?\s*(?P<label>\d+|WINDOW)\s*\]?\s*[;,]?\s*\[?\s*(?P<text>up|down)\b\s*\]?", re.I),
    "wait": re.compile(r"Wait\b", re.I),
    "goback": re.compile(r"Go\s*Back\b", re.I),
}


def _unbracket(text: str) -> str:
    text = text.strip()
    return text[1:-1].strip() if text.startswith("[") and text.endswith("]") else text


def parse_reply(reply: str) -> tuple[str, Action]:
    """``(thought, action)`` from a ``Thought: ... Action: ...`` reply; :class:`FormatError` otherwise."""
    found = _REPLY.search(reply.replace("**", ""))
    if found is None:
        raise FormatError("Your reply must include both 'Thought:' and 'Action:'.")
    action = found["action"].strip().strip("`").strip()
    for kind, pattern in _FORMS.items():
        if match := pattern.match(action):
            label, text = match.groupdict().get("label"), _unbracket(match.groupdict().get("text") or "")
            number = int(label) if label and label.isdigit() else None
            return found["thought"].strip(), Action(kind, number, text, match[0].strip())  # type: ignore[arg-type]
    first = action.splitlines()[0][:100] if action else ""
    raise FormatError(f"The action {first!r} is not in one of the allowed forms.")
