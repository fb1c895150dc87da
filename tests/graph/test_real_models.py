"""What real models and endpoints send, end to end through `webgen build`: prose, a refusal, a half artifact,
a loop, a 5 MB reply, broken JSON, bad bytes, a flapping endpoint and a dead judge.

Every case runs the real CLI in a subprocess (real builds, Chromium, SQLite) against the fake model server,
and must end with the run `finished` or `failed` (never `running`), the right exit code, and no traceback.
"""

from __future__ import annotations

import base64
import json
import os
import random
import socket
import string
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.graph.conftest import FAST_WAITS, judge_rules, single_page
from webgen.agent.fake_server import FakeLLMServer
from webgen.storage.store import TrajectoryStore

pytestmark = [pytest.mark.browser, pytest.mark.node]

FINISH = '<boltAction type="finish"/>'
PROSE = "Sure! Here is my plan: first a hero section, then a menu page, then a contact form. Shall I start?"
REFUSAL = "I'm sorry, but I can't help with that request."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def coder(*replies: Any, last_times: int = 1) -> list[dict[str, Any]]:
    rules = [{"model": "coder", "reply": r} for r in replies]
    rules[-1]["times"] = last_times
    return rules


class Build:
    """`webgen build` in a subprocess against one fake server, with its own database and checkpoints."""

    def __init__(self, tmp: Path, server: FakeLLMServer, **env: str) -> None:
        self.tmp, self.db = tmp, f"sqlite:///{tmp / 'runs.db'}"
        self.env = {
            **os.environ,
            "WEBGEN_DATABASE_URL": self.db,
            "WEBGEN_CHECKPOINT_URL": f"sqlite:///{tmp / 'checkpoints.sqlite'}",
            "WEBGEN_AGENT__GUI_WAITS": json.dumps(FAST_WAITS),
        }
        for role in ("coder", "judge", "gui"):
            self.env |= {
                f"WEBGEN_{role.upper()}__BASE_URL": server.base_url,
                f"WEBGEN_{role.upper()}__MODEL": role,
                f"WEBGEN_{role.upper()}__MAX_RETRIES": "0",
            }
        self.env |= env

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "webgen", "build", *args]
        if "--resume" not in args:
            cmd += ["--out", str(self.tmp / "out")]
        done = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=300)
        output = done.stdout + done.stderr
        assert "Traceback" not in output, output
        assert done.returncode in (0, 1), output
        return done

    def only_run(self):
        with TrajectoryStore(self.db) as store:
            [run] = store.list_runs()
            return run, store.steps(run.id)


def ended(build: Build, done: subprocess.CompletedProcess[str], status: str):
    run, steps = build.only_run()
    assert run.status == status, done.stdout + done.stderr
    assert done.returncode == (0 if status == "finished" else 1)
    return run, steps


def coder_prompts(server: FakeLLMServer) -> list[str]:
    return [r.messages[-1]["content"] for r in server.requests if r.model == "coder" and r.messages]


@pytest.mark.slow
def test_prose_is_an_invalid_step_and_the_feedback_teaches_the_format(tmp_path: Path) -> None:
    with FakeLLMServer(coder(PROSE, last_times=-1)) as server:
        build = Build(tmp_path, server)
        done = build("A bakery site", "--max-steps", "3")
        _, steps = ended(build, done, "finished")
    assert [(s.kind, s.has_error) for s in steps] == [("invalid", True)] * 3
    assert "no usable file actions" in done.stdout
    second = coder_prompts(server)[1]
    assert "Your reply could not be used" in second and '<boltAction type="file" filePath=' in second


@pytest.mark.slow
def test_a_refusal_then_a_site_goes_on_to_the_site(tmp_path: Path) -> None:
    with FakeLLMServer([*coder(REFUSAL, single_page("Bakery"), FINISH), *judge_rules(4)]) as server:
        build = Build(tmp_path, server)
        run, steps = ended(build, build("A bakery site"), "finished")
    assert [s.kind for s in steps] == ["invalid", "edit", "finish"]
    assert run.best_step == 1 and steps[1].screenshot_score == 4
    assert "Bakery" in (tmp_path / "out" / "site" / "src" / "App.tsx").read_text()


@pytest.mark.slow
def test_half_artifact_and_a_loop_are_invalid_steps(tmp_path: Path) -> None:
    half = '<boltArtifact id="s" title="s"><boltAction type="file" filePath="src/App.tsx">\nexport default func'
    loop = '<boltArtifact id="s" title="s">\n' + "<li>Fresh bread</li>\n" * 4000
    with FakeLLMServer([*coder(half, loop, single_page("Fixed"), FINISH), *judge_rules(4)]) as server:
        build = Build(tmp_path, server)
        run, steps = ended(build, build("A bakery site"), "finished")
    assert [s.kind for s in steps] == ["invalid", "invalid", "edit", "finish"]
    assert steps[0].actions["truncated"] == ["src/App.tsx"] and "was not written" in steps[0].feedback
    assert steps[1].actions["repetitive"] and "repeats the same text" in steps[1].feedback
    assert run.best_step == 2


