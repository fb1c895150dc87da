"""Tests for ``webgen.feedback.judge.vlm``: the vision judge over real HTTP against the scripted fake model."""

from __future__ import annotations

import base64
import io
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from webgen.agent.fake_server import FakeLLMServer, message_text
from webgen.core.llm import OpenAIClient, TokenBudget, Usage
from webgen.core.settings import ModelEndpoint
from webgen.feedback.judge.replies import coerce_bool, extract_json, extract_score
from webgen.feedback.judge.vlm import Judge, Judgment, JudgmentCache, VLMJudge
from webgen.storage.store import TrajectoryStore

TASK = "A bakery landing page with a pink background and navy buttons."
OK_JSON = '{"has_error": false, "error": "", "description": "Pink hero, navy buttons.", "suggestions": "", "score": 4}'


def png(color: str = "pink") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer([]) as fake:
        yield fake


def make_client(base_url: str, budget: TokenBudget | None = None) -> OpenAIClient:
    endpoint = ModelEndpoint(base_url=base_url, model="judge", timeout_s=5, max_retries=2)
    return OpenAIClient(endpoint, backoff_s=0.01, budget=budget)


@pytest.fixture
def client(server: FakeLLMServer) -> Iterator[OpenAIClient]:
    with make_client(server.base_url) as llm:
        yield llm


def script(server: FakeLLMServer, *replies: dict[str, Any] | str, times: int = 1) -> None:
    rules = [{"model": "judge", "times": times, "reply": {"content": r} if isinstance(r, str) else r} for r in replies]
    server.reset(rules)


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# (id, reply, score, has_error, description); score None means "unparsable".
SHAPES: list[tuple[str, str, float | None, bool, str]] = [
    ("plain-json", OK_JSON, 4.0, False, "Pink hero, navy buttons."),
    (
        "json-fence",
        'Here you go:\n```json\n{"has_error": false, "description": "A menu grid.", "score": 3}\n```',
        3.0,
        False,
        "A menu grid.",
    ),
    (
        "prose-around-json",
        'Looking at the page {it is fine}.\n{"has_error": false, "description": "Card layout.", "score": 5}\nHope this helps!',
        5.0,
        False,
        "Card layout.",
    ),
    ("trailing-comma", '{"has_error": false, "description": "Two columns.", "score": 4,}', 4.0, False, "Two columns."),
    (
        "single-quotes-python-literals",
        "{'has_error': False, 'error': None, 'description': \"Navy header, the baker's logo.\", 'score': 5}",
        5.0,
        False,
        "Navy header, the baker's logo.",
    ),
    ("score-as-string", '{"has_error": "no", "description": "Clean.", "score": "4"}', 4.0, False, "Clean."),
    (
        "grade-fraction-no-json",
        "The hero is pink and readable.\nGrade: 4/5",
        4.0,
        False,
        "The hero is pink and readable.\nGrade: 4/5",
    ),
    ("bold-number", "Nicely laid out overall.\n\n**4**", 4.0, False, "Nicely laid out overall.\n\n**4**"),
    ("score-out-of", "Score: 3.5 out of 5", 3.5, False, "Score: 3.5 out of 5"),
    ("json-missing-description", '{"has_error": false, "score": 2}', 2.0, False, ""),
    (
        "published-key-names",
        '{"is_error": true, "error_message": "Red overlay: Uncaught TypeError", '
        '"screenshot_description": "An error overlay over a blank page.", "suggestions": "", "score": 0}',
        0.0,
        True,
        "An error overlay over a blank page.",
    ),
    ("grade-key-and-analysis", '{"analysis": "Balanced and modern.", "grade": 5}', 5.0, False, "Balanced and modern."),
    (
        "reasoning-block-first",
        '<think>Maybe {"score": 1}? No, look again.</think>{"has_error": false, "description": "Hero.", "score": 3}',
        3.0,
        False,
        "Hero.",
    ),
    ("rating-word", "Rating: four", 4.0, False, "Rating: four"),
    ("give-it-a", "I'd give it a 4.", 4.0, False, "I'd give it a 4."),
    (
        "error-text-without-flag",
        '{"error": "404 Not Found", "description": "A not-found page.", "suggestions": ["Add the route", "Fix links"], "score": 1}',
        1.0,
        True,
        "A not-found page.",
    ),
    ("bare-fraction", "Clean layout, colours as requested. 4/5", 4.0, False, "Clean layout, colours as requested. 4/5"),
    ("grade-equals", "grade = 4", 4.0, False, "grade = 4"),
    ("stars", "Solid work, 4 stars.", 4.0, False, "Solid work, 4 stars."),
    ("other-score-key", '{"description": "Hero and footer.", "final_score": 3}', 3.0, False, "Hero and footer."),
    ("score-in-prose-after-json", '{"description": "Review cards."}\nOverall score: 4/5', 4.0, False, "Review cards."),
    (
        "page-text-is-not-a-score",
        '{"description": "Product cards rated 5 stars by customers."}',
        None,
        False,
        "Product cards rated 5 stars by customers.",
    ),
    ("out-of-range-score", '{"has_error": false, "description": "Great.", "score": 7}', None, False, "Great."),
    ("other-scale", "Looks good: 8/10", None, False, "Looks good: 8/10"),
    (
        "no-score-anywhere",
        "The page shows a pink hero and a navy button.",
        None,
        False,
        "The page shows a pink hero and a navy button.",
    ),
]


