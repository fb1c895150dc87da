"""Run the real loop (real builds, Chromium, SQLite) with every model role scripted through the fake server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import EXAMPLES
from webgen.agent.actions import parse_response
from webgen.agent.fake_server import FakeLLMServer
from webgen.feedback.environment import SiteEnvironment
from webgen.graph.run import make_deps, run_agent
from webgen.graph.single_shot import run_single_shot
from webgen.settings import ModelEndpoint, Settings
from webgen.storage.store import TrajectoryStore
from webgen.storage.values import TaskIn

FAST_WAITS = {"click": 0.1, "type": 0.1, "scroll": 0.1, "wait": 0.1, "goback": 0.1}
BAKERY = (EXAMPLES / "bakery.md").read_text()
BROKEN = (
    '<boltArtifact id="s" title="s"><boltAction type="file" filePath="src/App.tsx">\n'
    "export default function App() {\n  return <main>oops</div>;\n}\n</boltAction></boltArtifact>"
)


def single_page(title: str) -> str:
    return (
        f'<boltArtifact id="s" title="s"><boltAction type="file" filePath="src/App.tsx">\n'
        f'export default function App() {{\n  return <main className="p-8"><h1>{title}</h1>'
        f"<p>A page with enough words to count as content.</p><button>Go</button></main>;\n}}\n"
        "</boltAction></boltArtifact>"
    )


def judge_rules(*scores: float, times_last: int = -1) -> list[dict[str, Any]]:
    """Judge replies in order (the last one repeats), plus the GUI-instruction and transcript-grading replies."""
    rules: list[dict[str, Any]] = [
        {
            "model": "judge",
            "match": "Write the instruction it will follow",
            "times": -1,
            "reply": "<test>Check the look, open every page and use the main buttons.</test>",
        },
        {
            "model": "judge",
            "match": "Read the agent's log",
            "times": -1,
            "reply": 'The flows work. {"test_passed": true, "improvement_suggestions": "", "grade": 5}',
        },
    ]
    for i, score in enumerate(scores):
        reply = {"has_error": False, "description": f"a tidy page ({score})", "suggestions": "", "score": score}
        rules.append(
            {
                "model": "judge",
                "match": "You are a front-end reviewer",
                "times": times_last if i == len(scores) - 1 else 1,
                "reply": {"content": reply},
            }
        )
    return rules


GUI_YES = {"model": "gui", "times": -1, "reply": "Thought: Everything I tried works.\nAction: ANSWER; YES"}


def loop_settings(base: Settings, home: Path, server: FakeLLMServer, **agent: Any) -> Settings:
    cfg = base.model_copy(deep=True)
    cfg.home = home
    cfg.database_url = f"sqlite:///{home / 'webgen.db'}"
    for role in ("coder", "judge", "gui"):
        setattr(cfg, role, ModelEndpoint(base_url=server.base_url, model=role, timeout_s=20, max_retries=1))
    cfg.agent.gui_waits = FAST_WAITS
    for key, value in agent.items():
        setattr(cfg.agent, key, value)
    return cfg


@pytest.fixture
def run_loop(env: SiteEnvironment, settings: Settings, tmp_path: Path) -> Iterator[Callable[..., tuple]]:
    """run_loop(rules, mode="agent", instruction=..., **agent_settings) -> (outcome, store, server)."""
    opened: list[Any] = []

    def run(
        rules: list[dict],
        mode: str = "agent",
        instruction: str = "A bakery site with a menu",
        database_url: str | None = None,
        **agent: Any,
    ):
        server = FakeLLMServer(rules).start()
        opened.append(server)
        cfg = loop_settings(settings, tmp_path / "home", server, **agent)
        cfg.database_url = database_url or cfg.database_url
        store = TrajectoryStore(cfg.resolved_database_url)
        opened.append(store)
        task = store.ensure_task(TaskIn(source="test", external_id=instruction[:40], instruction=instruction))
        run_id = store.start_run(task.id, mode, config=cfg.public())
        deps = make_deps(cfg, store, env, run_id)
        outcome = (run_agent if mode == "agent" else run_single_shot)(deps, task, run_id)
        return outcome, store, server

    yield run
    for item in reversed(opened):
        item.stop() if isinstance(item, FakeLLMServer) else item.close()


def site_text(site: Path) -> dict[str, str]:
    return {p.relative_to(site).as_posix(): p.read_text() for p in (site / "src").rglob("*.tsx")}


def files_of(response: str) -> dict[str, str]:
    return parse_response(response).final_files()
