"""The rewards the GRPO trainers get from the evaluator pool (real builds, Chromium and store; the judge and GUI
agent scripted): the state grouping scores GUI requests and finishes; single-shot GRPO's static gate runs
before anything is built or judged."""

from __future__ import annotations

from typing import Any

import pytest

from tests.training.conftest import single_page
from webgen.storage.store import TrajectoryStore
from webgen.storage.values import TaskIn
from webgen.training.pool import EvaluatorPool
from webgen.training.rewards import PoolReward

pytestmark = [pytest.mark.browser, pytest.mark.node]
PROMPT = [{"role": "user", "content": "Build: A bakery site"}]
GUI, FINISH = '<boltAction type="screenshot_validated"/>', '<boltAction type="finish"/>'


class Metrics:
    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def __call__(self, name: str, value: float) -> None:
        self.values[name] = value


def _store(pool: EvaluatorPool) -> TrajectoryStore:
    return TrajectoryStore(pool.settings.resolved_database_url)


def _score(reward: PoolReward, completions: list[str], task: int, **columns: Any) -> list[float | None]:
    n = len(completions)
    return reward([PROMPT] * n, completions, instruction=["A bakery site"] * n, task_id=[task] * n, **columns)


def test_state_grouping_rewards_gui_requests_and_finishes(shared_pool: EvaluatorPool) -> None:
    with _store(shared_pool) as store:
        task = store.ensure_task(TaskIn(source="test", external_id="state-gui", instruction="A bakery site")).id
        reward = PoolReward(shared_pool, store, kind="step", training={"trainer": "test"})
        # the stored state: a site an earlier edit wrote (scored 4 by the scripted judge)
        assert _score(reward, [single_page("Bakery")], task, snapshot_id=[None]) == [4.0]
        snapshot = store.steps(reward.run_ids[-1])[0].snapshot_id
        assert snapshot
        metrics = Metrics()
        rewards = _score(
            reward, [GUI, FINISH], task, snapshot_id=[snapshot] * 2, state_score=[4.0, 4.0], log_metric=metrics
        )
        # the GUI test ran on the stored site (YES, graded 5); finishing there is worth the site's grade
        assert rewards == [5.0, 4.0]
        # the histogram of state-group sizes: both scored completions share the stored state
        assert metrics.values["state_groups/size_2"] == 1.0 and metrics.values["state_groups/shared_step_rate"] == 1.0
        steps = [store.steps(run)[0] for run in reward.run_ids[-2:]]
        assert [(s.kind, s.reward, s.gui_grade) for s in steps] == [("gui_request", 5.0, 5.0), ("finish", 4.0, None)]
        # a badly formatted marker is still -1
        assert _score(reward, [FINISH + " " + "x" * 500], task, snapshot_id=[snapshot], state_score=[4.0]) == [-1.0]


#: builds and renders fine, but a page component has no default export: WebGen-R1's static gate fails it
GATE_FAILS = """<boltArtifact id="s" title="s">
<boltAction type="file" filePath="src/pages/Card.tsx">export function Card() { return <p>Fresh bread</p>; }</boltAction>
<boltAction type="file" filePath="src/App.tsx">import { Card } from './pages/Card';
export default function App() { return <main className="p-8"><h1>Bakery</h1><Card /></main>; }</boltAction>
</boltArtifact>"""


@pytest.mark.slow
def test_single_shot_gate_comes_before_build_render_and_judge(shared_pool: EvaluatorPool) -> None:
    server = shared_pool.server
    with _store(shared_pool) as store:
        task = store.ensure_task(TaskIn(source="test", external_id="gate", instruction="A bakery site")).id
        reward = PoolReward(shared_pool, store, kind="cascaded", training={"trainer": "test"})
        judged_before = len([r for r in server.requests if r.model == "judge"])
        metrics = Metrics()
        rewards = reward([PROMPT], [GATE_FAILS], instruction=["A bakery site"], task_id=[task], log_metric=metrics)
        assert rewards == [0.0]  # ψ_static
        assert len([r for r in server.requests if r.model == "judge"]) == judged_before  # no judge call
        step = store.steps(reward.run_ids[-1])[0]
        assert step.reward_breakdown["stage"] == "static" and not step.observation and not step.rendered
        assert metrics.values["webgen/valid_render_rate"] == 0.0
        # the same site with a default export passes the gate and is built, rendered and judged
        fixed = GATE_FAILS.replace("export function Card", "export default function Card").replace(
            "import { Card }", "import Card"
        )
        assert _score(reward, [fixed], task, log_metric=metrics) == [pytest.approx(4.1)]
        assert metrics.values["webgen/valid_render_rate"] == 1.0
