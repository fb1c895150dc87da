"""The pure parts of `webgen eval`: both verdict scorings, the appearance grade, the test cases of a task, and the
eval tables on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import require_postgres
from webgen.benchmark.appearance import parse_grade
from webgen.benchmark.cases import cases_of, robust_verdict, score, substring_verdict
from webgen.storage import evals
from webgen.storage.evals import CaseRecord, SiteRecord
from webgen.storage.store import StoreError, TrajectoryStore


@pytest.mark.parametrize(
    ("message", "robust", "substring"),
    [
        ("Thought: it works.\nAction: ANSWER; YES", "YES", "YES"),
        ("Thought: half of it.\nAction: ANSWER; PARTIAL", "PARTIAL", "PARTIAL"),
        ("Thought: broken.\nAction: ANSWER; NO", "NO", "NO"),
        # the benchmark's substring test counts any "YES" in the message, the Thought included
        ("Thought: The feature does not work, so the answer is not YES.\nAction: ANSWER; NO", "NO", "YES"),
        ("Thought: I expected YES but saw PARTIAL results.\nAction: ANSWER; PARTIAL", "PARTIAL", "YES"),
        ("Thought: nothing happened.\nAction: ANSWER; It did not work at all", "NO", "NO"),
        ("Thought: fine.\nAction: ANSWER; yes", "NO", "NO"),  # both read upper case only, as the benchmark does
    ],
)
def test_robust_and_substring_scoring_of_the_same_answer(message: str, robust: str, substring: str) -> None:
    answer = message.split("ANSWER;", 1)[1]
    assert robust_verdict(answer)[0] == robust
    assert substring_verdict(message) == substring


def test_unparsable_verdict_is_no_with_the_reason_kept() -> None:
    assert robust_verdict("I am not sure what happened") == ("NO", "unparsable verdict: 'I am not sure what happened'")
    assert robust_verdict("") == ("NO", "the agent gave no answer")
    assert robust_verdict("PARTIAL, then finally YES") == ("YES", None)  # the last verdict word wins
    assert substring_verdict(None) == "NO"
    assert [score(v) for v in ("YES", "PARTIAL", "NO", "START_FAILED")] == [1.0, 0.5, 0.0, 0.0]


@pytest.mark.parametrize(
    ("reply", "grade"),
    [
        ("Analysis: clean and modern.\nGrade: 4", 4),
        ("Analysis: broken.\n\n**Grade:** 1", 1),
        ('{"analysis": "ok", "grade": 5}', 5),
        ("<think>maybe a 2</think>Analysis: fine.\nGrade: 3/5", 3),
        ("Analysis: lovely.", None),
        ("Grade: 9", None),
        ("", None),
    ],
)
def test_appearance_grade_is_read_never_guessed(reply: str, grade: int | None) -> None:
    assert parse_grade(reply) == grade


def test_cases_of_a_task_keep_their_index_and_categories() -> None:
    category = {"primary_category": "User Interaction"}
    raw = [
        {"task": "Spin", "expected_result": "It spins", "task_category": {"primary_category": "Functional Testing"}},
        {"task": "", "expected_result": "skipped: no task"},
        "not a case",
        {"task": "Check colours", "expected_result": "Navy"},
    ]
    found = cases_of("000010", category, raw)
    assert [(c.case_index, c.task) for c in found] == [(0, "Spin"), (3, "Check colours")]
    assert found[0].instruction_category == "User Interaction" and found[0].case_category == "Functional Testing"
    assert found[1].case_category == ""


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TrajectoryStore]:
    url = f"sqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite" else require_postgres()
    with TrajectoryStore(url) as opened:
        yield opened


def test_eval_tables_store_replace_and_clear(store: TrajectoryStore) -> None:
    info = evals.ensure_eval(store, "e", kind="sites", source="/sites", mode=None, config={"workers": 2})
    assert evals.ensure_eval(store, "e", kind="sites", source="/sites", mode=None, config={}).id == info.id
    with pytest.raises(StoreError, match="use another name"):
        evals.ensure_eval(store, "e", kind="collection", source="c", mode="agent", config={})
    site = SiteRecord(task_id="000001", gate=True, built=True, served=True, rendered=True, started=True, appearance=4)
    evals.put_site(store, info.id, site)
    evals.put_site(store, info.id, site.model_copy(update={"appearance": 3, "error": "bad \x00 text \ud800"}))
    case = CaseRecord(task_id="000001", case_index=0, verdict="NO", substring_verdict="YES", answer="not YES")
    evals.put_case(store, info.id, case)
    evals.put_case(store, info.id, case.model_copy(update={"verdict": "YES", "transcript": [{"action": "Click [1]"}]}))
    evals.put_case(store, info.id, case.model_copy(update={"task_id": "000002"}))
    stored = evals.sites(store, info.id)
    assert len(stored) == 1 and stored[0].appearance == 3 and stored[0].error == "bad  text \ufffd"
    cases = evals.cases(store, info.id)
    assert [(c.task_id, c.verdict) for c in cases] == [("000001", "YES"), ("000002", "NO")]
    assert cases[0].transcript == [{"action": "Click [1]"}]
    evals.clear(store, info.id, ["000001"])
    assert [c.task_id for c in evals.cases(store, info.id)] == ["000002"] and evals.sites(store, info.id) == []
    assert evals.names(store) == ["e"] and evals.get_eval(store, "missing") is None
