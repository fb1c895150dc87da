"""Reward throughput: seconds to score 16 completions with 1 evaluator worker (the baseline, same run) and with 4.

Each completion is a single-page site; each worker builds, renders and has it judged (the judge is scripted
through the fake server and answers after `--judge-latency` s, 0.5 s by default). Workers are started and
warmed with one job each before the clock starts, so the numbers are steady-state scoring, not start-up.
Target: 4 workers at least 2x faster than 1. Build and render are CPU work, so the speed-up is bounded by the
machine's free cores (printed as `cpu_cores` and `load_before`).

Usage: .venv/bin/python scripts/bench_reward.py [--completions 16] [--workers 4] [--judge-latency 0.5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from webgen.agent.fake_server import FakeLLMServer
from webgen.core.env import apply_offline_env
from webgen.core.settings import ModelEndpoint, Settings


def page(title: str) -> str:
    return (
        '<boltArtifact id="s" title="s"><boltAction type="file" filePath="src/App.tsx">\n'
        f'export default function App() {{\n  return <main className="p-8"><h1>{title}</h1>'
        "<p>A page with enough words to count as content.</p><button>Go</button></main>;\n}\n"
        "</boltAction></boltArtifact>"
    )


def score(settings: Settings, workers: int, completions: int) -> dict[str, Any]:
    from webgen.training import pool as pool_module

    jobs = [pool_module.EnvJob(instruction="A bakery site", reply=page(f"Bakery {i}")) for i in range(completions)]
    started = time.monotonic()
    with pool_module.EvaluatorPool(settings, workers=workers, timeout_s=300) as pool:
        pool.map([pool_module.EnvJob(instruction="A bakery site", reply=page(f"Warm {i}")) for i in range(workers)])
        ready = time.monotonic()
        results = pool.map(jobs)
        seconds = time.monotonic() - ready
    return {
        "workers": workers,
        "seconds": round(seconds, 2),
        "per_completion_s": round(seconds / completions, 3),
        "startup_and_warmup_s": round(ready - started, 2),
        "scored": sum(r.reward is not None and r.error is None for r in results),
        "errors": [r.error for r in results if r.error][:3],
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--completions", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--judge-latency", type=float, default=0.5)
    args = parser.parse_args(argv)
    apply_offline_env()
    verdict = {"has_error": False, "description": "a tidy page", "suggestions": "", "score": 4}
    rules = [{"model": "judge", "times": -1, "reply": {"content": verdict, "delay_s": args.judge_latency}}]
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="webgen-bench-reward-") as tmp, FakeLLMServer(rules) as server:
        endpoint = ModelEndpoint(base_url=server.base_url, model="judge", timeout_s=60)
        settings = Settings().updated(
            database_url=f"sqlite:///{Path(tmp) / 'bench.db'}", judge=endpoint.model_dump(), gui=endpoint.model_dump()
        )
        baseline = score(settings, 1, args.completions)
        pooled = score(settings, args.workers, args.completions)
    speedup = baseline["seconds"] / pooled["seconds"] if pooled["seconds"] else None
    report = {
        "benchmark": "reward throughput (evaluator pool)",
        "completions": args.completions,
        "judge_latency_s": args.judge_latency,
        "cpu_cores": os.cpu_count(),
        "load_before": round(load_before, 2),
        "baseline": baseline,
        "pooled": pooled,
        "speedup": round(speedup, 2) if speedup else None,
        "target_speedup": 2.0,
        "met": bool(speedup and speedup >= 2.0),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