@pytest.mark.slow
def test_a_5mb_reply_is_stored_once_and_checkpoints_stay_small(tmp_path: Path) -> None:
    words = random.Random(7)
    thinking = " ".join("".join(words.choices(string.ascii_lowercase, k=7)) for _ in range(640_000))
    big = f"<think>{thinking}</think>\n" + single_page("Big thoughts")
    assert len(big) > 5_000_000
    with FakeLLMServer([*coder(big, FINISH), *judge_rules(4)]) as server:
        build = Build(tmp_path, server)
        run, steps = ended(build, build("A bakery site"), "finished")
    assert steps[0].kind == "edit" and len(steps[0].completion) == len(big)
    assert "actions" not in steps[0].actions or "content" not in json.dumps(steps[0].actions)
    checkpoints = sum(p.stat().st_size for p in tmp_path.glob("checkpoints.sqlite*"))
    print(f"checkpoints: {checkpoints} bytes for {len(steps)} steps and a {len(big)} character reply")
    assert checkpoints < len(big) / 20, f"checkpoints {checkpoints} bytes for a {len(big)} character reply"


@pytest.mark.slow
def test_broken_json_fails_the_run_fast_and_resume_finishes_it(tmp_path: Path) -> None:
    with FakeLLMServer(coder({"content": single_page("x"), "truncate": 120}, last_times=-1)) as server:
        build = Build(tmp_path, server)
        done = build("A bakery site")
        run, steps = ended(build, done, "failed")
        assert len(steps) == 3 and all(s.kind == "invalid" and s.errors for s in steps)
        assert server.base_url in run.error and "coder" in run.error
        assert "--resume" in done.stdout
        server.reset([*coder(single_page("Back again"), FINISH), *judge_rules(4)])
        resumed = build("--resume", run.id)
        run, steps = ended(build, resumed, "finished")
    assert [s.kind for s in steps] == ["invalid"] * 3 + ["edit", "finish"]
    assert run.best_step == 3 and run.error is None


@pytest.mark.slow
def test_bad_bytes_and_a_lone_surrogate_do_not_break_the_run(tmp_path: Path) -> None:
    bad_utf8 = b'{"id":"x","object":"chat.completion","created":0,"model":"coder","choices":[{"index":0,'
    bad_utf8 += b'"message":{"role":"assistant","content":"caf\xe9 \xff"},"finish_reason":"stop"}]}'
    page = single_page("Caf\\ud800e").replace('"', '\\"').replace("\n", "\\n")
    surrogate = (
        '{"id":"y","object":"chat.completion","created":0,"model":"coder","choices":[{"index":0,'
        f'"message":{{"role":"assistant","content":"{page}"}},"finish_reason":"stop"}}]}}'
    )
    rules = [
        *coder({"raw_b64": base64.b64encode(bad_utf8).decode(), "content_type": "application/json"}),
        *coder({"raw": surrogate, "content_type": "application/json"}, FINISH),
        *judge_rules(4),
    ]
    with FakeLLMServer(rules) as server:
        build = Build(tmp_path, server)
        run, steps = ended(build, build("A bakery site"), "finished")
    assert steps[0].kind in ("invalid", "edit") and steps[1].kind == "edit" and not steps[1].has_error
    assert "Caf\ufffde" in (tmp_path / "out" / "site" / "src" / "App.tsx").read_text()
    assert run.best_step == 1


@pytest.mark.slow
def test_a_flapping_endpoint_still_finishes(tmp_path: Path) -> None:
    flapping = {"model": "coder", "cycle": [{"status": 503}, single_page("Flaky"), {"status": 502}, FINISH]}
    with FakeLLMServer([flapping, *judge_rules(4)]) as server:
        build = Build(tmp_path, server)
        run, steps = ended(build, build("A bakery site"), "finished")
    assert [s.kind for s in steps if s.kind != "invalid"] == ["edit", "finish"]
    assert run.best_step is not None and steps[run.best_step].screenshot_score == 4


@pytest.mark.slow
def test_judge_down_fails_the_run_naming_it_and_never_feeds_its_error_to_the_coder(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with FakeLLMServer(coder(single_page("Unseen"), last_times=-1)) as server:
        build = Build(tmp_path, server, WEBGEN_JUDGE__BASE_URL=dead)
        done = build("A bakery site", "--max-steps", "6")
        run, steps = ended(build, done, "failed")
    assert len(steps) == 3 and all(s.kind == "edit" and s.rendered for s in steps)
    assert all(s.screenshot_score is None and not s.has_error for s in steps)  # unjudged: no score, not bad
    assert dead in run.error and "judge" in run.error
    assert "3 step(s) unjudged" in done.stdout and "unjudged" in done.stdout
    for prompt in coder_prompts(server)[1:]:
        assert "could not be reached" in prompt and dead not in prompt and "Connect" not in prompt


@pytest.mark.slow
def test_a_hung_coder_fails_the_run_after_its_timeouts(tmp_path: Path) -> None:
    with FakeLLMServer(coder({"hang": True}, last_times=-1)) as server:
        build = Build(tmp_path, server, WEBGEN_CODER__TIMEOUT_S="1")
        run, steps = ended(build, build("A bakery site"), "failed")
    assert len(steps) == 3 and all(s.kind == "invalid" for s in steps)
    assert "coder endpoint" in run.error and "timeout" in run.error


@pytest.mark.slow
def test_the_run_time_limit_ends_a_run_with_what_it_has(tmp_path: Path) -> None:
    slow = {"content": single_page("Slow but good"), "delay_s": 3}
    with FakeLLMServer([*coder(slow, last_times=-1), *judge_rules(4)]) as server:
        build = Build(tmp_path, server, WEBGEN_AGENT__RUN_TIMEOUT_S="2")
        done = build("A bakery site", "--max-steps", "5")
        run, steps = ended(build, done, "finished")
    assert len(steps) == 1 and run.best_step == 0 and "run time limit" in run.error
    assert "run time limit" in done.stdout
