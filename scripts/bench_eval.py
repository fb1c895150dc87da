"""Eval throughput: test cases and sites per minute of `webgen eval` with 1 GUI worker (the baseline, measured in the
same run) and with N, in each start mode (`--start build`: our build; `--start dev`: the site's own npm install and
dev server).

A few small React + Vite sites (pinned to the scaffold's installed versions, so a dev-mode `npm install` resolves
from the shared npm cache under the default `--network loopback`), each with the same number of test cases. Only
the models are scripted, through the fake server, each answer after `--gui-latency` s: the GUI agent clicks the
page's button, then answers YES (two model calls and one action per case); the appearance judge grades each site.
Everything else is real: the eval engine, its worker processes with a Chromium per case, the build or the dev
server, the renderer, SQLite. The GUI protocol is the published one (5 s settle after opening a site, 3 s after a
click) unless `--settle` is given.

Prints one JSON object: per start mode and pool size, the seconds of the whole eval (site environment start-up
included), cases and sites per minute, the steady rate (first case done to last), the seconds until the first site
was ready, the mean seconds between sites being ready (a site's preparation: lay out, install or build, serve,
render, judge), the mean seconds of one case, and the verdicts (all YES unless something failed).

Usage: .venv/bin/python scripts/bench_eval.py [--sites 3] [--cases 3] [--workers 2] [--gui-latency 1.0]
       [--modes build,dev] [--network loopback|open] [--settle 5]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from webgen.agent.fake_server import FakeLLMServer
from webgen.core.env import apply_offline_env
from webgen.core.settings import ModelEndpoint, Settings

PRESS = "I press the page's button first."
APPEARANCE = "You are reviewing how a generated website looks"
PACKAGES = ("react", "react-dom", "vite", "@vitejs/plugin-react")


def scaffold_versions(settings: Settings) -> dict[str, str]:
    """The versions of PACKAGES in the installed scaffold (so the npm cache holds them)."""
    from webgen.feedback.site.scaffold import get_scaffold

    modules = get_scaffold(settings.scaffold, settings.home).node_modules
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = json.loads((modules / name / "package.json").read_text())["version"]
        except (OSError, KeyError, ValueError) as exc:
            hint = "run `webgen scaffold install`"
            raise SystemExit(f"no {name} in the scaffold's node_modules ({modules}): {hint}") from exc
    return versions


def site_files(index: int, versions: dict[str, str]) -> dict[str, str]:
    """A minimal React + Vite project whose page shows one button."""
    package = {
        "name": f"bench-site-{index}",
        "private": True,
        "type": "module",
        "scripts": {"dev": "vite", "build": "vite build"},
        "dependencies": {"react": versions["react"], "react-dom": versions["react-dom"]},
        "devDependencies": {"vite": versions["vite"], "@vitejs/plugin-react": versions["@vitejs/plugin-react"]},
    }
    app = (
        "import { useState } from 'react'\n\nexport default function App() {\n  const [count, setCount] = useState(0)\n"
        f"  return (\n    <main>\n      <h1>Shop {index}</h1>\n      <p>Items in the basket: {{count}}</p>\n"
        "      <button onClick={() => setCount(count + 1)}>Add to basket</button>\n    </main>\n  )\n}\n"
    )
    return {
        "package.json": json.dumps(package, indent=2),
        "vite.config.ts": "import { defineConfig } from 'vite'\nimport react from '@vitejs/plugin-react'\n\n"
        "export default defineConfig({ plugins: [react()] })\n",
        "index.html": '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>\n'
        '<body><div id="root"></div><script type="module" src="/src/main.tsx"></script></body></html>\n',
        "src/main.tsx": "import { createRoot } from 'react-dom/client'\nimport App from './App'\n\n"
        "createRoot(document.getElementById('root')!).render(<App />)\n",
        "src/App.tsx": app,
    }


def task_line(index: int, cases: int) -> str:
    """One task in WebGen-Bench's format, with `cases` ui_instruct test cases."""
    kinds = ("Functional Testing", "Data Display Testing", "Design Validation Testing")
    instruct = [
        {
            "task": f"Press 'Add to basket' once (check {k + 1} of shop {index}).",
            "expected_result": "The basket count goes up by one.",
            "task_category": {"primary_category": kinds[k % len(kinds)]},
        }
        for k in range(cases)
    ]
    record = {
        "id": f"{index + 1:06d}",
        "instruction": f"Please implement a small shop website number {index} with a basket.",
        "Category": {"primary_category": "User Interaction"},
        "application_type": "Shop",
        "ui_instruct": instruct,
    }
    return json.dumps(record) + "\n"


def rules(latency: float) -> list[dict[str, Any]]:
    answer = "Thought: The basket count went up by one.\nAction: ANSWER; YES"
    press = f"Thought: {PRESS}\nAction: Click [0]"
    grade = "Analysis: A plain but tidy page.\nGrade: 3"
    return [
        {"model": "gui", "match": PRESS, "times": -1, "reply": {"content": answer, "delay_s": latency}},
        {"model": "gui", "times": -1, "reply": {"content": press, "delay_s": latency}},
        {"model": "judge", "match": APPEARANCE, "times": -1, "reply": {"content": grade, "delay_s": latency}},
    ]