def shape(name: str) -> str:
    return next(reply for id_, reply, *_ in SHAPES if id_ == name)


@pytest.mark.parametrize(
    ("reply", "score", "has_error", "description"), [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES]
)
def test_reply_shapes(
    server: FakeLLMServer, client: OpenAIClient, reply: str, score: float | None, has_error: bool, description: str
) -> None:
    script(server, reply)
    judgment = VLMJudge(client, model="judge").grade(TASK, [png()])
    assert judgment.score == score
    assert judgment.outcome == ("ok" if score is not None else "unparsable")
    assert judgment.has_error is has_error
    assert judgment.description == description
    assert judgment.raw == reply and judgment.model == "judge" and not judgment.cached
    assert len(server.requests) == 1
    if score is None:
        assert judgment.failure


def test_published_error_fields_and_list_suggestions_are_read(server: FakeLLMServer, client: OpenAIClient) -> None:
    script(server, shape("published-key-names"))
    assert VLMJudge(client, model="judge").grade(TASK, [png()]).error == "Red overlay: Uncaught TypeError"
    script(server, shape("error-text-without-flag"))
    assert VLMJudge(client, model="judge").grade(TASK, [png()]).suggestions == "- Add the route\n- Fix links"


def test_empty_completion_is_unparsable_not_an_endpoint_error(server: FakeLLMServer, client: OpenAIClient) -> None:
    """The endpoint answered, with nothing in it: a reply problem, like any reply without a score."""
    script(server, "")
    judgment = VLMJudge(client, model="judge").grade(TASK, [png()])
    assert judgment.outcome == "unparsable" and judgment.score is None and judgment.raw == ""
    assert "EmptyCompletion" in judgment.failure


def test_retries_through_two_server_errors(server: FakeLLMServer, client: OpenAIClient) -> None:
    server.reset([{"model": "judge", "times": 2, "reply": {"status": 500}}, {"model": "judge", "reply": OK_JSON}])
    judgment = VLMJudge(client, model="judge").grade(TASK, [png()])
    assert judgment.outcome == "ok" and judgment.score == 4.0
    assert [r.status for r in server.requests] == [500, 500, 200]


def test_endpoint_down_is_an_outcome_not_an_exception() -> None:
    with make_client(closed_port_url()) as llm:
        judgment = VLMJudge(llm, model="judge").grade(TASK, [png()])
    assert judgment.outcome == "endpoint_error" and judgment.score is None
    assert "EndpointUnavailable" in judgment.failure


def test_spent_budget_is_reported_without_a_call(server: FakeLLMServer) -> None:
    script(server, OK_JSON)
    budget = TokenBudget(100)
    budget.charge(Usage(prompt_tokens=100))
    with make_client(server.base_url, budget=budget) as llm:
        judgment = VLMJudge(llm, model="judge").grade(TASK, [png()])
    assert judgment.outcome == "budget" and judgment.score is None
    assert server.requests == []


