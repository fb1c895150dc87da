"""Run the real loop (real builds, Chromium, SQLite) with every model role scripted through the fake server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import EXAMPLES
from webgen.agent.actions import parse_response
from webgen.agent.fake_server import FakeLLMServer
from webgen.core.settings import ModelEndpoint, Settings
from webgen.feedback.site.environment import SiteEnvironment
from webgen.graph.session import Session
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
    endpoints = {
        role: ModelEndpoint(base_url=server.base_url, model=role, timeout_s=20, max_retries=1)
        for role in ("coder", "judge", "gui")
    }
    return base.model_copy(
        update={
            "home": home,
            "database_url": f"sqlite:///{home / 'webgen.db'}",
            "agent": base.agent.model_copy(update={"gui_waits": FAST_WAITS, **agent}),
            **endpoints,
        }
    )


@pytest.fixture
def run_loop(env: SiteEnvironment, settings: Settings, tmp_path: Path) -> Iterator[Callable[..., tuple]]:
    """run_loop(rules, mode="agent", instruction=..., **agent_settings) -> (outcome, store, server), through the
    session API; `run_loop.session` is the last session (for continue_from, resume and cancel)."""
    opened: list[Any] = []

    def run(
        rules: list[dict],
        mode: str = "agent",
        instruction: str = "A bakery site with a menu",
        database_url: str | None = None,
        run_id: str | None = None,
        **agent: Any,
    ):
        server = FakeLLMServer(rules).start()
        opened.append(server)
        cfg = loop_settings(settings, tmp_path / "home", server, **agent)
        if database_url:
            cfg = cfg.model_copy(update={"database_url": database_url})
        store = TrajectoryStore(cfg.resolved_database_url)
        opened.append(store)
        session = Session(cfg, store=store, env=env, subscribers=run.events_to)
        opened.append(session)
        run.session = session
        task = TaskIn(source="test", external_id=instruction[:40], instruction=instruction)
        outcome = session.start(task, mode=mode, run_id=run_id)
        return outcome, store, server

    run.events_to = []
    yield run
    for item in reversed(opened):
        item.stop() if isinstance(item, FakeLLMServer) else item.close()


def site_text(site: Path) -> dict[str, str]:
    return {p.relative_to(site).as_posix(): p.read_text() for p in (site / "src").rglob("*.tsx")}


def files_of(response: str) -> dict[str, str]:
    return parse_response(response).final_files()
