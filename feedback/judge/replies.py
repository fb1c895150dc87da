"""Reading what models actually write: a JSON object somewhere in prose, a score written as text.

Shared by the vision judge and GUI-transcript grading.  Nothing here raises on odd input; a value that
cannot be read is ``None``, so the caller can report "unparsable" instead of inventing a number.

>>> extract_json('Sure! ```json\\n{"score": 4,}\\n```')
{'score': 4}
>>> extract_score("Overall I'd give it a 4 out of 5.", 0, 5)
4.0
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

__all__ = [
    "coerce_bool",
    "coerce_score",
    "coerce_text",
    "extract_json",
    "extract_score",
    "pick",
    "read_score",
    "strip_reasoning",
]

logger = logging.getLogger(__name__)

MAX_OBJECT_STARTS = 200
_FENCE = re.compile(r"```[ \t]*(?:json5?|JSON|javascript|js|python)?[ \t]*\n?(.*?)```", re.DOTALL)
_THINK = re.compile(r"<think(?:ing)?>.*?</think(?:ing)?>", re.DOTALL | re.IGNORECASE)
_BARE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PY_LITERALS = {"True": "true", "False": "false", "None": "null"}
_TRUE = {"true", "yes", "y", "1", "pass", "passed", "ok"}
_FALSE = {"false", "no", "n", "0", "fail", "failed", "none", ""}
SCORE_KEY_STEMS = ("score", "grade", "rating")
SHORT_VALUE_CHARS = 12  # "3.5 out of 5"
QUOTED_TEXT_CHARS = 8  # string values at least this long are taken out before a prose search
_BLANK = {"", "none", "null", "n/a", "na", "-"}
_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip

# --- JSON -----------------------------------------------------------------------------------------


def strip_reasoning(text: str) -> str:
    """The reply without ``<think>...</think>`` blocks that reasoning models put before their answer."""
    return _THINK.sub("", text or "").strip()


def extract_json(text: str) -> dict[str, Any] | None:
    """The JSON object in a model reply: the whole text, a fenced block, or the last balanced ``{...}``.

    A small repair pass accepts trailing commas, single quotes, bare keys and Python's True/False/None.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    candidates = [text.strip()]
    candidates += [block.strip() for block in reversed(_FENCE.findall(text))]
    candidates += list(reversed(_balanced_objects(text)))
    for candidate in candidates:
        found = _load_object(candidate)
        if found is not None:
            return found
    return None


def _load_object(candidate: str) -> dict[str, Any] | None:
    for attempt in (candidate, _repair(candidate)):
        try:
            value = json.loads(attempt, strict=False)
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict):
            return value
    return None


def _balanced_objects(text: str, limit: int = MAX_OBJECT_STARTS) -> list[str]:
    """Balanced ``{...}`` spans (strings in either quote respected), last-ending and then outermost last.

    Every ``{`` is a possible start, so a stray brace in prose does not hide the object after it.
    """
    starts = [index for index, char in enumerate(text) if char == "{"][-limit:]
    spans = [(start, end) for start in starts if (end := _matching_brace(text, start)) is not None]
    spans.sort(key=lambda span: (span[1], -span[0]))
    return [text[start : end + 1] for start, end in spans]


def _matching_brace(text: str, start: int) -> int | None:
    depth, quote, index = 0, "", start
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return None


def _repair(text: str) -> str:
    """Rewrite near-JSON as JSON: quotes, bare keys, Python literals, trailing commas."""
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char in "\"'":
            end = _string_end(text, index)
            out.append(_as_json_string(text[index + 1 : end], char))
            index = end + 1
        elif (word := _BARE_WORD.match(text, index)) is not None:
            out.append(_bare_word(word.group(), text, word.end()))
            index = word.end()
        elif char == ",":
            following = text[index + 1 :].lstrip()
            if not following.startswith(("}", "]")):
                out.append(char)
            index += 1
        else:
            out.append(char)
            index += 1
    return "".join(out)


def _string_end(text: str, start: int) -> int:
    quote, index = text[start], start + 1
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] == quote:
            return index
        index += 1
    return len(text)


def _as_json_string(body: str, quote: str) -> str:
    if quote == "'":
        body = body.replace("\\'", "'").replace('"', '\\"')
    return f'"{body}"'


def _bare_word(word: str, text: str, end: int) -> str:
    if text[end:].lstrip().startswith(":"):
        return json.dumps(word)
    return _PY_LITERALS.get(word, word)


# --- scores ---------------------------------------------------------------------------------------

