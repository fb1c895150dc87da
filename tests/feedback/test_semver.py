"""npm ranges: when the scaffold's installed version serves a site's request (pure; no Node needed)."""

from __future__ import annotations

import pytest

from webgen.feedback.site.semver import compatible, parse_version, satisfies


@pytest.mark.parametrize(
    ("version", "spec", "expected"),
    [
        ("1.2.3", "^1.0.0", True),
        ("2.0.0", "^1.0.0", False),
        ("0.344.9", "^0.344.0", True),
        ("0.345.0", "^0.344.0", False),
        ("0.0.4", "^0.0.3", False),
        ("1.3.0", "~1.2.0", False),
        ("1.2.9", "~1.2.0", True),
        ("2.3.5", "1.2 - 2.3", True),
        ("2.4.0", "1.2 - 2.3", False),
        ("1.3.0", ">1.2", True),
        ("1.2.9", ">1.2", False),
        ("3.6.0", ">=2.0.0 <3.0.0", False),
        ("1.0.0", "^0.5 || ^1.0.0", True),
        ("5.0.0", "*", True),
        ("5.0.0", "", True),
        ("4.1.0", "4.x", True),
        ("1.2.3", "=1.2.3", True),
        ("1.2.4", "1.2.3", False),
    ],
)
def test_satisfies(version: str, spec: str, expected: bool) -> None:
    parsed = parse_version(version)
    assert parsed is not None
    assert satisfies(parsed, spec) is expected


@pytest.mark.parametrize(
    ("version", "spec", "expected"),
    [
        ((0, 344, 0), "^0.344.0", True),  # bolt's lucide pin: the scaffold's copy
        ((1, 75, 0), "^0.344.0", False),  # lucide 1.x dropped the brand icons
        ((0, 462, 0), "^0.344.0", False),  # another 0.x minor
        ((14, 2, 0), "^11.0.0", False),  # framer-motion 11 -> 14
        ((5, 9, 3), "~5.4.2", True),  # same release line, newer
        ((3, 3, 0), "^3.4.0", False),  # older than asked for
        ((18, 3, 1), "^19.0.0", False),
        ((6, 30, 1), "^6.26.2", True),
        ((2, 0, 0), "latest", True),  # a dist-tag: the scaffold's version, with a note elsewhere
        ((2, 0, 0), "next || garbage((", True),  # unreadable: never blocks
    ],
)
def test_compatible(version: tuple[int, int, int], spec: str, expected: bool) -> None:
    assert compatible(version, spec) is expected


def test_versions_with_prerelease_or_build_read_as_their_release() -> None:
    assert parse_version("v1.2.3-beta.1+sha.5") == (1, 2, 3)
    assert parse_version("1.2") is None and parse_version("1.x.0") is None and parse_version("banana") is None
