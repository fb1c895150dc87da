"""The session API: continue from any stored step, cancel from another thread, typed events, prune's files."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.graph.conftest import BAKERY, GUI_YES, files_of, judge_rules, single_page, site_text
from tests.helpers import descendants, own_processes
from webgen.agent.fake_server import FakeLLMServer
from webgen.graph import events
from webgen.graph.events import EVENT_ADAPTER

pytestmark = [pytest.mark.browser, pytest.mark.node]
FINISH = '<boltAction type="finish"/>'
TEST = '<boltAction type="screenshot_validated"/>'


def coder(*replies: str) -> list[dict]:
    return [{"model": "coder", "reply": r} for r in replies]


@pytest.mark.slow
def test_continue_from_step_k_starts_from_its_files_and_history(run_loop) -> None:
    rules = [*coder(single_page("First"), BAKERY, single_page("Third"), FINISH), *judge_rules(4)]
    first, store, server = run_loop(rules, max_steps=4)
    assert [s.kind for s in store.steps(first.run_id)] == ["edit", "edit", "edit", "finish"]
    step1 = store.get_step(first.run_id, 1)
    server.reset([*coder(TEST, FINISH), *judge_rules(4), GUI_YES])
    session = run_loop.session
    seen: list[events.RunEvent] = []
    session.subscribe(seen.append)
    follow = session.continue_from(first.run_id, 1, "Now add a contact page")
    steps = store.steps(follow.run_id)
    assert follow.run_id != first.run_id and [s.kind for s in steps] == ["gui_request", "finish"]
    assert steps[0].base_snapshot_id == step1.snapshot_id  # the new run's first state is step 1's files
    on_disk = site_text(follow.site)
    assert all(on_disk[p] == c for p, c in files_of(BAKERY).items() if p.endswith(".tsx"))
    prompt = store.messages(steps[0].prompt_refs)
    assert prompt[: len(step1.prompt_refs)] == store.messages(step1.prompt_refs)  # step 1's history...
    assert prompt[len(step1.prompt_refs)] == {"role": "assistant", "content": step1.completion}
    assert prompt[-2]["content"] == step1.feedback and "Now add a contact page" in prompt[-1]["content"]
    run = store.get_run(follow.run_id)
    assert run.config["continued_from"] == {"run_id": first.run_id, "step": 1}
    assert store.get_task(run.task_id).instruction == "Now add a contact page"
    assert {e.run_id for e in seen} == {follow.run_id} and seen[-1].type == "finished"


@pytest.mark.slow
def test_cancel_from_another_thread(run_loop) -> None:
    slow = {"model": "coder", "times": -1, "reply": {"content": single_page("Slow"), "delay_s": 1.5}}
    before = descendants(os.getpid())
    recorded = threading.Event()
    run_loop.events_to.append(lambda e: recorded.set() if e.type == "recorded" else None)
    result: dict = {}
    run_id = f"cancel-{time.monotonic_ns()}"
    thread = threading.Thread(target=lambda: result.update(run=run_loop([slow, *judge_rules(4)], run_id=run_id)))
    thread.start()
    assert recorded.wait(120), "no step was recorded"
    run_loop.session.cancel(run_id)
    thread.join(120)
    outcome, store, _ = result["run"]
    assert outcome.status == "cancelled" and store.get_run(run_id).status == "cancelled"
    steps = store.steps(run_id)
    assert 1 <= len(steps) <= 2 and all(s.snapshot_id and s.completion for s in steps)  # whole steps only
    assert not own_processes(before)
    follow_up = run_loop.session.resume(run_id, max_steps=len(steps) + 1)  # a cancelled run can go on
    assert follow_up.status == "finished" and len(store.steps(run_id)) == len(steps) + 1


@pytest.mark.slow
def test_events_json_stream_and_prune_removes_checkpoints_and_run_folder(tmp_path: Path) -> None:
    rules = [*coder(single_page("Evented"), FINISH), *judge_rules(4)]
    home = tmp_path / "home"
    with FakeLLMServer(rules) as server:
        env = {**os.environ, "WEBGEN_DATABASE_URL": f"sqlite:///{tmp_path / 'runs.db'}"}
        env["WEBGEN_CHECKPOINT_URL"] = f"sqlite:///{tmp_path / 'checkpoints.sqlite'}"
        for role in ("CODER", "JUDGE", "GUI"):
            env |= {f"WEBGEN_{role}__BASE_URL": server.base_url, f"WEBGEN_{role}__MODEL": role.lower()}
        cmd = [sys.executable, "-m", "webgen", "build", "A bakery", "--events", "json", "--out", str(tmp_path / "o")]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    stream = [EVENT_ADAPTER.validate_json(line) for line in done.stdout.splitlines() if line.startswith("{")]
    types = [e.type for e in stream]
    assert types[:6] == ["step_started", "files_applied", "built", "rendered", "judged", "recorded"]
    assert types[-1] == "finished" and stream[-1].status == "finished"
    rendered = next(e for e in stream if isinstance(e, events.Rendered))
    assert rendered.routes and all(r.screenshot and r.screenshot.suffix == ".png" for r in rendered.routes)
    run_id = stream[0].run_id
    assert all(e.run_id == run_id for e in stream)
    # prune: the run's checkpoints, its folder and its log go with it
    folder = home / "runs" / run_id
    folder.mkdir(parents=True)
    prune_env = {**env, "WEBGEN_HOME": str(home)}
    pruned = subprocess.run(
        [sys.executable, "-m", "webgen", "db", "prune", "--run", run_id], env=prune_env, capture_output=True, text=True
    )
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert "1 runs" in pruned.stdout and not folder.exists()
    with sqlite3.connect(tmp_path / "checkpoints.sqlite") as conn:
        left = conn.execute("SELECT COUNT(*) FROM checkpoints WHERE thread_id = ?", (run_id,)).fetchone()[0]
    assert left == 0
    assert json.loads(done.stdout.splitlines()[0])["type"] == "step_started"


def test_resume_of_a_run_killed_before_its_first_checkpoint_starts_it(run_loop) -> None:
    rules = [*coder(single_page("Once"), FINISH, single_page("Twice"), FINISH), *judge_rules(4)]
    first, store, _ = run_loop(rules, max_steps=3)
    session = run_loop.session
    task = store.get_task(store.get_run(first.run_id).task_id)
    orphan = store.start_run(task.id, "agent", config=session.settings.public())  # a worker died right here
    outcome = session.resume(orphan)
    assert outcome.status == "finished" and [s.kind for s in store.steps(orphan)] == ["edit", "finish"]
    session.cancel(orphan)  # not running: ignored, so a later resume is not stopped by a stale flag
    assert session.resume(orphan).status == "finished"


def test_step_sites_keep_only_the_most_recently_used(tmp_path: Path) -> None:
    from webgen.graph.session import prune_step_sites

    for i, name in enumerate(["aaaaaaaa01", "aaaaaaaa02", "aaaaaaaa03", "aaaaaaaa04"]):
        (tmp_path / name / "dist").mkdir(parents=True)
        os.utime(tmp_path / name, (1000 + i, 1000 + i))
    (tmp_path / "build-inflight").mkdir()  # a build in flight is never pruned
    os.utime(tmp_path / "build-inflight", (1, 1))
    assert prune_step_sites(tmp_path, keep=2) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aaaaaaaa03", "aaaaaaaa04", "build-inflight"]
    assert prune_step_sites(tmp_path / "missing", keep=2) == 0