_DIGITS = r"(?P<num>-?\d+(?:\.\d+)?)\b"
_NUMBER = r"(?P<num>-?\d+(?:\.\d+)?|" + "|".join(_WORDS) + r")\b"
_DENOMINATOR = r"(?:\s*\**\s*(?:/|out\s+of|of)\s*(?P<den>\d+(?:\.\d+)?))?"
_VALUE = _NUMBER + _DENOMINATOR
_WORD_VALUE = r"(?P<num>" + "|".join(_WORDS) + r")\b" + _DENOMINATOR
_KEY = (
    r"\b(?:grade[ds]?|score[ds]?|ratings?|rated)\b"
    r"(?:\s*\([^)\n]{0,30}\))?"  # "Score (0-5): 4"
    r"(?:\s*(?:out\s+of|/)\s*\d+)?"  # "Score out of 5: 4"
    r"(?:[^\d\n.!?]{0,20}?\b\d+\s*(?:-|–|to)\s*\d+\b(?:\s*scale)?)?"  # "Score on a 1 to 5 scale: 4"
)
_GAP = r"[^\d\n.!?]{0,30}?(?:\n[\s*_#>:]*)?(?<!out of )(?<!/)"  # "Score: 4", "### Grade\n\n**4**"
_KEYWORD_DIGITS = re.compile(_KEY + _GAP + _DIGITS + _DENOMINATOR, re.IGNORECASE)
_KEYWORD_WORDS = re.compile(_KEY + r"[\s:=*_\"'\-]*(?:(?:is|of|was)\s+)?(?:an?\s+)?" + _WORD_VALUE, re.IGNORECASE)
_FRACTION = re.compile(r"(?P<num>-?\d+(?:\.\d+)?)\s*(?:/|out\s+of)\s*(?P<den>\d+(?:\.\d+)?)", re.IGNORECASE)
_VERB = re.compile(
    r"\b(?:give|giving|gave|rate|rating|award|assign)\s+(?:it|this(?:\s+\w+)?|the\s+\w+)?\s*(?:an?\s+|as\s+)?" + _VALUE,
    re.IGNORECASE,
)
_STARS = re.compile(_NUMBER + r"\s*(?:stars?|★)", re.IGNORECASE)
_BOLD = re.compile(r"\*\*\s*" + _VALUE + r"\s*\*\*", re.IGNORECASE)
_ALONE = re.compile(r"^[\s*_`\"'#>]*" + _VALUE + r"[\s*_`\"'.!]*$", re.IGNORECASE)


def extract_score(text: str, low: float, high: float) -> float | None:
    """A score written as text ("Grade: 4/5", "**4**", "Score: 3.5 out of 5", "Rating: four", "4 stars").

    The last number after a grade/score/rating keyword wins; else a fraction, "give it a N", "N stars", a
    bold number, or a reply that is only a number.  Out of ``[low, high]`` (or over a denominator other
    than ``high``) gives None rather than a clamped value.
    """
    if not isinstance(text, str):
        return None
    for patterns in ((_KEYWORD_DIGITS, _KEYWORD_WORDS), (_FRACTION,), (_VERB,), (_STARS,), (_BOLD,), (_ALONE,)):
        matches = [match for pattern in patterns for match in pattern.finditer(text)]
        if matches:
            return _checked(max(matches, key=lambda match: match.start("num")), low, high)
    return None


def _checked(match: re.Match[str], low: float, high: float) -> float | None:
    raw = match.group("num").lower()
    value = float(_WORDS[raw]) if raw in _WORDS else float(raw)
    den = match.groupdict().get("den")
    if den is not None and float(den) != float(high):
        logger.debug("score %r is out of %s, not of %s: not used", match.group(0), den, high)
        return None
    if not low <= value <= high:
        logger.debug("score %r is outside [%s, %s]: not used", match.group(0), low, high)
        return None
    return value


def coerce_score(value: Any, low: float, high: float) -> float | None:
    """A score field of a parsed reply: a number, or a string such as "4", "4/5" or "four"; None if unusable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
        return number if low <= number <= high else None
    if isinstance(value, str):
        return extract_score(value.strip(), low, high)
    return None


def coerce_bool(value: Any) -> bool | None:
    """True for true/"true"/"yes"/1, False for false/"false"/"no"/0; None when it is neither."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value) if value in (0, 1) else None
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    return None


def coerce_text(value: Any) -> str:
    """A text field of a parsed reply: stripped; a list becomes "- item" lines; None, booleans, "n/a" become ""."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, list):
        return "\n".join(f"- {text}" for item in value if (text := coerce_text(item)))
    text = value.strip() if isinstance(value, str) else str(value)
    return "" if text.lower() in _BLANK else text


def pick(data: dict[str, Any], aliases: tuple[str, ...]) -> Any:
    """The value of the first of ``aliases`` (lower-case) that ``data`` has, keys compared case-insensitively."""
    lowered = {str(key).lower(): value for key, value in data.items()}
    for alias in aliases:
        if alias in lowered:
            return lowered[alias]
    return None


def read_score(
    data: dict[str, Any] | None, text: str, low: float, high: float, aliases: tuple[str, ...]
) -> float | None:
    """The score of a reply: its JSON field (one of ``aliases``, else a key naming a score), else the prose.

    A field that is present but unusable gives None: the prose is not searched for a second opinion.  The
    prose search leaves out the JSON's text values, so page text quoted there ("Rated 5 stars") is not
    taken for the judge's score.
    """
    if data is None:
        return extract_score(text, low, high)
    value = pick(data, aliases)
    if value is None:
        value = next((v for k, v in data.items() if _names_score(k) and _short_scalar(v)), None)
    if value is not None:
        return coerce_score(value, low, high)
    for quoted in _string_values(data):
        text = text.replace(quoted, " ")
    return extract_score(text, low, high)


def _names_score(key: Any) -> bool:
    return any(stem in str(key).lower() for stem in SCORE_KEY_STEMS)


def _short_scalar(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int | float) or (isinstance(value, str) and 0 < len(value.strip()) <= SHORT_VALUE_CHARS)


def _string_values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if len(value) >= QUOTED_TEXT_CHARS else []
    if isinstance(value, dict):
        return [text for item in value.values() for text in _string_values(item)]
    if isinstance(value, list):
        return [text for item in value for text in _string_values(item)]
    return []