def measure(base: Settings, home: Path, sites: Path, tasks_file: Path, start: str, workers: int, args: Any) -> dict:
    """One eval of every site with `workers` GUI workers, in a fresh store; its rates and what it found."""
    from webgen.benchmark.prepare import StartOptions
    from webgen.benchmark.run import EvalRequest, Evaluation
    from webgen.benchmark.sites import folder_sources
    from webgen.benchmark.tasks import tasks_from_file
    from webgen.feedback.gui.protocol import GUIProtocol
    from webgen.storage import evals
    from webgen.storage.store import TrajectoryStore

    cfg = base.updated(database_url=f"sqlite:///{home / f'eval-{start}-{workers}.db'}")
    ready: list[float] = []
    finished: list[float] = []

    def update(stats: Any) -> None:
        now = time.monotonic()
        ready.extend([now] * (stats.sites - len(ready)))
        finished.extend([now] * (stats.done - len(finished)))

    with TrajectoryStore(cfg.resolved_database_url) as store:
        tasks = tasks_from_file(store, tasks_file)
        request = EvalRequest(
            name=f"bench-{start}-{workers}",
            kind="sites",
            source=str(sites),
            tasks=tasks,
            sites=folder_sources(sites, [t.external_id for t in tasks]),
            workers=workers,
            protocol=GUIProtocol(settle_s=args.settle, network=args.network),
            start=StartOptions(start=start, network=args.network),
        )
        began = time.monotonic()
        stats = Evaluation(cfg, store, request, on_update=update).run()
        seconds = time.monotonic() - began
        info = evals.get_eval(store, request.name)
        cases = evals.cases(store, info.id) if info else []
        site_rows = evals.sites(store, info.id) if info else []
    gaps = [b - a for a, b in zip(ready, ready[1:], strict=False)]
    steady = (len(finished) - 1) / (finished[-1] - finished[0]) * 60 if len(finished) > 2 else None
    return {
        "start": start,
        "workers": workers,
        "sites": len(request.sites),
        "cases": stats.done,
        "seconds": round(seconds, 1),
        "cases_per_minute": round(stats.done / seconds * 60, 2),
        "sites_per_minute": round(len(site_rows) / seconds * 60, 2),
        "steady_cases_per_minute": round(steady, 2) if steady else None,
        "first_site_ready_s": round(ready[0] - began, 1) if ready else None,
        "site_ready_interval_mean_s": round(statistics.mean(gaps), 1) if gaps else None,
        "case_mean_s": round(statistics.mean(c.seconds for c in cases), 2) if cases else None,
        "verdicts": dict(Counter(c.verdict for c in cases)),
        "started_sites": sum(s.started for s in site_rows),
        "errors": sorted(
            {(c.error or "")[:160] for c in cases if c.error} | {s.error[:160] for s in site_rows if s.error}
        )[:3],
        "stopped": stats.stopped,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=3)
    parser.add_argument("--cases", type=int, default=3, help="test cases per site")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--gui-latency", type=float, default=1.0, help="seconds per scripted model answer")
    parser.add_argument("--modes", default="build,dev")
    parser.add_argument("--network", choices=("loopback", "open"), default="loopback")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after opening a site (published: 5)")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or set(modes) - {"build", "dev"}:
        raise SystemExit(f"--modes is a comma-separated list of build and dev, not {args.modes!r}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    apply_offline_env()
    base = Settings().updated(site={"page_timeout_s": 10.0})
    versions = scaffold_versions(base)
    load_before = os.getloadavg()[0]
    began = time.monotonic()
    runs: dict[str, dict[str, Any]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="webgen-bench-eval-") as tmp,
        FakeLLMServer(rules(args.gui_latency)) as fake,
    ):
        root = Path(tmp)
        tasks_file = root / "tasks.jsonl"
        tasks_file.write_text("".join(task_line(i, args.cases) for i in range(args.sites)))
        for i in range(args.sites):
            for rel, text in site_files(i, versions).items():
                (root / "sites" / f"{i + 1:06d}" / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / "sites" / f"{i + 1:06d}" / rel).write_text(text)
        endpoints = {
            role: ModelEndpoint(base_url=fake.base_url, model=role, timeout_s=60, max_retries=0).model_dump()
            for role in ("gui", "judge")
        }
        settings = base.updated(**endpoints)
        for start in modes:
            for workers in dict.fromkeys((1, args.workers)):
                runs[f"{start}_{workers}_workers"] = measure(
                    settings, root, root / "sites", tasks_file, start, workers, args
                )
    speedups = {}
    for start in modes:
        one, many = runs.get(f"{start}_1_workers"), runs.get(f"{start}_{args.workers}_workers")
        if one and many and one["cases_per_minute"] and many is not one:
            speedups[start] = round(many["cases_per_minute"] / one["cases_per_minute"], 2)
    report = {
        "benchmark": "eval throughput (webgen eval, GUI worker pool)",
        "sites": args.sites,
        "cases_per_site": args.cases,
        "gui_latency_s": args.gui_latency,
        "settle_s": args.settle,
        "network": args.network,
        "cores": len(os.sched_getaffinity(0)),
        "load_average_1min_before": round(load_before, 1),  # other users of the machine make every number worse
        "load_average_1min_after": round(os.getloadavg()[0], 1),
        "versions": versions,
        "runs": runs,
        f"speedup_{args.workers}_workers": speedups,
        "bench_seconds": round(time.monotonic() - began),
    }
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
