"""Collection throughput: steps per minute with 1 worker (the baseline, measured in the same run) and with N.

Every model is scripted through the fake server: the coder answers in `--coder-latency` s (1 s), the judge in
`--judge-latency` s (0.5 s). Each worker is a real session (build worker + Chromium). Prints one JSON object:
steps/min per pool size, the speed-up over 1 worker, the peak memory (PSS of each worker's process tree, and of
all the pool's processes together), and where the time goes: the median seconds of each stage of a step (from
the stored steps) and the CPU seconds our processes used per step (sampled from /proc), which bounds what N
workers can do on this machine's cores.

Usage: .venv/bin/python scripts/bench_collect.py [--tasks 24] [--workers 4] [--max-steps 3] [--backend local|ray]

24 tasks (72 steps) by default: the pool's start-up (a fork server importing the worker's modules, then four
browsers and build workers on two cores: ~5 s) is then a sixth of the 4-worker run, not a third as with 8 tasks;
a real collection is hundreds of runs, where it is nothing. Both the total and the steady rates are printed.
Each pool size is measured in a process of its own, so each pays for starting its own fork server.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from webgen.agent.fake_server import FakeLLMServer
from webgen.collect import procs
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
TICK = os.sysconf("SC_CLK_TCK")


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


class CpuMeter:
    """CPU seconds used by the processes under `root` (ours, not the other users of the machine): the most
    seen of each process's user+system time, sampled every `every` s, summed."""

    def __init__(self, root: int, every: float = 0.25) -> None:
        self.root, self.every = root, every
        self.seen: dict[procs.Proc, float] = {}
        self.peak_pss_mb = 0.0  # all our processes together (workers, their browsers and builds, the fork server)
        self.timeline: list[tuple[float, float]] = []  # (time.monotonic(), CPU seconds so far)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        ticks = 0
        while not self._stop.wait(self.every):
            tree = procs.tree(self.root)[1:]  # not the coordinator's own process
            ticks += 1
            if ticks % 4 == 0:
                self.peak_pss_mb = max(self.peak_pss_mb, procs.pss_mb(tree))
            for proc in tree:
                try:
                    fields = Path(f"/proc/{proc[0]}/stat").read_text().rsplit(")", 1)[1].split()
                except (OSError, IndexError):
                    continue
                self.seen[proc] = max(self.seen.get(proc, 0.0), (int(fields[11]) + int(fields[12])) / TICK)
            self.timeline.append((time.monotonic(), self.seconds))

    def __enter__(self) -> CpuMeter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def seconds(self) -> float:
        return sum(self.seen.values())

    def at(self, moment: float) -> float:
        """CPU seconds used up to `moment` (the last sample before it)."""
        return max((total for t, total in self.timeline if t <= moment), default=0.0)


def stage_medians(store: TrajectoryStore) -> dict[str, float]:
    """The median seconds of each stage of a step, and of the loop's own time per run: its wall time (started
    to finished) less its steps' stages (setting the run up, checkpoints, recording, selecting the best step)."""
    stages: dict[str, list[float]] = {}
    for run in store.list_runs():
        staged = 0.0
        for step in store.steps(run.id):
            for stage, seconds in step.latency.items():
                if isinstance(seconds, int | float):
                    stages.setdefault(stage, []).append(float(seconds))
                    staged += float(seconds)
        if run.finished_at is not None:
            wall = (run.finished_at - run.started_at).total_seconds()
            stages.setdefault("run_overhead_outside_stages", []).append(wall - staged)
    return {stage: round(statistics.median(values), 2) for stage, values in sorted(stages.items())}