def test_cache_hit_makes_no_model_call(server: FakeLLMServer, client: OpenAIClient, tmp_path: Path) -> None:
    script(server, OK_JSON, times=-1)
    with TrajectoryStore(f"sqlite:///{tmp_path / 'judgments.db'}") as store:
        first = VLMJudge(client, model="judge", cache=store).grade(TASK, [png()])
        again = VLMJudge(client, model="judge", cache=store).grade(TASK, [png()])
        assert isinstance(VLMJudge(client, model="judge", cache=store), Judge) and isinstance(store, JudgmentCache)
        assert len(server.requests) == 1
        assert not first.cached and again.cached
        assert again.model_copy(update={"cached": False}) == first
        VLMJudge(client, model="judge", cache=store).grade(TASK, [png("white")])  # other image: other key
        VLMJudge(client, model="judge", cache=store).grade(TASK + " Add a footer.", [png()])  # other prompt
        assert len(server.requests) == 3


def test_only_ok_judgments_are_cached(server: FakeLLMServer, client: OpenAIClient, tmp_path: Path) -> None:
    script(server, "I cannot tell.", times=-1)
    with TrajectoryStore(f"sqlite:///{tmp_path / 'judgments.db'}") as store:
        for _ in range(2):
            assert VLMJudge(client, model="judge", cache=store).grade(TASK, [png()]).outcome == "unparsable"
    assert len(server.requests) == 2


def test_images_arrive_as_data_urls_in_order(server: FakeLLMServer, client: OpenAIClient) -> None:
    script(server, OK_JSON)
    shots = [png("pink"), png("navy"), png("white"), png("black")]
    judgment = VLMJudge(client, model="judge", max_images=3).grade(TASK, shots)
    assert isinstance(judgment, Judgment) and judgment.ok
    (request,) = server.requests
    parts = request.messages[0]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "image_url", "image_url"]
    assert TASK in parts[0]["text"] and "3 screenshots" in parts[0]["text"]
    urls = [p["image_url"]["url"] for p in parts[1:]]
    assert all(u.startswith("data:image/png;base64,") for u in urls)
    assert [base64.b64decode(u.split(",", 1)[1]) for u in urls] == shots[:3]
    assert request.params.get("temperature") == 0.0 and TASK in message_text(request.messages)


def test_no_screenshot_is_a_caller_error(client: OpenAIClient) -> None:
    with pytest.raises(ValueError, match="at least one screenshot"):
        VLMJudge(client, model="judge").grade(TASK, [])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('Sure.\n```json\n{"a": "x\ny"}\n```\nDone.', {"a": "x\ny"}),
        ('I said "{" first, then {"k": "}"}', {"k": "}"}),
        ('{"old": 1} and later {"new": {"nested": [1, 2,],},}', {"new": {"nested": [1, 2]}}),
        ("{'it': 'the baker\\'s', ok: True, none: None}", {"it": "the baker's", "ok": True, "none": None}),
        ("no object here", None),
        ("[1, 2]", None),
        ("{never closed", None),
        ("{'café': 'crème', 'é': 1}", {"café": "crème", "é": 1}),
        ("{é: 1}", None),
    ],
)
def test_extract_json(text: str, expected: dict[str, Any] | None) -> None:
    assert extract_json(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Score (0-5): 4", 4.0),
        ("Score out of 5: 3", 3.0),
        ("Score on a scale of 1 to 5: 4", 4.0),
        ("### Grade\n\n**4**", 4.0),
        ("Question marks: 3", None),
        ("The grade is 2. On reflection, final rating: 3", 3.0),
        ("Score: 5/5", 5.0),
        ("Score: 4/10", None),
        ("Final score: -1", None),
        ("The score of the page depends on three things", None),
    ],
)
def test_extract_score_edges(text: str, expected: float | None) -> None:
    assert extract_score(text, 0, 5) == expected


def test_coerce_bool() -> None:
    assert [coerce_bool(v) for v in (True, "true", "Yes", 1, "false", "no", 0, "maybe", 2, None)] == [
        True, True, True, True, False, False, False, None, None, None
    ]  # fmt: skip
