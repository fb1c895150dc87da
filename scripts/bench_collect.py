"""Collection throughput: steps per minute with 1 worker (the baseline, measured in the same run) and with N.

Every model is scripted through the fake server: the coder answers in `--coder-latency` s (1 s), the judge in
`--judge-latency` s (0.5 s). Each worker is a real session (build worker + Chromium). Prints one JSON object:
steps/min per pool size, the speed-up over 1 worker, and the peak memory (PSS of each worker's process tree).

Usage: .venv/bin/python scripts/bench_collect.py [--tasks 8] [--workers 4] [--max-steps 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from webgen.agent.fake_server import FakeLLMServer
from webgen.collect.pool import Collector
from webgen.core.env import apply_offline_env
from webgen.core.settings import ModelEndpoint, Settings
from webgen.storage import collections
from webgen.storage.store import TrajectoryStore
from webgen.storage.values import TaskIn

PAGE = (
    '<boltArtifact id="s" title="s"><boltAction type="file" filePath="src/App.tsx">\n'
    'export default function App() {\n  return <main className="p-8"><h1>Hello</h1>'
    "<p>A page with enough words to count as content.</p><button>Go</button></main>;\n}\n"
    "</boltAction></boltArtifact>"
)


def rules(coder_s: float, judge_s: float) -> list[dict]:
    verdict = {"has_error": False, "description": "a tidy page", "suggestions": "", "score": 4}
    return [
        {"model": "coder", "times": -1, "reply": {"content": PAGE, "delay_s": coder_s}},
        {
            "model": "judge",
            "times": -1,
            "match": "You are a front-end reviewer",
            "reply": {"content": verdict, "delay_s": judge_s},
        },
        {"model": "judge", "times": -1, "reply": {"content": "<test>Open every page.</test>", "delay_s": judge_s}},
    ]


def measure(base: Settings, url: str, home: Path, workers: int, tasks: int) -> dict:
    endpoints = {
        r: ModelEndpoint(base_url=url, model=r, timeout_s=30, max_retries=0) for r in ("coder", "judge", "gui")
    }
    cfg = base.model_copy(
        update={
            "database_url": f"sqlite:///{home / f'bench-{workers}.db'}",
            "checkpoint_url": f"sqlite:///{home / f'checkpoints-{workers}.sqlite'}",
            **endpoints,
        }
    )
    with TrajectoryStore(cfg.resolved_database_url) as store:
        ids = [
            store.ensure_task(TaskIn(source="bench", external_id=str(i), instruction=f"A one-page site {i}")).id
            for i in range(tasks)
        ]
        collections.plan(store, "bench", ids, 1, "agent")
        todo = collections.todo(store, "bench", ids, 1)
        stats = Collector(cfg, store, workers=workers, retries=0).run(todo)
    return {
        "workers": workers,
        "runs_finished": stats.done,
        "steps": stats.steps,
        "seconds": round(stats.elapsed, 1),
        "steps_per_minute": round(stats.steps_per_minute, 1),
        "steady_steps_per_minute": round(stats.steady_steps_per_minute, 1),  # first to last step: no start-up
        "peak_pss_mb_per_worker": [round(v) for v in stats.peak_pss_mb.values()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--max-steps", type=int, default=3)
    parser.add_argument("--coder-latency", type=float, default=1.0)
    parser.add_argument("--judge-latency", type=float, default=0.5)
    args = parser.parse_args(argv)
    apply_offline_env()
    base = Settings().updated(agent={"max_steps": args.max_steps}, site={"page_timeout_s": 5.0})
    with tempfile.TemporaryDirectory() as tmp, FakeLLMServer(rules(args.coder_latency, args.judge_latency)) as server:
        one = measure(base, server.base_url, Path(tmp), 1, args.tasks)
        many = measure(base, server.base_url, Path(tmp), args.workers, args.tasks)
    result = {
        "tasks": args.tasks,
        "max_steps": args.max_steps,
        "coder_latency_s": args.coder_latency,
        "judge_latency_s": args.judge_latency,
        "baseline_1_worker": one,
        f"pool_{args.workers}_workers": many,
        "speedup": round(many["steps_per_minute"] / one["steps_per_minute"], 2) if one["steps_per_minute"] else None,
        "steady_speedup": (
            round(many["steady_steps_per_minute"] / one["steady_steps_per_minute"], 2)
            if one["steady_steps_per_minute"]
            else None
        ),
    }
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
