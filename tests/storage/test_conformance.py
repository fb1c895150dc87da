"""The TrajectoryStore contract, run against SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from webgen.core.types import BuildResult, Observation, PageVisit
from webgen.feedback.site.workspace import Workspace
from webgen.storage import db
from webgen.storage.io import ImportRejected, export_runs, export_snapshot, grpo_dataset, import_tasks, sft_rows
from webgen.storage.maintenance import prune, stats
from webgen.storage.store import DuplicateStep, StoreError, TrajectoryStore
from webgen.storage.values import StepRecord, TaskIn

BENCH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "webgen-bench" / "test.jsonl"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))


def task(store: TrajectoryStore, n: int = 1) -> int:
    return store.ensure_task(TaskIn(source="test", external_id=str(n), instruction=f"Build site {n}")).id


def observation(ok: bool = True) -> Observation:
    page = PageVisit(
        route="/", url="http://127.0.0.1:1/", ok=True, text_length=100, screenshot=PNG, full_screenshot=PNG + b"full"
    )
    return Observation(build=BuildResult(ok=ok, seconds=0.1), served=ok, pages=[page] if ok else [])


def history(n: int) -> list[dict]:
    messages = [{"role": "system", "content": "You build websites."}, {"role": "user", "content": "Make a bakery"}]
    for i in range(n):
        messages += [{"role": "assistant", "content": f"edit {i}"}, {"role": "user", "content": f"feedback {i}"}]
    return messages


def test_migrations_reach_head_and_are_idempotent(store: TrajectoryStore) -> None:
    assert db.current_revision(store.engine) == db.head_revision(store.engine) == "0004"
    db.upgrade(store.engine)
    assert db.current_revision(store.engine) == "0004"


def test_tasks_insert_dedupe_and_update(store: TrajectoryStore) -> None:
    first = TaskIn(source="s", external_id="1", instruction="A", ui_test_cases=[{"task": "t"}])
    assert store.add_tasks([first, TaskIn(source="s", external_id="2", instruction="B")]) == (2, 0)
    assert store.add_tasks([first.model_copy(update={"instruction": "A2"})]) == (0, 1)
    assert store.find_task("s", "1").instruction == "A"
    store.add_tasks([first.model_copy(update={"instruction": "A2"})], update_existing=True)
    found = store.find_task("s", "1")
    assert found.instruction == "A2" and found.ui_test_cases == [{"task": "t"}]
    assert [t.external_id for t in store.list_tasks(source="s")] == ["1", "2"]
    with pytest.raises(StoreError):
        store.get_task(99999)


def test_runs_and_steps_roundtrip(store: TrajectoryStore) -> None:
    run_id = store.start_run(task(store), "agent", config={"max_steps": 20}, models={"coder": "m"})
    assert store.next_index(run_id) == 0
    step_id = store.add_step(
        run_id,
        StepRecord(
            index=0,
            prompt=history(0),
            completion="<boltArtifact/>",
            observation=observation(),
            screenshot_score=4,
            tokens_prompt=100,
            tokens_completion=50,
            latency={"build": 0.2},
        ),
    )
    store.add_step(
        run_id,
        StepRecord(
            index=1,
            parent_index=0,
            kind="gui_request",
            prompt=history(1),
            completion="<boltAction type='screenshot_validated'/>",
            gui_verdict="YES",
            gui_grade=5,
            errors=["x"],
            tokens_prompt=10,
        ),
    )
    assert store.next_index(run_id) == 2
    steps = store.steps(run_id)
    assert [s.index for s in steps] == [0, 1]
    assert steps[0].build_ok is True and steps[0].rendered is True and steps[0].has_error is False
    assert steps[1].has_error is True and steps[1].gui_grade == 5
    assert store.messages(steps[1].prompt_refs) == history(1)
    shots = store.screenshots(step_id)
    assert {(s.route, s.kind) for s in shots} == {("/", "viewport"), ("/", "full")}
    assert next(s for s in shots if s.kind == "viewport").png == PNG
    assert (
        steps[0].observation["pages"][0]["text_length"] == 100 and "screenshot" not in steps[0].observation["pages"][0]
    )
    run = store.get_run(run_id)
    assert (run.tokens_prompt, run.tokens_completion, run.status) == (110, 50, "running")
    store.finish_run(run_id, "finished", best_step=0, timings={"total": 3.0})
    run = store.get_run(run_id)
    assert run.status == "finished" and run.best_step == 0 and run.finished_at is not None
    assert [r.id for r in store.list_runs(status="finished")] == [run_id]
    with pytest.raises(StoreError):
        store.add_step("nope", StepRecord(index=0))


def test_messages_are_stored_once(store: TrajectoryStore) -> None:
    run_id = store.start_run(task(store), "agent")
    before = stats(store)["blobs"]
    store.add_step(run_id, StepRecord(index=0, prompt=history(0)))
    store.add_step(run_id, StepRecord(index=1, prompt=history(1)))
    store.add_step(run_id, StepRecord(index=2, prompt=history(2)))
    # 2 shared messages, then 2 new per step: 6 message blobs, not 2 + 4 + 6 = 12
    assert stats(store)["blobs"] - before == 6


def test_add_step_is_idempotent_and_refuses_conflicts(store: TrajectoryStore) -> None:
    run_id = store.start_run(task(store), "agent")
    record = StepRecord(index=0, completion="same", tokens_prompt=7)
    first = store.add_step(run_id, record)
    assert store.add_step(run_id, record) == first
    assert store.get_run(run_id).tokens_prompt == 7  # totals not counted twice
    with pytest.raises(DuplicateStep):
        store.add_step(run_id, StepRecord(index=0, completion="different"))
    assert len(store.steps(run_id)) == 1


def test_snapshots_dedupe_and_export(store: TrajectoryStore, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    workspace = Workspace(site, store.blobs)
    files = {f"src/f{i}.ts": f"export const v{i} = {i};\n" * 20 for i in range(10)}
    workspace.apply([{"path": p, "content": c} for p, c in files.items()] and _writes(files))
    first = workspace.snapshot()
    store.register_snapshot(first)
    blobs = stats(store)["blobs"]
    workspace.apply(_writes({"src/f0.ts": "changed\n"}))
    second = workspace.snapshot()
    store.register_snapshot(second)
    store.register_snapshot(second)
    assert stats(store)["blobs"] - blobs == 2  # the changed file and the new manifest
    assert stats(store)["snapshots"] == 2
    out = export_snapshot(store, first, tmp_path / "export")
    assert {p.relative_to(out).as_posix(): p.read_text() for p in out.rglob("*.ts")} == files
    archive = export_snapshot(store, second, tmp_path / "site.zip")
    with zipfile.ZipFile(archive) as z:
        assert z.read("src/f0.ts") == b"changed\n" and len(z.namelist()) == 10
    workspace.restore(first)
    assert (site / "src/f0.ts").read_text() == files["src/f0.ts"]


def _writes(files: dict[str, str]) -> list:
    from webgen.feedback.site.workspace import FileWrite

    return [FileWrite(path=p, content=c) for p, c in files.items()]


def test_judgment_cache(store: TrajectoryStore) -> None:
    assert store.get_judgment("vlm", "p" * 64, "i" * 64) is None
    store.put_judgment("vlm", "p" * 64, "i" * 64, {"score": 4})
    store.put_judgment("vlm", "p" * 64, "i" * 64, {"score": 1})  # first write wins; no error
    assert store.get_judgment("vlm", "p" * 64, "i" * 64) == {"score": 4}
    assert store.get_judgment("other", "p" * 64, "i" * 64) is None


def test_prune_frees_only_unshared_blobs(store: TrajectoryStore, tmp_path: Path) -> None:
    keep = store.start_run(task(store, 1), "agent")
    drop = store.start_run(task(store, 2), "agent")
    store.add_step(keep, StepRecord(index=0, prompt=history(0), observation=observation()))
    store.add_step(
        drop,
        StepRecord(
            index=0, prompt=history(0) + [{"role": "user", "content": "only in drop"}], observation=observation()
        ),
    )
    store.finish_run(drop, "failed", error="boom")
    dry = prune(store, status="failed", dry_run=True)
    assert (dry.runs, dry.steps, dry.blobs) == (1, 1, 1) and stats(store)["runs"] == {"running": 1, "failed": 1}
    report = prune(store, status="failed")
    assert (report.runs, report.steps, report.blobs) == (1, 1, 1)
    assert stats(store)["runs"] == {"running": 1}
    step = store.steps(keep)[0]
    assert store.messages(step.prompt_refs) == history(0)  # shared messages survive
    assert len(store.screenshots(step.id)) == 2  # shared screenshot blobs survive
    with pytest.raises(ValueError, match="choose"):
        prune(store)


def test_import_bench_and_reimport(store: TrajectoryStore) -> None:
    if not BENCH.is_file():  # shared/ sits beside the checkout (as in CI)
        message = f"WebGen-Bench data not found at {BENCH}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    report = import_tasks(store, BENCH)
    assert (report.source, report.lines, report.inserted, report.skipped) == ("webgen-bench", 101, 101, [])
    again = import_tasks(store, BENCH)
    assert (again.inserted, again.existing) == (0, 101)
    first = store.find_task("webgen-bench", "000001")
    assert first.application_type and first.ui_test_cases and first.category["primary_category"]


def test_import_bad_lines_reject_or_skip(store: TrajectoryStore, tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    good = json.dumps({"id": 1, "instruction": "A site"})
    path.write_text(
        "\n".join(
            [
                good,
                "{not json",
                json.dumps({"id": 3, "instruction": " "}),
                json.dumps({"id": 4, "instruction": "Another"}),
            ]
        )
        + "\n"
    )
    with pytest.raises(ImportRejected) as caught:
        import_tasks(store, path, source="mine")
    assert [p.line for p in caught.value.problems] == [2, 3] and "line 2" in str(caught.value)
    assert store.list_tasks(source="mine") == []  # nothing half-imported
    report = import_tasks(store, path, source="mine", on_error="skip")
    assert report.inserted == 2 and [p.line for p in report.skipped] == [2, 3]


def test_exports(store: TrajectoryStore, tmp_path: Path) -> None:
    run_id = store.start_run(task(store), "agent")
    store.add_step(
        run_id,
        StepRecord(
            index=0, prompt=history(0), completion="first", screenshot_score=2, has_error=True, snapshot_id=None
        ),
    )
    store.add_step(
        run_id,
        StepRecord(index=1, parent_index=0, prompt=history(1), completion="best", screenshot_score=4, gui_grade=5),
    )
    store.finish_run(run_id, "finished", best_step=1)
    assert export_runs(store, tmp_path / "runs.jsonl") == 1
    line = json.loads((tmp_path / "runs.jsonl").read_text())
    assert line["task"]["instruction"] == "Build site 1" and [s["completion"] for s in line["steps"]] == [
        "first",
        "best",
    ]
    sft = list(sft_rows(store, min_score=3))
    assert len(sft) == 1 and sft[0]["messages"][-1] == {"role": "assistant", "content": "best"}
    assert sft[0]["messages"][:-1] == history(1)
    assert list(sft_rows(store, min_score=5.5)) == []
    dataset = grpo_dataset(store)
    assert dataset.num_rows == 2 and dataset[1]["prompt"] == history(1) and dataset[1]["gui_grade"] == 5


def test_upgrade_from_an_older_schema_keeps_data(store_url: str) -> None:
    from sqlalchemy import text

    from webgen.storage.db import make_engine, upgrade

    engine = make_engine(store_url)
    upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO tasks (source, external_id, instruction, category, application_type, "
                "ui_test_cases, created_at) VALUES ('old', '1', 'kept', '{}', '', '[]', CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()
    with TrajectoryStore(store_url) as store:  # opening migrates to head
        assert db.current_revision(store.engine) == "0004"
        task = store.find_task("old", "1")
        run_id = store.start_run(task.id, "agent")
        store.add_step(run_id, StepRecord(index=0, completion="c", feedback="build ok"))
        assert store.steps(run_id)[0].feedback == "build ok"
