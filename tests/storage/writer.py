"""A step writer for the crash and concurrency tests: run as a separate process.

usage: writer.py URL RUN_ID START STOP DELAY_S SITE_DIR
Writes steps START..STOP-1 (each: a file edit, a workspace snapshot, the step row), printing each index.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from webgen.feedback.site.workspace import FileWrite, Workspace
from webgen.storage.store import TrajectoryStore
from webgen.storage.values import StepRecord


def history(n: int) -> list[dict]:
    messages = [{"role": "system", "content": "You build websites."}, {"role": "user", "content": "Make a bakery"}]
    for i in range(n):
        messages += [{"role": "assistant", "content": f"step {i}"}, {"role": "user", "content": f"feedback {i}"}]
    return messages


def main() -> None:
    url, run_id, start, stop, delay, site = (
        sys.argv[1],
        sys.argv[2],
        int(sys.argv[3]),
        int(sys.argv[4]),
        float(sys.argv[5]),
        Path(sys.argv[6]),
    )
    site.mkdir(parents=True, exist_ok=True)
    with TrajectoryStore(url, migrate=False) as store:
        workspace = Workspace(site, store.blobs)
        shared = [FileWrite(path=f"src/shared{i}.ts", content=f"export const s{i} = {i};\n") for i in range(5)]
        for index in range(start, stop):
            workspace.apply([*shared, FileWrite(path="src/App.tsx", content=f"// step {index}\n")])
            snapshot = workspace.snapshot()
            store.register_snapshot(snapshot)
            store.add_step(
                run_id,
                StepRecord(
                    index=index,
                    parent_index=index - 1 if index else None,
                    prompt=history(index),
                    completion=f"step {index}",
                    snapshot_id=snapshot,
                    tokens_prompt=1,
                ),
            )
            print(index, flush=True)
            time.sleep(delay)


if __name__ == "__main__":
    main()