def measure(base: Settings, url: str, home: Path, workers: int, tasks: int, backend: str) -> dict:
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
    chosen = None
    if backend == "ray":
        from webgen.collect.ray_backend import RayBackend

        chosen = RayBackend(cfg, num_cpus=workers)
    with TrajectoryStore(cfg.resolved_database_url) as store:
        ids = [
            store.ensure_task(TaskIn(source="bench", external_id=str(i), instruction=f"A one-page site {i}")).id
            for i in range(tasks)
        ]
        collections.plan(store, "bench", ids, 1, "agent")
        todo = collections.todo(store, "bench", ids, 1)
        with CpuMeter(os.getpid()) as cpu:
            stats = Collector(cfg, store, workers=workers, retries=0, backend=chosen).run(todo)
        stages = stage_medians(store)
    return {
        "workers": workers,
        "runs_finished": stats.done,
        "steps": stats.steps,
        "seconds": round(stats.elapsed, 1),
        "steps_per_minute": round(stats.steps_per_minute, 1),
        "steady_steps_per_minute": round(stats.steady_steps_per_minute, 1),  # first to last step: no start-up
        "peak_pss_mb_per_worker": [round(v) for v in stats.peak_pss_mb.values()],
        "peak_pss_mb_all": round(cpu.peak_pss_mb),  # every process of the pool (the fork server's share too)
        "stage_median_s": stages,
        "cpu_s_total": round(cpu.seconds, 1),
        "cpu_s_before_first_step": round(cpu.at(stats.first_step or 0.0), 1),  # the workers' start-up, mostly
        # from the first recorded step to the last: what a step costs once the workers are up
        "cpu_s_per_steady_step": (
            round((cpu.at(stats.last_step) - cpu.at(stats.first_step)) / (stats.steps - 1), 2)
            if stats.first_step and stats.last_step and stats.steps > 1
            else None
        ),
    }


def _measure_apart(args: argparse.Namespace, url: str, home: Path, workers: int) -> dict:
    """`measure` in a process of its own, so each pool size starts its own fork server (imports included)."""
    command = [sys.executable, __file__, "--measure", str(workers), "--url", url, "--home", str(home)]
    command += ["--tasks", str(args.tasks), "--max-steps", str(args.max_steps), "--backend", args.backend]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the {workers}-worker measurement failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=24)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--max-steps", type=int, default=3)
    parser.add_argument("--coder-latency", type=float, default=1.0)
    parser.add_argument("--judge-latency", type=float, default=0.5)
    parser.add_argument("--backend", choices=("local", "ray"), default="local")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)  # internal: one pool size, in this process
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    apply_offline_env()
    base = Settings().updated(agent={"max_steps": args.max_steps}, site={"page_timeout_s": 5.0})
    if args.measure is not None:
        result = measure(base, args.url, args.home, args.measure, args.tasks, args.backend)
        sys.stdout.write(json.dumps(result) + "\n")
        return 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, FakeLLMServer(rules(args.coder_latency, args.judge_latency)) as server:
        one = _measure_apart(args, server.base_url, Path(tmp), 1)
        many = _measure_apart(args, server.base_url, Path(tmp), args.workers)
    cores = len(os.sched_getaffinity(0))
    per_step = 60 / one["steady_steps_per_minute"] if one["steady_steps_per_minute"] else None
    cpu = many["cpu_s_per_steady_step"]
    result = {
        "backend": args.backend,
        "tasks": args.tasks,
        "max_steps": args.max_steps,
        "coder_latency_s": args.coder_latency,
        "judge_latency_s": args.judge_latency,
        "cores": cores,
        "load_average_1min": round(os.getloadavg()[0], 1),  # other users of the machine make every number worse
        "baseline_1_worker": one,
        f"pool_{args.workers}_workers": many,
        "speedup": round(many["steps_per_minute"] / one["steps_per_minute"], 2) if one["steps_per_minute"] else None,
        "steady_speedup": (
            round(many["steady_steps_per_minute"] / one["steady_steps_per_minute"], 2)
            if one["steady_steps_per_minute"]
            else None
        ),
        # the most N workers can give once started, with every core doing nothing but our steps: the wall time
        # of a step with one worker over the CPU seconds a step costs spread on the cores (capped at N)
        "cpu_bound_speedup_limit": (
            round(min(args.workers, per_step / (cpu / cores)), 2) if per_step and cpu else None
        ),
        "bench_seconds": round(time.monotonic() - started),
    }
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
