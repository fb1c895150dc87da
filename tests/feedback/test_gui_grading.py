"""Tests for ``webgen.feedback.gui.grading`` over real HTTP against the scripted fake model."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from webgen.agent.fake_server import FakeLLMServer, message_text
from webgen.core.llm import OpenAIClient
from webgen.core.settings import ModelEndpoint
from webgen.feedback.gui.grading import derive_test_instruction, fallback_test_instruction, grade_transcript
from webgen.feedback.gui.types import GUIStep, GUITestResult, Verdict

TASK = "Build a bakery shop with a cart. Use a pink background and navy buttons."
CASES = [
    {"task": "Add a cake to the cart.", "expected_result": "The cart badge shows 1.", "task_category": {}},
    {"task": "Verify the pink background and navy buttons.", "expected_result": "Colours match the request."},
]
SUFFIX_MARKERS = ('"admin"', '"admin123456"', '"admin@example.com"', "YES / PARTIAL / NO")
TEST = "Check the pink background. Add a cake to the cart and open the cart."


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer([]) as fake:
        yield fake


def make_client(base_url: str) -> OpenAIClient:
    endpoint = ModelEndpoint(base_url=base_url, model="judge", timeout_s=5, max_retries=2)
    return OpenAIClient(endpoint, backoff_s=0.01)


@pytest.fixture
def client(server: FakeLLMServer) -> Iterator[OpenAIClient]:
    with make_client(server.base_url) as llm:
        yield llm


@pytest.fixture
def down() -> Iterator[OpenAIClient]:
    """A client whose endpoint refuses connections."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with make_client(f"http://127.0.0.1:{port}/v1") as llm:
        yield llm


def script(server: FakeLLMServer, reply: str) -> None:
    server.reset([{"model": "judge", "reply": {"content": reply}}])


def prompt_of(server: FakeLLMServer) -> str:
    (request,) = server.requests
    return message_text(request.messages)


def has_suffix(text: str) -> bool:
    return all(marker in text for marker in SUFFIX_MARKERS)


def run_result(verdict: Verdict | None = "PARTIAL", **fields: Any) -> GUITestResult:
    steps = [
        GUIStep(index=1, thought="Open the shop page", action="Click [3]"),
        GUIStep(index=2, thought="Add the first cake", action="Click [7]", error="element is not clickable"),
    ]
    answer = f"The cart never updated. {verdict}" if verdict else ""
    return GUITestResult(outcome="ok", verdict=verdict, answer=answer, steps=steps, **fields)


# --- derive_test_instruction ------------------------------------------------------------------------


def test_derive_covers_test_cases_and_appends_suffix(server: FakeLLMServer, client: OpenAIClient) -> None:
    script(server, f"Here is the instruction.\n<test>\n{TEST}\n</test>\nGood luck!")
    derived = derive_test_instruction(client, instruction=TASK, ui_test_cases=CASES)
    assert derived.startswith(TEST + "\n\n") and has_suffix(derived)
    prompt = prompt_of(server)
    assert TASK in prompt
    assert all(case["task"] in prompt and case["expected_result"] in prompt for case in CASES)


def test_derive_without_cases_takes_the_whole_reply(server: FakeLLMServer, client: OpenAIClient) -> None:
    script(server, f"<think>The user wants a bakery; colours first.</think>\n  {TEST}  \n")
    derived = derive_test_instruction(client, instruction=TASK, ui_test_cases=None)
    assert derived.startswith(TEST + "\n\n") and has_suffix(derived)
    assert "think>" not in derived and "must cover" not in prompt_of(server)


def test_derive_falls_back_when_the_endpoint_is_down(down: OpenAIClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="webgen.feedback.gui.grading"):
        derived = derive_test_instruction(down, instruction=TASK, ui_test_cases=CASES)
    assert derived == fallback_test_instruction(TASK, CASES)
    assert TASK in derived and all(case["task"] in derived for case in CASES) and has_suffix(derived)
    assert "EndpointUnavailable" in caplog.text


@pytest.mark.parametrize("reply", ["", "<test>   </test>"], ids=["empty-completion", "empty-tag"])
def test_derive_falls_back_on_an_empty_instruction(server: FakeLLMServer, client: OpenAIClient, reply: str) -> None:
    script(server, reply)
    assert derive_test_instruction(client, instruction=TASK, ui_test_cases=[]) == fallback_test_instruction(TASK)


# --- grade_transcript -------------------------------------------------------------------------------


def test_grade_reads_json_after_the_analysis(server: FakeLLMServer, client: OpenAIClient) -> None:
    script(
        server,
        "The shop page opened, but the add-to-cart button could not be clicked, a website fault.\n"
        '```json\n{"test_passed": false, "improvement_suggestions": "Make the add-to-cart button clickable.", "grade": 2}\n```',
    )
    graded = grade_transcript(client, instruction=TEST, result=run_result())
    assert graded.grade == 2.0 and graded.suggestions == "Make the add-to-cart button clickable."
    assert graded.verdict == "PARTIAL" and graded.outcome == "ok" and graded.error is None
    prompt = prompt_of(server)
    assert TEST in prompt and "Click [7] [failed: element is not clickable]" in prompt and "PARTIAL" in prompt


def test_yes_verdict_clears_suggestions(server: FakeLLMServer, client: OpenAIClient) -> None:
    script(server, 'All flows worked. {"test_passed": true, "improvement_suggestions": "Bigger buttons.", "grade": 5}')
    graded = grade_transcript(client, instruction=TEST, result=run_result("YES"))
    assert graded.grade == 5.0 and graded.suggestions == "" and graded.verdict == "YES"


def test_grade_written_in_prose(server: FakeLLMServer, client: OpenAIClient) -> None:
    reply = "The cart button does nothing when clicked.\nGrade: 2/5"
    script(server, reply)
    graded = grade_transcript(client, instruction=TEST, result=run_result("NO"))
    assert graded.grade == 2.0 and graded.suggestions == reply


@pytest.mark.parametrize(
    "reply",
    [
        "The agent clicked around the shop.",
        '{"test_passed": false, "grade": 0}',
        '{"test_passed": true, "grade": "great"}',
    ],
    ids=["no-grade", "grade-out-of-range", "grade-not-a-number"],
)
def test_unparsable_grade_keeps_verdict_and_notes_why(server: FakeLLMServer, client: OpenAIClient, reply: str) -> None:
    script(server, reply)
    graded = grade_transcript(client, instruction=TEST, result=run_result(error="step 2 was slow"))
    assert graded.grade is None and graded.verdict == "PARTIAL" and graded.outcome == "ok"
    assert graded.error is not None and graded.error.startswith("step 2 was slow; grading failed: ")


def test_grading_endpoint_down_is_noted_not_raised(down: OpenAIClient) -> None:
    graded = grade_transcript(down, instruction=TEST, result=run_result("NO"))
    assert graded.grade is None and graded.verdict == "NO" and graded.outcome == "ok"
    assert graded.error is not None and "grading failed: EndpointUnavailable" in graded.error


def test_empty_transcript_is_not_sent(server: FakeLLMServer, client: OpenAIClient) -> None:
    script(server, '{"grade": 3}')
    empty = GUITestResult(outcome="browser_error", error="chromium crashed")
    graded = grade_transcript(client, instruction=TEST, result=empty)
    assert graded.grade is None and graded.outcome == "browser_error" and server.requests == []
    assert graded.error == "chromium crashed; grading failed: the agent left no transcript to grade"
