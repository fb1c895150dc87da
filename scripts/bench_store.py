"""Benchmark the trajectory store; prints one JSON object.

writes/reads:   steps written and read per second (each step: prompt messages by reference, an observation,
                a workspace snapshot of a 30-file site with 2 files changed)
storage:        bytes stored per step for a 20-step run of a 30-file site, against storing full copies
                of every file at every step (the published agent's way); target <= 10%
export:         time to export 10,000 steps as Step-GRPO rows and as runs JSONL

Usage: python scripts/bench_store.py [--url sqlite:///...] [--export-steps 10000]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from webgen.core.types import BuildResult, Observation, PageVisit
from webgen.feedback.site.workspace import FileWrite, Workspace
from webgen.storage.io import export_runs, grpo_rows
from webgen.storage.maintenance import stats
from webgen.storage.models import BlobRow, SnapshotRow
from webgen.storage.store import TrajectoryStore
from webgen.storage.values import StepRecord, TaskIn

SYSTEM = "You are a senior front-end engineer. Write whole files. " * 40


def site_files(rng: random.Random) -> dict[str, str]:
    """30 files of realistic size (1-4 KB of TSX-like text)."""
    words = ["const", "return", '<div className="p-4">', "useState", "props", "export", "=>", "map", "{item}"]
    return {
        f"src/{'pages' if i < 8 else 'components'}/File{i}.tsx": " ".join(rng.choices(words, k=rng.randint(150, 600)))
        for i in range(30)
    }


def stored_bytes(store: TrajectoryStore) -> int:
    with store.engine.connect() as conn:
        blobs = conn.scalar(select(func.coalesce(func.sum(func.length(BlobRow.data)), 0)))
        snapshots = conn.scalar(select(func.count()).select_from(SnapshotRow))
    return int(blobs) + 64 * int(snapshots)


def run_steps(store: TrajectoryStore, work: Path, run_id: str, steps: int, rng: random.Random) -> tuple[float, int]:
    """Write `steps` steps; return (seconds, bytes a full copy per step would take)."""
    files = site_files(rng)
    workspace = Workspace(work / run_id, store.blobs)
    workspace.apply([FileWrite(path=p, content=c) for p, c in files.items()])
    history = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Build a bakery site"}]
    full_copy_bytes = 0
    started = time.monotonic()
    for index in range(steps):
        changed = rng.sample(sorted(files), 2)
        for path in changed:
            files[path] = files[path] + f"\n// edit {index}\n"
        completion = "".join(f'<boltAction type="file" filePath="{p}">{files[p]}</boltAction>' for p in changed)
        base = workspace.snapshot() if index else None
        workspace.apply([FileWrite(path=p, content=files[p]) for p in changed])
        snapshot = workspace.snapshot()
        store.register_snapshot(snapshot)
        page = PageVisit(route="/", url="http://127.0.0.1:1/", ok=True, text_length=500)
        obs = Observation(build=BuildResult(ok=True, seconds=0.2), served=True, pages=[page])
        store.add_step(
            run_id,
            StepRecord(
                index=index,
                prompt=list(history),
                completion=completion,
                base_snapshot_id=base,
                snapshot_id=snapshot,
                observation=obs,
                screenshot_score=3.0,
                tokens_prompt=1000,
                tokens_completion=500,
            ),
        )
        history += [{"role": "assistant", "content": completion}, {"role": "user", "content": f"feedback {index}"}]
        full_copy_bytes += sum(len(c.encode()) for c in files.values())
    return time.monotonic() - started, full_copy_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=None, help="SQLAlchemy URL (default: a temporary SQLite file)")
    parser.add_argument("--export-steps", type=int, default=10_000)
    args = parser.parse_args()
    rng = random.Random(0)
    with tempfile.TemporaryDirectory(prefix="webgen-bench-store-") as tmp:
        work = Path(tmp)
        url = args.url or f"sqlite:///{work / 'bench.db'}"
        result: dict = {"url": url.split("@")[-1]}
        with TrajectoryStore(url) as store:
            task = store.ensure_task(TaskIn(source="bench", external_id="1", instruction="Build a bakery site"))

            # storage per step: one 20-step run of a 30-file site
            run_id = store.start_run(task.id, "agent")
            before = stored_bytes(store)
            seconds, full_copy = run_steps(store, work, run_id, 20, rng)
            grown = stored_bytes(store) - before
            result["storage_20_step_run"] = {
                "bytes_per_step": grown // 20,
                "full_copy_bytes_per_step": full_copy // 20,
                "ratio": round(grown / full_copy, 4),
                "target_ratio_max": 0.10,
            }

            # write throughput, then read throughput, then the rest of the export corpus
            total = 20
            runs = [run_id]
            started = time.monotonic()
            while total < args.export_steps:
                run = store.start_run(task.id, "agent")
                run_steps(store, work, run, 20, rng)
                runs.append(run)
                total += 20
            write_s = time.monotonic() - started
            result["write_steps_per_s"] = round((total - 20) / write_s, 1)
            started = time.monotonic()
            read = sum(len(store.steps(r)) for r in runs)
            result["read_steps_per_s"] = round(read / (time.monotonic() - started), 1)

            started = time.monotonic()
            rows = sum(1 for _ in grpo_rows(store))
            result["export_grpo_rows"] = {"steps": rows, "seconds": round(time.monotonic() - started, 2)}
            started = time.monotonic()
            exported = export_runs(store, work / "runs.jsonl")
            result["export_runs_jsonl"] = {
                "runs": exported,
                "steps": total,
                "seconds": round(time.monotonic() - started, 2),
                "mb": round((work / "runs.jsonl").stat().st_size / 1e6, 1),
            }
            result["db"] = {k: v for k, v in stats(store).items() if k != "url"}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
