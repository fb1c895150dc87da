"""The evaluator pool: real worker processes, each with its own build worker and Chromium; the judge and the
GUI agent are scripted through the real fake model server."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import descendants
from tests.training.conftest import single_page
from webgen.agent.fake_server import FakeLLMServer
from webgen.training.pool import EnvJob, EvaluatorPool

pytestmark = [pytest.mark.browser, pytest.mark.node]


@pytest.fixture
def pool(shared_pool: EvaluatorPool) -> EvaluatorPool:
    return shared_pool


@pytest.mark.slow
def test_map_runs_jobs_in_parallel_in_order(pool: EvaluatorPool) -> None:
    page = single_page("Rosie's Bakery")
    jobs = [
        EnvJob(instruction="A bakery site", reply=page),
        EnvJob(instruction="A bakery site", reply="Sure! I'd love to help with your bakery."),  # malformed
        EnvJob(instruction="A bakery site", reply=single_page("Second Bakery"), history=[page]),
        EnvJob(instruction="A bakery site", reply=page, history=[page]),  # the same reply again: a loop
    ]
    results = pool.map(jobs)
    edit, prose, second, again = results
    assert [r.error for r in results] == [None] * 4
    assert edit.kind == "edit" and edit.reward == 4.0 and edit.screenshot_score == 4.0 and not edit.has_error
    assert "Rosie's Bakery" in edit.files["src/App.tsx"] and "package.json" in edit.files
    assert "screenshot_validated" in edit.feedback and "appearance 4.0/5" in edit.feedback
    assert edit.evaluation is not None and edit.evaluation["observation"]["build"]["ok"]
    assert edit.cascaded is not None and edit.cascaded["stage"] == "scored"
    assert prose.kind == "invalid" and prose.reward == -1.0 and prose.has_error and "filePath" in prose.feedback
    assert second.kind == "edit" and second.reward == 4.0
    assert again.kind == "invalid" and again.reward == -1.0 and not again.good_format
    assert len({r.worker for r in results}) == 2  # both workers took jobs
    shots = [Path(p["screenshot_path"]) for p in edit.evaluation["observation"]["pages"] if p.get("screenshot_path")]
    assert shots and all(p.is_file() and p.is_relative_to(pool.scratch / "shots") for p in shots)
    pool.clear_screenshots()  # what a reward function does once the batch is stored
    assert not any(p.exists() for p in shots) and not (pool.scratch / "shots").exists()

    # the next turn: a GUI request on the edited files, then a finish; the GUI grade comes back
    gui, finish = pool.map(
        [
            EnvJob(instruction="A bakery site", files=edit.files, reply='<boltAction type="screenshot_validated"/>'),
            EnvJob(instruction="A bakery site", files=edit.files, reply='<boltAction type="finish"/>'),
        ]
    )
    assert gui.kind == "gui_request" and gui.gui_grade == 5 and gui.reward is None and "YES" in gui.feedback
    assert finish.kind == "finish" and finish.reward is None and finish.feedback == ""
    assert gui.files == edit.files


@pytest.mark.slow
def test_a_hanging_job_times_out_and_the_pool_goes_on(pool: EvaluatorPool) -> None:
    before = set(pool.pids)
    started = time.monotonic()
    [hung] = pool.map([EnvJob(instruction="A HANGING task", reply=single_page("Hang"))], timeout_s=4)
    assert hung.error is not None and "timed out after 4s" in hung.error and hung.reward is None
    assert time.monotonic() - started < 30
    assert set(pool.pids) != before  # the hung worker was killed and replaced
    after = pool.map([EnvJob(instruction="A bakery site", reply=single_page(f"After {i}")) for i in range(2)])
    assert [r.error for r in after] == [None, None] and [r.reward for r in after] == [4.0, 4.0]


@pytest.mark.slow
def test_a_worker_killed_mid_job_is_replaced_and_the_job_retried(pool: EvaluatorPool) -> None:
    server: FakeLLMServer = pool.server
    killed: list[int] = []
    gone: list[set[int]] = []

    def kill_when_judging() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any("SLOW task" in str(r.messages) for r in server.requests):
                busy = [w for w in pool._workers if w.slot is not None]
                if busy:
                    gone.append({busy[0].proc.pid, *descendants(busy[0].proc.pid)})
                    killed.append(busy[0].proc.pid)
                    os.kill(busy[0].proc.pid, signal.SIGKILL)
                return
            time.sleep(0.05)

    restarts = pool.restarts
    thread = threading.Thread(target=kill_when_judging)
    thread.start()
    [result] = pool.map([EnvJob(instruction="A SLOW task", reply=single_page("Slow"))])
    thread.join()
    assert killed, "the judge request never came"
    assert result.error is None and result.reward == 4.0 and result.worker != killed[0]
    assert pool.restarts == restarts + 1
    time.sleep(0.5)
    assert not [pid for pid in gone[0] if Path(f"/proc/{pid}").exists() and _alive(pid)]  # its Chromium went too


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"
