"""`webgen eval COLLECTION` on 2 WebGen-Bench tasks: an endpoint that is down stops it (what was done is kept),
the next run resumes it to a known accuracy, a re-run does nothing new and `--rerun` does it again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.benchmark.conftest import (
    BROKEN_APP,
    EvalCLI,
    app,
    appearance_rule,
    bench_tasks,
    dead_url,
    gui_rule,
    report,
    site_files,
    write_site,
)
from webgen.agent.fake_server import FakeLLMServer
from webgen.feedback.site.workspace import Workspace
from webgen.storage import collections, evals
from webgen.storage.store import TrajectoryStore
from webgen.storage.values import StepRecord, TaskIn

pytestmark = [pytest.mark.browser, pytest.mark.node]


def make_collection(store: TrajectoryStore, tmp: Path) -> None:
    """Collection "c" as `webgen collect` leaves it: 000010's agent run (best step 1 after a broken step 0) and
    000002's (best step 0), each step's files a stored snapshot."""
    records = bench_tasks("000010", "000002")
    for external_id, versions in (("000010", [BROKEN_APP, app("Prize wheel")]), ("000002", [app("Neighbourhood map")])):
        record = records[external_id]
        task = store.ensure_task(
            TaskIn(
                source="webgen-bench",
                external_id=external_id,
                instruction=record["instruction"],
                category=record["Category"],
                ui_test_cases=record["ui_instruct"],
            )
        )
        collections.plan(store, "c", [task.id], 1, "agent")
        entry = next(e for e in collections.entries(store, "c") if e.task_id == task.id)
        run_id = store.start_run(task.id, "agent")
        collections.take(store, entry.id, run_id)
        for index, source in enumerate(versions):
            folder = write_site(tmp / f"{external_id}-{index}", site_files(source))
            snapshot = Workspace(folder, store.blobs).snapshot()
            store.register_snapshot(snapshot)
            step = StepRecord(index=index, parent_index=index - 1 if index else None, snapshot_id=snapshot)
            store.add_step(run_id, step)
        store.finish_run(run_id, "finished", best_step=len(versions) - 1)
        collections.mark(store, entry.id, "finished")


@pytest.mark.slow
def test_collection_eval_stops_resumes_skips_and_reruns(tmp_path: Path) -> None:
    wheel, mapping = (bench_tasks("000010", "000002")[i]["ui_instruct"] for i in ("000010", "000002"))
    answers = {
        "000010": ["YES", "YES", "PARTIAL", "NO"],
        "000002": ["YES", "I could not tell", "NO", "PARTIAL", "NO"],  # the 2nd has no verdict: NO, error kept
    }
    rules = [gui_rule(case["task"], answers["000010"][i]) for i, case in enumerate(wheel)]
    rules += [gui_rule(case["task"], answers["000002"][i]) for i, case in enumerate(mapping)]
    rules.append(appearance_rule(4))
    out = tmp_path / "report"
    with FakeLLMServer(rules) as server:
        down = EvalCLI(tmp_path, server.base_url, gui_url=dead_url())
        with TrajectoryStore(down.db) as store:
            make_collection(store, tmp_path / "made")
        args = ("c", "--out", str(out))

        stopped = down(*args, "--stop-after", "1", code=1)
        assert "stopped: the GUI agent's endpoint http://127.0.0.1:" in stopped.replace("\n", "")
        with TrajectoryStore(down.db) as store:
            info = evals.get_eval(store, "c")
            assert info is not None and evals.cases(store, info.id) == []  # endpoint failures are not verdicts
            judged = {s.task_id: s.appearance for s in evals.sites(store, info.id)}
        assert judged and set(judged.values()) == {4}
        # an outage before any case ran: every case "not run", none "start failed", the headline incomplete
        stopped_overall = report(out)["summaries"]["substring"]["overall"]
        assert (stopped_overall["not_run"], stopped_overall["start_failed"]) == (1.0, 0.0)
        assert "**Incomplete**: 9 of 9 test cases not run yet" in (out / "report.md").read_text()
        assert "incomplete:" in stopped

        cli = EvalCLI(tmp_path, server.base_url)
        before = len(server.requests)
        cli(*args, "--workers", "2")
        new = server.requests[before:]
        assert sum(r.model == "gui" for r in new) == 9
        assert sum(r.model == "judge" for r in new) == 2 - len(judged)  # stored sites are not judged again

        results = report(out)
        assert (out / "plots" / "best_step.png").is_file()
        robust = results["summaries"]["robust"]["overall"]
        assert results["total_cases"] == 9 and len(results["cases"]) == 9
        assert robust["yes"] == pytest.approx(3 / 9) and robust["partial"] == pytest.approx(2 / 9)
        assert robust["accuracy"] == pytest.approx((3 + 0.5 * 2) / 9)
        assert robust["start_failed"] == 0 and robust["appearance"] == pytest.approx(4.0)
        unparsable = [c for c in results["cases"] if c["task_id"] == "000002" and c["case_index"] == 1][0]
        assert unparsable["verdict"] == "NO" and "unparsable verdict" in unparsable["error"]
        assert {s["task_id"]: s["best_step"] for s in results["sites"]} == {"000010": 1, "000002": 0}
        assert all(c["tokens"] > 0 and c["calls"] == 1 for c in results["cases"])

        calls = len(server.requests)
        again = cli(*args)
        assert "0 of 0 case(s) run, 9 stored before" in again
        assert len(server.requests) == calls  # nothing new: no model call

        cli(*args, "--rerun", "--ids", "000010")
        redone = server.requests[calls:]
        assert sum(r.model == "gui" for r in redone) == 4  # the appearance grade comes from the judgment cache
        assert sum(r.model == "judge" for r in redone) == 0
        assert json.loads((out / "results.json").read_text())["total_cases"] == 4

        # side by side: an eval by name (its report written from the store) and a report folder
        compared = cli("report", "c", str(out), "--out", str(tmp_path / "compared"))
        assert "WebGen-Bench comparison" in compared and (tmp_path / "compared" / "comparison.md").is_file()
        assert (tmp_path / "webgen-out" / "eval" / "c" / "results.json").is_file()
