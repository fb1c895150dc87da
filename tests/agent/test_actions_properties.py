"""Property tests of the coder-answer parser: it never raises, round-trips, and copes with megabyte inputs
(how fast it does so is measured by scripts/bench_parser.py, not asserted here)."""

from __future__ import annotations

import re
from typing import get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.agent.test_actions import bolt
from webgen.agent.actions import ParsedResponse, has_exact_think_answer_format, parse_response
from webgen.core.kinds import StepKind
from webgen.scripts.bench_parser import megabyte_inputs

# --- robustness and performance -------------------------------------------------------------------

FRAGMENTS = [
    "<boltAction",
    "<webAction",
    "</boltAction>",
    "</webAction>",
    "<boltArtifact",
    "</boltArtifact>",
    "<webArtifact>",
    'type="file"',
    "type='shell'",
    'type="finish"',
    "type=screenshot_validated",
    "filePath='a.ts'",
    'filePath="src/b.tsx"',
    "path=",
    "=",
    '"',
    "'",
    ">",
    "/>",
    " ",
    "\n",
    "<",
    "&",
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "```",
    "```tsx a.ts\n",
    "**a.ts**\n",
    "&lt;",
    "&amp;",
    "&#x27;",
    "&#99999999;",
    "\\",
    "./",
    "\r\n",
]
fragment_soup = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=40).map("".join)


def check_invariants(r: ParsedResponse) -> None:
    assert not any(p.startswith("internal parser error") for p in r.problems)
    assert set(r.final_files()) == {f.path for f in r.files}
    assert r.kind in get_args(StepKind)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises_on_arbitrary_text(text: str) -> None:
    check_invariants(parse_response(text))
    has_exact_think_answer_format(text)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fragment_soup)
def test_never_raises_on_tag_soup(text: str) -> None:
    check_invariants(parse_response(text))
    has_exact_think_answer_format(text)


safe_paths = st.builds(
    lambda parts, ext: "/".join(parts) + "." + ext,
    st.lists(st.from_regex(r"[A-Za-z0-9_-]{1,8}", fullmatch=True), min_size=1, max_size=3),
    st.sampled_from(["ts", "tsx", "css", "html", "json", "md"]),
)
TAG_LIKE = re.compile(r"</?(bolt|web)(artifact|action)", re.IGNORECASE)
safe_bodies = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="&`\x00")).filter(
    lambda b: TAG_LIKE.search(b) is None and re.search(r"\n[ \t]+\Z", b) is None
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(safe_paths, safe_bodies), max_size=6),
    st.sampled_from(["bolt", "web"]),
    st.sampled_from(['"', "'"]),
)
def test_round_trip(files: list[tuple[str, str]], tag: str, quote: str) -> None:
    actions = [f"<{tag}Action type={quote}file{quote} filePath={quote}{p}{quote}>\n{b}</{tag}Action>" for p, b in files]
    r = parse_response(bolt(*actions, tag=tag))
    assert [(f.path, f.content) for f in r.files] == files
    assert r.truncated == []
    assert r.dialect == tag


@pytest.mark.parametrize("name", list(megabyte_inputs()))
def test_one_megabyte_inputs_parse(name: str) -> None:
    check_invariants(parse_response(megabyte_inputs()[name]))
