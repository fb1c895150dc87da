"""A `webgen build` process killed mid-run resumes with no lost or duplicated step; single-shot rewards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.graph.conftest import BAKERY, BROKEN, FAST_WAITS, GUI_YES, files_of, judge_rules
from webgen.agent.fake_server import FakeLLMServer
from webgen.storage.store import TrajectoryStore

pytestmark = [pytest.mark.browser, pytest.mark.node]

RESUMABLE_SCRIPT = [  # replies depend on the conversation, not on the turn, so a replayed call gets the same answer
    {
        "model": "coder",
        "match": "Functional test by a GUI agent: YES",
        "times": -1,
        "reply": '<boltAction type="finish"/>',
    },
    {"model": "coder", "match": "Build: succeeded", "times": -1, "reply": '<boltAction type="screenshot_validated"/>'},
    {"model": "coder", "match": "Build: FAILED", "times": -1, "reply": BAKERY},
    {"model": "coder", "times": -1, "reply": BROKEN},
    *[
        rule | ({"reply": {**rule["reply"], "delay_s": 3}} if "front-end" in rule.get("match", "") else {})
        for rule in judge_rules(4)
    ],
    GUI_YES,
]


def _cli_env(server: FakeLLMServer, db_url: str) -> dict[str, str]:
    env = {**os.environ, "WEBGEN_DATABASE_URL": db_url, "WEBGEN_AGENT__GUI_WAITS": json.dumps(FAST_WAITS)}
    for role in ("coder", "judge", "gui"):
        env[f"WEBGEN_{role.upper()}__BASE_URL"] = server.base_url
        env[f"WEBGEN_{role.upper()}__MODEL"] = role
        env[f"WEBGEN_{role.upper()}__MAX_RETRIES"] = "0"
    return env


@pytest.mark.slow
def test_killed_build_resumes_without_lost_or_duplicated_steps(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'runs.db'}"
    with FakeLLMServer(RESUMABLE_SCRIPT) as server:
        env = _cli_env(server, db_url)
        cmd = [sys.executable, "-m", "webgen", "build", "A bakery site", "--out", str(tmp_path / "out")]
        first = subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 120
        with TrajectoryStore(db_url) as store:
            while time.monotonic() < deadline:  # kill while step 1 waits for its (slow) judge
                runs = store.list_runs()
                judging = any("front-end reviewer" in str(r.messages) for r in server.requests)
                if runs and store.steps(runs[0].id) and judging:
                    break
                time.sleep(0.2)
            else:
                pytest.fail("the run never reached the judge")
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
            run_id = runs[0].id
            assert [s.index for s in store.steps(run_id)] == [0]
            assert store.get_run(run_id).status == "running"
        resumed = subprocess.run(
            [sys.executable, "-m", "webgen", "build", "--resume", run_id, "--out", str(tmp_path / "out")],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    with TrajectoryStore(db_url) as store:
        steps = store.steps(run_id)
        assert [(s.index, s.kind) for s in steps] == [(0, "edit"), (1, "edit"), (2, "gui_request"), (3, "finish")]
        run = store.get_run(run_id)
        assert run.status == "finished" and run.best_step == 2
    assert (tmp_path / "out" / "site" / "src" / "pages" / "Menu.tsx").read_text() == files_of(BAKERY)[
        "src/pages/Menu.tsx"
    ]
    assert list((tmp_path / "out" / "screenshots").glob("*.png"))


def _answer(files: dict[str, str], think: str = "Plan: three pages.") -> str:
    actions = "\n".join(f'<webAction type="file" filePath="{p}">\n{c}</webAction>' for p, c in files.items())
    return f'<think>\n{think}\n</think>\n<answer>\n<webArtifact id="s" title="Bakery">\n{actions}\n</webArtifact>\n</answer>'


def test_single_shot_rewards_are_stored_with_their_breakdown(run_loop) -> None:
    good = _answer(files_of(BAKERY))
    static_fail = _answer({**files_of(BAKERY), "src/pages/About.tsx": "const About = () => <p>About</p>;\n"})
    build_fail = _answer({**files_of(BAKERY), "src/App.tsx": files_of(BROKEN)["src/App.tsx"]})
    results = {}
    for name, response in (("good", good), ("static", static_fail), ("build", build_fail)):
        outcome, store, _ = run_loop(
            [{"model": "coder", "reply": response}, *judge_rules(4)],
            mode="single-shot",
            instruction=f"A bakery ({name})",
        )
        step = store.steps(outcome.run_id)[0]
        results[name] = (step.reward, step.reward_breakdown)
    reward, breakdown = results["good"]
    assert breakdown["stage"] == "scored" and (breakdown["s_vis"], breakdown["s_func"], breakdown["s_cot"]) == (4, 1, 1)
    assert reward == pytest.approx(4.2)
    reward, breakdown = results["static"]
    assert (reward, breakdown["stage"]) == (0.0, "static")
    assert breakdown["static_problems"] == ["src/pages/About.tsx: no default export"]
    reward, breakdown = results["build"]
    assert (reward, breakdown["stage"]) == (0.0, "build") and breakdown["s_vis"] is None
