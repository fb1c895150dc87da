"""The agent loop end to end: real builds, real Chromium, SQLite; the models scripted through the fake server."""

from __future__ import annotations

import pytest

from tests.graph.conftest import BAKERY, BROKEN, GUI_YES, files_of, judge_rules, single_page, site_text

pytestmark = [pytest.mark.browser, pytest.mark.node]


def coder(*replies: str) -> list[dict]:
    """Coder replies consumed in order."""
    return [{"model": "coder", "reply": reply} for reply in replies]


@pytest.mark.slow
def test_build_error_fix_gui_test_finish_selects_the_tested_step(run_loop) -> None:
    rules = [
        {
            "model": "coder",
            "match": "Functional test by a GUI agent: YES",
            "times": -1,
            "reply": 'All good.\n<boltAction type="finish"/>',
        },
        {
            "model": "coder",
            "match": "Build: succeeded",
            "times": -1,
            "reply": '<boltAction type="screenshot_validated"/>',
        },
        {"model": "coder", "match": "Build: FAILED", "times": -1, "reply": BAKERY},
        {"model": "coder", "times": -1, "reply": BROKEN},
        *judge_rules(4),
        GUI_YES,
    ]
    outcome, store, server = run_loop(rules)
    steps = store.steps(outcome.run_id)
    assert [(s.index, s.kind, s.has_error) for s in steps] == [
        (0, "edit", True),
        (1, "edit", False),
        (2, "gui_request", False),
        (3, "finish", False),
    ]
    assert steps[0].build_ok is False and "src/App.tsx:2" in steps[0].feedback
    assert steps[1].screenshot_score == 4 and steps[1].rendered
    assert (steps[2].gui_verdict, steps[2].gui_grade) == ("YES", 5)
    # Step-GRPO rewards, stored when the run ends: the GUI grade is credited to the edit step it tested
    assert [s.reward for s in steps] == [0.0, 9.0, None, None]
    assert outcome.status == "finished" and outcome.best_step == 2  # the tested state, not the finish marker
    run = store.get_run(outcome.run_id)
    assert run.best_step == 2 and run.status == "finished"
    on_disk = site_text(outcome.site)
    assert all(on_disk[path] == content for path, content in files_of(BAKERY).items() if path.endswith(".tsx"))
    assert len(store.screenshots(steps[1].id)) >= 3  # every route of the bakery
    fed_back = store.messages(steps[1].prompt_refs)[-1]  # step 1 was prompted with step 0's feedback
    assert fed_back["role"] == "user" and fed_back["content"] == steps[0].feedback
    assert fed_back["content"].startswith("Build: FAILED") and "src/App.tsx:2" in fed_back["content"]
    gui_requests = [r for r in server.requests if r.model == "gui"]
    assert gui_requests and "Check the look" in str(gui_requests[0].messages)


def test_five_error_steps_backtrack_to_the_best_step(run_loop) -> None:
    rules = [
        *coder(
            single_page("First"),
            BROKEN,
            BROKEN,
            BROKEN,
            BROKEN,
            BROKEN,
            single_page("Second"),
            '<boltAction type="finish"/>',
        ),
        *judge_rules(4, 5),
        GUI_YES,
    ]
    outcome, store, _ = run_loop(rules, max_steps=10)
    steps = store.steps(outcome.run_id)
    assert [s.has_error for s in steps[:6]] == [False, True, True, True, True, True]
    after = steps[6]
    assert after.parent_index == 0 and after.base_snapshot_id == steps[0].snapshot_id  # files restored
    first = steps[0]
    expected_history = store.messages(first.prompt_refs) + [
        {"role": "assistant", "content": first.completion},
        {"role": "user", "content": first.feedback},
    ]
    assert store.messages(after.prompt_refs) == expected_history  # history restored
    assert after.screenshot_score == 5 and outcome.best_step == 6
    assert "Second" in (outcome.site / "src" / "App.tsx").read_text()


def test_no_good_step_restarts_fresh(run_loop) -> None:
    rules = [
        *coder(BROKEN, BROKEN, BROKEN, BROKEN, BROKEN, single_page("Fresh"), '<boltAction type="finish"/>'),
        *judge_rules(4),
        GUI_YES,
    ]
    outcome, store, _ = run_loop(rules, max_steps=8)
    steps = store.steps(outcome.run_id)
    assert all(s.has_error for s in steps[:5])
    fresh = steps[5]
    assert fresh.parent_index is None
    assert fresh.base_snapshot_id == steps[0].base_snapshot_id  # the untouched scaffold again
    assert [m["role"] for m in store.messages(fresh.prompt_refs)] == ["system", "user"]
    assert outcome.best_step == 5 and not fresh.has_error


def test_judge_endpoint_failure_is_not_a_site_score(run_loop) -> None:
    rules = [
        *coder(single_page("Only"), '<boltAction type="finish"/>'),
        {"model": "judge", "match": "front-end reviewer", "times": -1, "reply": {"status": 500}},
    ]
    outcome, store, _ = run_loop(rules, max_steps=3)
    step = store.steps(outcome.run_id)[0]
    assert step.judge["outcome"] == "endpoint_error" and step.screenshot_score is None
    assert "the reviewer could not be reached" in step.feedback
    assert "500" not in step.feedback and "http" not in step.feedback  # the endpoint's error is not site feedback
    assert not step.has_error  # unjudged, not bad


def test_store_and_checkpoints_on_postgres(run_loop) -> None:
    from tests.helpers import require_postgres

    url = require_postgres()
    rules = [*coder(single_page("On Postgres"), '<boltAction type="finish"/>'), *judge_rules(4)]
    outcome, store, _ = run_loop(rules, database_url=url, max_steps=3)
    assert store.engine.dialect.name == "postgresql"
    assert [(s.index, s.kind) for s in store.steps(outcome.run_id)] == [(0, "edit"), (1, "finish")]
    assert outcome.best_step == 0 and store.get_run(outcome.run_id).status == "finished"
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:  # LangGraph wrote its checkpoints for this run into the same database
        threads = conn.execute(text("SELECT DISTINCT thread_id FROM checkpoints")).scalars().all()
    engine.dispose()
    assert outcome.run_id in threads
