"""`webgen collect --backend ray`: each worker a Ray actor holding a session, on a local Ray (2 CPUs), real builds
and Chromium in each actor, into SQLite and into the test Postgres; every model role scripted through the fake
server. One test drives the real CLI (which starts its own Ray); the others share one Ray in this process."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collect.common import collect_settings, dead_url
from tests.collect.test_collect import Collect, rules, wait_for
from tests.helpers import require_postgres
from webgen.agent.fake_server import FakeLLMServer
from webgen.collect import procs
from webgen.collect.pool import Collector, Stats
from webgen.core.settings import Settings
from webgen.storage import collections
from webgen.storage.store import TrajectoryStore
from webgen.storage.values import TaskIn

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.browser, pytest.mark.node]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def plan(cfg: Settings, tasks: int, rollouts: int) -> list[collections.Entry]:
    with TrajectoryStore(cfg.resolved_database_url) as store:
        ids = [
            store.ensure_task(TaskIn(source="ray", external_id=f"{i:06d}", instruction=f"A one-page site {i}")).id
            for i in range(tasks)
        ]
        collections.plan(store, "r", ids, rollouts, "agent")
        return collections.todo(store, "r", ids, rollouts)


def collect(cfg: Settings, todo: list[collections.Entry], workers: int = 2, **options) -> Stats:
    from webgen.collect.ray_backend import RayBackend

    with TrajectoryStore(cfg.resolved_database_url) as store:
        return Collector(cfg, store, workers=workers, backend=RayBackend(cfg), **options).run(todo)


class Background:
    """A collection on the shared Ray, run on a thread so that the test can act while it runs."""

    def __init__(self, cfg: Settings, todo: list[collections.Entry], workers: int = 2) -> None:
        from webgen.collect.ray_backend import RayBackend

        self.store = TrajectoryStore(cfg.resolved_database_url)
        self.collector = Collector(cfg, self.store, workers=workers, backend=RayBackend(cfg))
        self.stats: Stats | None = None
        self.thread = threading.Thread(target=self._run, args=(todo,))
        self.thread.start()

    def _run(self, todo: list[collections.Entry]) -> None:
        self.stats = self.collector.run(todo)

    def a_run_has_a_step(self) -> None:
        wait_for(lambda: any(self.store.next_index(r.id) >= 1 for r in self.store.list_runs(status="running")))

    def join(self) -> Stats:
        self.thread.join(240)
        self.store.close()
        assert self.stats is not None, "the collection did not end"
        return self.stats


def finished_once(cfg: Settings, pairs: int, steps: int) -> None:
    """Every pair finished, each held by its own finished run of `steps` steps; no other run has a step."""
    with TrajectoryStore(cfg.resolved_database_url) as store:
        entries = collections.entries(store, "r")
        assert len(entries) == pairs and {e.status for e in entries} == {"finished"}, entries
        runs = {r.id: r for r in store.list_runs()}
        held = {e.run_id for e in entries}
        assert len(held) == pairs and all(runs[r].status == "finished" for r in held)
        assert all(store.next_index(r) == steps for r in held)
        assert all(store.next_index(r) == 0 for r in set(runs) - held)


@pytest.mark.slow
def test_cli_ray_backend_on_its_own_local_ray_into_sqlite_and_a_rerun_does_nothing_new(tmp_path: Path) -> None:
    with FakeLLMServer(rules()) as server:
        run = Collect(tmp_path, server.base_url)
        run.args[run.args.index("--rollouts") + 1] = "1"
        run.args[run.args.index("--max-steps") + 1] = "1"
        run.args[0] = str(Path(run.args[0]).with_name("two.jsonl"))
        lines = Path(tmp_path / "webgen-bench-mini.jsonl").read_text().splitlines()[:2]
        Path(run.args[0]).write_text("\n".join(lines) + "\n")
        output = run("--backend", "ray")
        assert "on 2 worker(s) (Ray actors)" in output and "2 finished" in output
        entries = run.entries()
        assert (
            len(entries) == 2 and {e.status for e in entries} == {"finished"} and len({e.run_id for e in entries}) == 2
        )
        calls = len(server.requests)
        again = run("--backend", "ray")
        assert "2 done already, 0 to run" in again and len(server.requests) == calls


def test_sqlite_with_a_remote_ray_address_is_refused_before_anything_starts(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from webgen.cli.app import app

    run = Collect(tmp_path, "http://127.0.0.1:9/v1")

    def refused(*extra: str) -> str:
        result = CliRunner().invoke(app, ["collect", *run.args, *extra], env=run.env)
        assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
        return result.output

    assert "need the store on PostgreSQL, not sqlite" in refused("--backend", "ray", "--ray-address", "10.1.2.3:6379")
    assert not (tmp_path / "runs.db").exists()  # refused before the store was even opened
    run.env |= {"WEBGEN_DATABASE_URL": require_postgres()}  # Postgres store, SQLite checkpoints: refused too
    assert "checkpoints on PostgreSQL" in refused("--backend", "ray", "--ray-address", "auto")
    run.env["WEBGEN_CHECKPOINT_URL"] = None  # both on Postgres, and nothing answers at the address: fast, one line
    address = dead_url().removeprefix("http://").removesuffix("/v1")
    assert f"cannot reach Ray at {address}: nothing answers" in refused("--backend", "ray", "--ray-address", address)
    assert "--ray-address needs --backend ray" in refused("--ray-address", "auto")


@pytest.mark.slow
def test_ray_backend_into_postgres(local_ray: None, settings: Settings, tmp_path: Path) -> None:
    url = require_postgres()
    with FakeLLMServer(rules()) as server:
        cfg = collect_settings(settings, tmp_path, server.base_url, database_url=url, max_steps=1)
        stats = collect(cfg, plan(cfg, 2, 1))
        assert stats.done == 2 and stats.failed == 0 and stats.steps == 2 and not stats.stopped
        finished_once(cfg, 2, 1)
        assert plan(cfg, 2, 1) == []  # nothing left to do: a re-run does nothing new


@pytest.mark.slow
def test_a_killed_actor_is_replaced_and_every_pair_completes_exactly_once(
    local_ray: None, settings: Settings, tmp_path: Path
) -> None:
    with FakeLLMServer(rules(delay_s=0.5)) as server:
        cfg = collect_settings(settings, tmp_path, server.base_url, max_steps=2)
        running = Background(cfg, plan(cfg, 2, 1))
        running.a_run_has_a_step()
        victim = next(w for w in running.collector.pool if w.job is not None and w.pid)
        wait_for(lambda: len(victim.family) > 1)  # the coordinator has seen its browser and build worker
        family = list(victim.family)
        os.kill(victim.pid, signal.SIGKILL)
        stats = running.join()
    assert stats.workers_lost == 1 and stats.retried == 1 and stats.done == 2 and not stats.stopped
    finished_once(cfg, 2, 2)
    with TrajectoryStore(cfg.resolved_database_url) as store:
        assert sorted(e.attempts for e in collections.entries(store, "r")) == [1, 2]
    assert family and not [p for p in family if procs.alive(p)], "the dead actor's browser and build worker live on"


@pytest.mark.slow
def test_a_dead_coder_with_max_steps_within_the_restart_limit_stops_the_collection_naming_it(
    local_ray: None, settings: Settings, tmp_path: Path
) -> None:
    dead = dead_url()
    with FakeLLMServer(rules()) as server:
        cfg = collect_settings(settings, tmp_path, server.base_url, max_steps=2)  # restart_limit is 2
        cfg = cfg.model_copy(update={"coder": cfg.coder.model_copy(update={"base_url": dead})})
        stats = collect(cfg, plan(cfg, 3, 1), workers=1, stop_after=2)
    assert stats.stopped and f"the coder endpoint {dead} is down: 2 runs in a row failed" in stats.stopped
    assert stats.failures == {"endpoint": 2}
    with TrajectoryStore(cfg.resolved_database_url) as store:
        entries = collections.entries(store, "r")
        assert [e.status for e in entries] == ["interrupted", "interrupted", "pending"]  # resumed once it is back
        runs = [store.get_run(e.run_id) for e in entries[:2]]
        assert all(r.status == "failed" and dead in r.error for r in runs)  # not "finished" with 2 invalid steps


@pytest.mark.slow
def test_interrupt_cancels_the_runs_in_the_actors(local_ray: None, settings: Settings, tmp_path: Path) -> None:
    with FakeLLMServer(rules(delay_s=0.5)) as server:
        cfg = collect_settings(settings, tmp_path, server.base_url, max_steps=4)
        running = Background(cfg, plan(cfg, 1, 1), workers=1)
        running.a_run_has_a_step()
        running.collector.interrupt()
        stats = running.join()
    assert stats.stopped and stats.stopped.startswith("interrupted")
    with TrajectoryStore(cfg.resolved_database_url) as store:
        entries = collections.entries(store, "r")
        runs = {r.id: r for r in store.list_runs()}
    assert not any(r.status == "running" for r in runs.values())
    cancelled = [e for e in entries if e.run_id and runs[e.run_id].status == "cancelled"]
    assert cancelled and all(e.status == "interrupted" for e in cancelled)  # cleanly: a re-run resumes them
