"""npm version ranges, as far as deciding whether the scaffold's copy of a package serves a site's request.

A request is *compatible* with an installed version when the version satisfies the range, or when it is in the
same release line as the range's lowest allowed version (the same major; for 0.x the same minor) and not older:
`~1.2.0` is served by 1.4.0, but `^0.344.0` is not served by 0.462.0 (0.x minors break), nor `^11.0.0` by 14.2.0.
Forms read: `1.2.3`, `=`, `v`, `^`, `~`, `>`, `>=`, `<`, `<=`, x-ranges (`1.x`, `1.2.*`, `1`), `*`, `""`, hyphen
ranges (`1.2 - 2.3`), space-separated comparators (AND) and `||`. Dist-tags (`latest`, `next`) and anything else
unreadable count as compatible: the scaffold's version is a reasonable answer and a note says so.
"""

from __future__ import annotations

import re

Version = tuple[int, int, int]
_PART = r"(?:0|[1-9]\d*|[xX*])"
_VERSION = re.compile(rf"^v?=?\s*({_PART})(?:\.({_PART}))?(?:\.({_PART}))?(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
_COMPARATOR = re.compile(r"^(\^|~>?|>=|<=|>|<|=)?\s*(.+)$")
_WILD = {"x", "X", "*"}


def parse_version(text: str) -> Version | None:
    """`1.2.3` (a pre-release or build suffix is dropped) -> (1, 2, 3); None when it is not a full version."""
    match = _VERSION.match(text.strip())
    if not match or any(p is None or p in _WILD for p in match.groups()):
        return None
    return int(match[1]), int(match[2]), int(match[3])


def _partial(text: str) -> list[int] | None:
    """The numeric parts before the first wildcard or missing part: `1.x` -> [1]; `*` -> []."""
    match = _VERSION.match(text.strip())
    if not match:
        return None
    parts: list[int] = []
    for part in match.groups():
        if part is None or part in _WILD:
            break
        parts.append(int(part))
    return parts


def _bump(parts: list[int]) -> Version:
    """The first version past the x-range `parts` (1.2 -> 1.3.0, 1 -> 2.0.0)."""
    padded = [*parts, 0, 0][:3]
    padded[len(parts) - 1] += 1
    return padded[0], padded[1], padded[2]


def _bounds(op: str, parts: list[int]) -> tuple[Version | None, bool, Version | None]:
    """(lowest allowed, whether the lowest is allowed itself, first disallowed above) for one comparator."""
    low: Version = tuple([*parts, 0, 0, 0][:3])  # type: ignore[assignment]
    if not parts:  # `*`, `x`, `^*`: anything
        return (0, 0, 0), True, None
    if op == "^":
        nonzero = next((i for i, p in enumerate(low) if p), len(parts) - 1)
        return low, True, _bump(list(low[: min(nonzero, len(parts) - 1) + 1]))
    if op in ("~", "~>"):
        return low, True, _bump(parts[:2] if len(parts) > 1 else parts)
    if op == ">":
        return (_bump(parts) if len(parts) < 3 else low), len(parts) < 3, None
    if op == ">=":
        return low, True, None
    if op == "<":
        return None, True, low
    if op == "<=":
        return None, True, (_bump(parts) if len(parts) < 3 else (low[0], low[1], low[2] + 1))
    return low, True, (_bump(parts) if len(parts) < 3 else (low[0], low[1], low[2] + 1))


def _alternatives(spec: str) -> list[list[tuple[str, list[int]]]] | None:
    """The range as OR of AND-lists of (operator, numeric parts); None when it cannot be read."""
    found = []
    for alternative in spec.split("||"):
        text = alternative.strip()
        hyphen = re.match(r"^(\S+)\s+-\s+(\S+)$", text)
        if hyphen:
            low, high = _partial(hyphen[1]), _partial(hyphen[2])
            if low is None or high is None:
                return None
            found.append([(">=", low), ("<=", high)])
            continue
        comparators = []
        for token in re.findall(r"(?:\^|~>?|>=|<=|>|<|=)?\s*[^\s]+", text) or ["*"]:
            match = _COMPARATOR.match(token.strip())
            parts = _partial(match[2]) if match else None
            if parts is None:
                return None
            comparators.append((match[1] or "", parts))
        found.append(comparators)
    return found


def _family(version: Version) -> tuple[int, ...]:
    return version[:1] if version[0] else version[:2]


def satisfies(version: Version, spec: str) -> bool | None:
    """Whether `version` is in the range `spec` (None: the range could not be read)."""
    alternatives = _alternatives(spec.strip() or "*")
    if alternatives is None:
        return None
    for comparators in alternatives:
        ok = True
        for op, parts in comparators:
            low, inclusive, high = _bounds(op, parts)
            if low is not None and (version < low or (version == low and not inclusive)):
                ok = False
            if high is not None and version >= high:
                ok = False
        if ok:
            return True
    return False


def compatible(version: Version, spec: str) -> bool:
    """Whether the scaffold's `version` can serve a request for `spec` (see the module doc)."""
    spec = spec.strip()
    if satisfies(version, spec) in (True, None):
        return True
    for comparators in _alternatives(spec) or []:
        lows = [_bounds(op, parts)[0] for op, parts in comparators]
        low = max((v for v in lows if v is not None), default=None)
        if low is not None and version >= low and _family(version) == _family(low):
            return True
    return False
