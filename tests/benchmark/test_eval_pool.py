"""The GUI worker pool: a worker killed mid-case (SIGKILL) takes nothing with it; its case is retried on a new
worker, and the killed worker's process group (its Chromium included) is gone."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.graph.conftest import FAST_WAITS
from tests.helpers import descendants
from webgen.agent.fake_server import FakeLLMServer
from webgen.benchmark.worker import CaseJob, CasePool
from webgen.core.settings import ModelEndpoint, Settings
from webgen.feedback.gui.protocol import GUIProtocol
from webgen.feedback.site.server import StaticServer

pytestmark = [pytest.mark.browser]

PAGE = "<!doctype html><html><body><h1>Prize wheel</h1><button>Spin</button></body></html>"


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_its_case_retried(tmp_path: Path, settings: Settings) -> None:
    (tmp_path / "index.html").write_text(PAGE)
    reply = {"content": "Thought: The wheel spins.\nAction: ANSWER; YES", "delay_s": 1.5}
    with FakeLLMServer([{"model": "gui", "times": -1, "reply": reply}]) as server, StaticServer(tmp_path) as site:
        gui = ModelEndpoint(base_url=server.base_url, model="gui", max_retries=0)
        cfg = settings.updated(gui=gui, agent={"gui_waits": FAST_WAITS})
        pool = CasePool(cfg, 1, protocol=GUIProtocol(settle_s=0.1))
        try:
            pool.submit(CaseJob(task_id="000010", rollout=0, case_index=0, url=site.url, text="Spin the wheel."))
            deadline = time.monotonic() + 120
            while not server.requests and time.monotonic() < deadline:  # the case is in flight
                assert pool.poll(0.2) == []
            first = pool.workers[0]
            tree = descendants(first.proc.pid)
            assert tree, "the worker runs its Chromium"
            os.kill(first.proc.pid, signal.SIGKILL)
            finished = []
            while not finished and time.monotonic() < deadline:
                finished = pool.poll(0.5)
        finally:
            pool.close()
    assert len(finished) == 1 and finished[0].attempts == 2 and finished[0].error is None
    assert finished[0].result is not None and finished[0].result["verdict"] == "YES"
    assert finished[0].tokens > 0
    time.sleep(0.5)
    alive = [pid for pid in tree if Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)]
    assert alive == [], "the killed worker's processes are gone"
    assert pool.workers == []


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"
