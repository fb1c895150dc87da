"""`webgen collect` on the local pool, end to end: the real CLI in a subprocess, real builds and Chromium in
each worker, SQLite, and every model role scripted through the fake server (tiny single-page replies)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.graph.conftest import FAST_WAITS, judge_rules, single_page
from webgen.agent.fake_server import FakeLLMServer
from webgen.storage import collections
from webgen.storage.store import TrajectoryStore

pytestmark = [pytest.mark.browser, pytest.mark.node]


def tasks_file(tmp: Path, n: int = 3) -> Path:
    path = tmp / "webgen-bench-mini.jsonl"
    lines = [
        {"id": f"{i:06d}", "instruction": f"A one-page site number {i}", "ui_instruct": []} for i in range(1, n + 1)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def rules(delay_s: float = 0.0) -> list[dict]:
    coder = {"model": "coder", "times": -1, "reply": {"content": single_page("Hello"), "delay_s": delay_s}}
    return [coder, *judge_rules(4)]


# the installed command, as users run it: its workers are forked from a fork server that ran this script once
WEBGEN = [str(Path(sys.executable).with_name("webgen"))]
if not Path(WEBGEN[0]).exists():
    WEBGEN = [sys.executable, "-m", "webgen"]


class Collect:
    def __init__(self, tmp: Path, base_url: str, coder_url: str | None = None) -> None:
        self.tmp, self.db = tmp, f"sqlite:///{tmp / 'runs.db'}"
        self.env = {
            **os.environ,
            "WEBGEN_DATABASE_URL": self.db,
            "WEBGEN_CHECKPOINT_URL": f"sqlite:///{tmp / 'checkpoints.sqlite'}",
            "WEBGEN_AGENT__GUI_WAITS": json.dumps(FAST_WAITS),
            "WEBGEN_SITE__PAGE_TIMEOUT_S": "5",
            "COLUMNS": "250",
        }
        for role in ("coder", "judge", "gui"):
            url = coder_url if role == "coder" and coder_url else base_url
            self.env |= {
                f"WEBGEN_{role.upper()}__BASE_URL": url,
                f"WEBGEN_{role.upper()}__MODEL": role,
                f"WEBGEN_{role.upper()}__MAX_RETRIES": "0",
            }
        self.args = [str(tasks_file(tmp)), "--rollouts", "2", "--workers", "2", "--max-steps", "2", "--name", "c"]

    def cmd(self, *extra: str) -> list[str]:
        return [*WEBGEN, "collect", *self.args, *extra]

    def start_in_own_group(self) -> subprocess.Popen:
        """The collection in a process group of its own, which gets a SIGINT as a terminal's Ctrl-C does."""
        return subprocess.Popen(
            self.cmd(),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def __call__(self, *extra: str, code: int = 0) -> str:
        done = subprocess.run(self.cmd(*extra), env=self.env, capture_output=True, text=True, timeout=240)
        output = done.stdout + done.stderr
        assert "Traceback" not in output, output
        assert done.returncode == code, output
        return output

    def entries(self) -> list[collections.Entry]:
        with TrajectoryStore(self.db) as store:
            return collections.entries(store, "c")

    def runs(self):
        with TrajectoryStore(self.db) as store:
            return store.list_runs()

    def complete(self) -> None:
        """Every (task, rollout) pair finished, each held by exactly one finished run of 2 steps."""
        entries = self.entries()
        assert len(entries) == 6 and {e.status for e in entries} == {"finished"}, entries
        assert len({(e.task_id, e.rollout) for e in entries}) == 6
        with TrajectoryStore(self.db) as store:
            runs = {r.id: r for r in store.list_runs()}
            held = [runs[e.run_id] for e in entries]
            assert len({r.id for r in held}) == 6 and all(r.status == "finished" for r in held)
            assert all(store.next_index(r.id) == 2 for r in held)
            # no run of the collection's tasks outside it, except superseded empty ones
            extra = [r for r in runs.values() if r.id not in {h.id for h in held}]
            assert all(store.next_index(r.id) == 0 and r.status == "failed" for r in extra), extra
        assert Counter(e.task_id for e in entries) == Counter({t: 2 for t in {e.task_id for e in entries}})


def wait_for(predicate, timeout: float = 90.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if predicate():
                return
        except Exception:  # noqa: BLE001 - the database may not exist yet
            pass
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


@pytest.mark.slow
def test_local_pool_collects_3_tasks_x_2_rollouts_and_a_rerun_does_nothing_new(tmp_path: Path) -> None:
    with FakeLLMServer(rules()) as server:
        collect = Collect(tmp_path, server.base_url)
        output = collect()
        collect.complete()
        assert "collection c" in output and "finished" in output
        calls = len(server.requests)
        again = collect()
        assert "6 done already, 0 to run" in again
        assert len(server.requests) == calls  # no model call: nothing new
        collect.complete()
        status = subprocess.run(
            [sys.executable, "-m", "webgen", "collect", "status", "c"],
            env=collect.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0 and "finished=6" in status.stdout, status.stdout + status.stderr


def _worker_pids(parent: int) -> list[int]:
    """The collection's worker processes: the children of its fork server (a child of `parent`)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, IndexError, ValueError):
            if entry.name.isdigit():
                children.setdefault(int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]), []).append(
                    int(entry.name)
                )
    servers = [pid for pid in children.get(parent, []) if b"forkserver" in _cmdline(pid)]
    return [pid for server in servers for pid in children.get(server, [])]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_replaced_and_every_pair_runs_exactly_once(tmp_path: Path) -> None:
    with FakeLLMServer(rules(delay_s=0.5)) as server:
        collect = Collect(tmp_path, server.base_url)
        proc = subprocess.Popen(
            collect.cmd(), env=collect.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        wait_for(lambda: sum(r.status == "running" for r in collect.runs()) == 2)  # both workers busy
        time.sleep(1.0)  # mid-run: a step or so in
        os.kill(_worker_pids(proc.pid)[0], signal.SIGKILL)
        output, _ = proc.communicate(timeout=240)
        assert proc.returncode == 0 and "Traceback" not in output, output
        assert "1 retried after 1 worker(s) died" in output
        collect.complete()
        assert any(e.attempts == 2 for e in collect.entries())


@pytest.mark.slow
def test_sigint_cancels_runs_in_flight_and_a_rerun_completes(tmp_path: Path) -> None:
    with FakeLLMServer(rules(delay_s=0.5)) as server:
        collect = Collect(tmp_path, server.base_url)
        proc = collect.start_in_own_group()
        wait_for(lambda: any(r.status == "running" for r in collect.runs()))
        os.killpg(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
        assert proc.returncode == 130 and "Traceback" not in output, output
        runs = {r.id: r for r in collect.runs()}
        assert not any(r.status == "running" for r in runs.values())
        cancelled = [e for e in collect.entries() if e.status == "interrupted"]
        assert cancelled and all(runs[e.run_id].status == "cancelled" for e in cancelled)  # cleanly, resumable
        collect()
        collect.complete()


def _processes_with(marker: str) -> list[int]:
    """Live processes whose environment holds `marker` (a collection's workers, browsers and build workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and marker.encode() in (entry / "environ").read_bytes():
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if stat[0] != "Z":
                    found.append(int(entry.name))
    return found


def _left_session(pid: int, coordinator: int) -> bool:
    """Whether `pid` is the collection's fork server and has left the coordinator's session (its first preload)."""
    try:
        session = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[3])
    except (OSError, IndexError, ValueError):
        return False
    return b"forkserver" in _cmdline(pid) and session != coordinator


@pytest.mark.slow
def test_ctrl_c_while_the_workers_start_exits_cleanly_and_leaves_no_process(tmp_path: Path) -> None:
    marker = f"WEBGEN_TEST_MARK={os.getpid()}-{time.monotonic_ns()}"
    with FakeLLMServer(rules(delay_s=0.5)) as server:
        collect = Collect(tmp_path, server.base_url)
        collect.env[marker.split("=")[0]] = marker.split("=")[1]
        proc = collect.start_in_own_group()
        # the fork server is up, out of the terminal's session, and still importing what the workers need
        wait_for(lambda: any(_left_session(p, proc.pid) for p in _processes_with(marker)), timeout=60)
        assert not _worker_pids(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
        assert proc.returncode == 130 and "Traceback" not in output, output
        wait_for(lambda: not _processes_with(marker), timeout=30)
        assert not any(r.status == "running" for r in collect.runs())
        collect()  # and a re-run completes
        collect.complete()


@pytest.mark.slow
def test_an_endpoint_that_is_down_stops_the_collection_naming_it(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    with FakeLLMServer(rules()) as server:
        collect = Collect(tmp_path, server.base_url, coder_url=dead)
        collect.args[collect.args.index("--workers") + 1] = "1"
        collect.args[collect.args.index("--max-steps") + 1] = "4"  # a run fails on the 3rd failed call in a row
        output = collect(code=1)
    assert f"the coder endpoint {dead} is down: 3 runs in a row failed on it" in output
    entries = collect.entries()
    assert sum(e.run_id is not None for e in entries) == 3  # not all 6: it stopped
    assert not any(r.status == "running" for r in collect.runs())
    status = subprocess.run(
        [sys.executable, "-m", "webgen", "collect", "status", "c"], env=collect.env, capture_output=True, text=True
    )
    assert status.returncode == 0 and "interrupted=3" in status.stdout and "pending=3" in status.stdout
    assert "not finished, by reason: endpoint 3" in status.stdout and dead in status.stdout
