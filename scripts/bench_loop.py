"""Benchmark the agent loop's harness overhead per step; prints one JSON object.

A real run (real builds, Chromium, SQLite store, LangGraph checkpoints) of N edit steps on the 3-page
example site, with every model scripted through the fake server, so model latency is only its HTTP
round trip. Each step's wall time runs from one `generate` to the next; the overhead is that minus
the time spent in model calls (the coder's completion and the judge's call).

With --model-latency S the scripted coder takes S seconds to answer, as a real model does (work the harness
does in the background, such as preparing the next browser context, then overlaps the wait, as in real runs);
that time is subtracted like any model time.

Usage: python scripts/bench_loop.py [--steps 12] [--model-latency 1.0]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from webgen.agent.fake_server import FakeLLMServer
from webgen.core.env import apply_offline_env
from webgen.core.settings import ModelEndpoint, Settings
from webgen.feedback.site.environment import SiteEnvironment
from webgen.graph.events import RunEvent
from webgen.graph.session import Session
from webgen.storage.store import TrajectoryStore
from webgen.storage.values import TaskIn

EXAMPLE = Path(__file__).resolve().parents[1] / "webgen" / "examples" / "bakery.md"


def coder_replies(steps: int, latency: float) -> list[dict]:
    """Whole-file edits of the example, a different hero title each step."""
    text = EXAMPLE.read_text()
    artifact = text[text.index("<boltArtifact") : text.index("</boltArtifact>") + len("</boltArtifact>")]
    return [
        {
            "model": "coder",
            "reply": {
                "content": artifact.replace("Bread worth waking up for", f"Fresh bread #{i}"),
                "delay_s": latency,
            },
        }
        for i in range(steps)
    ]


def stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_s": round(statistics.median(ordered), 3), "p95_s": round(p95, 3), "n": len(ordered)}


ROLES = ("coder", "judge", "gui")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--model-latency", type=float, default=1.0, help="seconds the scripted coder takes")
    args = parser.parse_args()
    apply_offline_env()
    judge = {
        "model": "judge",
        "times": -1,
        "reply": {"content": {"has_error": False, "description": "fine", "suggestions": "", "score": 4}},
    }
    events: list[tuple[float, RunEvent]] = []
    with (
        tempfile.TemporaryDirectory(prefix="webgen-bench-loop-") as tmp,
        FakeLLMServer([*coder_replies(args.steps, args.model_latency), judge]) as server,
    ):
        base = Settings()  # the scaffold cache lives under the usual home
        endpoints = {role: ModelEndpoint(base_url=server.base_url, model=role, max_retries=0) for role in ROLES}
        cfg = base.model_copy(
            update={
                "home": Path(tmp),
                "database_url": f"sqlite:///{tmp}/bench.db",
                "agent": base.agent.model_copy(update={"max_steps": args.steps}),
                **endpoints,
            }
        )
        with (
            TrajectoryStore(cfg.resolved_database_url) as store,
            SiteEnvironment(base) as env,
            Session(cfg, store=store, env=env, subscribers=[lambda e: events.append((time.monotonic(), e))]) as session,
        ):
            outcome = session.start(TaskIn(source="bench", external_id="1", instruction="A bakery site"))
            steps = store.steps(outcome.run_id)
    starts = [t for t, e in events if e.type == "step_started"] + [next(t for t, e in events if e.type == "finished")]
    walls = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    model = [s.latency.get("generate", 0.0) + s.latency.get("judge", 0.0) for s in steps]
    overhead = [w - m for w, m in zip(walls, model, strict=True)]
    warm = overhead[1:]  # the first step also starts the build worker's caches and the first browser context
    nodes = {
        k: round(statistics.median(s.latency.get(k, 0.0) for s in steps[1:]), 3)
        for k in ("generate", "apply", "execute", "judge")
    }
    split = {
        k: round(statistics.median(s.observation["timings"][k] for s in steps[1:]), 3) for k in ("build", "render")
    }
    result = {
        "steps": len(steps),
        "model_latency_s": args.model_latency,
        "status": outcome.status,
        "all_built": all(s.build_ok for s in steps),
        "harness_overhead_per_step": stats(warm),
        "first_step_overhead_s": round(overhead[0], 3),
        "step_wall": stats(walls[1:]),
        "node_medians_s": nodes,
        "execute_split_medians_s": split,
        "target": {"overhead_median_max_s": 1.5},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
