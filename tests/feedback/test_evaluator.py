"""The step evaluator end to end: real builds, Chromium and the GUI agent; the judge and the GUI model are
scripted through the real fake model server over HTTP."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from webgen.agent.fake_server import FakeLLMServer
from webgen.core.blobs import FileBlobStore, MemoryBlobStore
from webgen.core.llm import OpenAIClient
from webgen.core.settings import ModelEndpoint, Settings
from webgen.feedback.evaluation.assess import RewardStep, assess, step_reward, step_rewards
from webgen.feedback.evaluation.evaluator import NO_BUILD_ERROR, StepEvaluation, StepEvaluator
from webgen.feedback.gui.webvoyager import WebVoyagerAgent
from webgen.feedback.judge.vlm import VLMJudge
from webgen.feedback.site.environment import SiteEnvironment
from webgen.feedback.site.scaffold import PROTECTED_FILES
from webgen.feedback.site.workspace import FileWrite, Workspace

pytestmark = [pytest.mark.browser, pytest.mark.node]

TASK = "A bakery landing page with a menu button"
FAST_WAITS = {"click": 0.1, "type": 0.1, "scroll": 0.1, "wait": 0.1, "goback": 0.1}
PAGE = (
    'export default function App() {\n  return <main className="p-8"><h1>Rosie\'s Bakery</h1>'
    "<p>Fresh bread and cakes every morning, baked with care.</p><button>See the menu</button></main>;\n}\n"
)
BROKEN = "export default function App() {\n  return <main>oops</div>;\n}\n"
RULES: list[dict[str, Any]] = [
    {
        "model": "judge",
        "match": "Write the instruction it will follow",
        "times": -1,
        "reply": "<test>Check the look and press the menu button.</test>",
    },
    {
        "model": "judge",
        "match": "Read the agent's log",
        "times": -1,
        "reply": 'The button works. {"test_passed": true, "improvement_suggestions": "", "grade": 5}',
    },
    {
        "model": "judge",
        "match": "You are a front-end reviewer",
        "times": -1,
        "reply": {"content": {"has_error": False, "description": "A tidy page.", "suggestions": "", "score": 4}},
    },
    {"model": "gui", "times": -1, "reply": "Thought: Everything I tried works.\nAction: ANSWER; YES"},
]


def client(base_url: str, model: str) -> OpenAIClient:
    return OpenAIClient(ModelEndpoint(base_url=base_url, model=model, timeout_s=20, max_retries=1), backoff_s=0.01)


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(RULES) as fake:
        yield fake


@pytest.fixture(scope="module")
def evaluator(env: SiteEnvironment, settings: Settings, server: FakeLLMServer) -> StepEvaluator:
    judge_client = client(server.base_url, "judge")
    gui = WebVoyagerAgent(client(server.base_url, "gui"), chromium_path=settings.chromium_path, waits=FAST_WAITS)
    return StepEvaluator(
        env,
        VLMJudge(judge_client, model="judge"),
        gui_agent=gui,
        client=judge_client,
        judge_max_images=2,
        gui_max_steps=3,
        gui_timeout_s=60,
    )


def new_workspace(env: SiteEnvironment, folder: Path, blobs: Any = None) -> Workspace:
    site = env.new_site(folder)
    return Workspace(site, blobs or MemoryBlobStore(), protected=PROTECTED_FILES)


@pytest.fixture(scope="module")
def good(env: SiteEnvironment, evaluator: StepEvaluator, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """One good page, evaluated once for the module: (workspace, evaluation, out_dir)."""
    root = tmp_path_factory.mktemp("good")
    workspace = new_workspace(env, root / "site")
    files = [FileWrite(path="src/App.tsx", content=PAGE)]
    return workspace, evaluator.evaluate(workspace, files, instruction=TASK, out_dir=root / "step"), root / "step"


def test_good_site_is_rendered_judged_and_not_an_error(good: tuple) -> None:
    _, evaluation, out_dir = good
    assert evaluation.applied is not None and evaluation.applied.written == ["src/App.tsx"]
    assert evaluation.rendered and evaluation.judged and evaluation.screenshot_score == 4.0
    assert evaluation.gui is None and set(evaluation.seconds) == {"apply", "execute", "judge"}
    assert evaluation.observation is not None
    for page in evaluation.observation.pages:  # paths on disk, no bytes in the value
        assert page.screenshot is None and page.full_screenshot is None
        assert page.screenshot_path and page.screenshot_path.is_relative_to(out_dir)
        assert page.screenshot_path.read_bytes()[:4] == b"\x89PNG"
    assert (out_dir / "observation.json").is_file()
    again = StepEvaluation.model_validate_json(evaluation.model_dump_json())  # a JSON round trip (state, store)
    assert again.screenshot_score == 4.0 and again.rendered
    verdict = assess("edit", evaluation, None)
    assert (verdict.screenshot_score, verdict.has_error, verdict.judged) == (4.0, False, True)


def test_judge_endpoint_down_is_unjudged_not_an_error(env: SiteEnvironment, good: tuple) -> None:
    _, evaluation, _ = good
    down = client(closed_port_url(), "judge")
    judgment = StepEvaluator(env, VLMJudge(down, model="judge")).judge(TASK, evaluation.observation)
    assert judgment is not None and judgment.outcome == "endpoint_error" and judgment.score is None
    unjudged = evaluation.model_copy(update={"judgment": judgment})
    verdict = assess("edit", unjudged, None)
    assert (verdict.screenshot_score, verdict.has_error, verdict.judged) == (None, False, False)
    assert step_reward("edit", verdict.screenshot_score) == 0.0


def test_gui_test_grade_is_credited_to_the_edit(evaluator: StepEvaluator, good: tuple) -> None:
    workspace, evaluation, _ = good
    instruction = evaluator.test_instruction(TASK, [{"task": "Press the menu button", "expected_result": "it works"}])
    assert instruction.startswith("Check the look and press the menu button.")
    gui = evaluator.gui_test(workspace.root, instruction)
    assert (gui.outcome, gui.verdict, gui.grade) == ("ok", "YES", 5.0), gui.error
    edit = assess("edit", evaluation, None)
    request = assess("gui_request", StepEvaluation(gui=gui), edit)
    assert (request.screenshot_score, request.gui_grade, request.has_error) == (4.0, 5.0, False)
    steps = [
        RewardStep(index=0, kind="edit", screenshot_score=edit.screenshot_score),
        RewardStep(index=1, parent_index=0, kind="gui_request", gui_grade=request.gui_grade),
    ]
    assert step_rewards(steps) == [9.0, None]


def test_broken_build_is_an_error_with_no_judgment(
    env: SiteEnvironment, evaluator: StepEvaluator, tmp_path: Path
) -> None:
    workspace = new_workspace(env, tmp_path / "site")
    evaluation = evaluator.evaluate(
        workspace,
        [FileWrite(path="src/App.tsx", content=BROKEN)],
        instruction=TASK,
        out_dir=tmp_path / "step",
        test_instruction="Press the menu button.",
    )
    assert evaluation.observation is not None and not evaluation.observation.build.ok
    assert not evaluation.rendered and evaluation.judgment is None
    assert evaluation.gui is not None and (evaluation.gui.outcome, evaluation.gui.error) == (
        "browser_error",
        NO_BUILD_ERROR,
    )
    assert "judge" not in evaluation.seconds and "gui_test" in evaluation.seconds
    verdict = assess("edit", evaluation, None)
    assert verdict.has_error and not verdict.judged and verdict.screenshot_score is None
    rebuilt = evaluator.gui_test(workspace.root, "Press the menu button.")  # builds again, still broken
    assert (rebuilt.outcome, rebuilt.error) == ("browser_error", NO_BUILD_ERROR)


def test_every_write_refused_builds_nothing(env: SiteEnvironment, evaluator: StepEvaluator, tmp_path: Path) -> None:
    workspace = new_workspace(env, tmp_path / "site")
    files = [FileWrite(path="../escape.tsx", content="x"), FileWrite(path="package-lock.json", content="x")]
    evaluation = evaluator.evaluate(workspace, files, instruction=TASK, out_dir=tmp_path / "step")
    assert evaluation.applied is not None and len(evaluation.applied.rejected) == 2
    assert not evaluation.usable and evaluation.observation is None and set(evaluation.seconds) == {"apply"}
    assert not (workspace.root / "dist").exists()


def test_same_files_on_the_same_state_score_the_same(
    env: SiteEnvironment, evaluator: StepEvaluator, tmp_path: Path
) -> None:
    blobs = FileBlobStore(tmp_path / "blobs")
    base = new_workspace(env, tmp_path / "base", blobs)
    base.apply([FileWrite(path="src/pages/Menu.tsx", content="export default function Menu() { return null; }\n")])
    snapshot = base.snapshot()
    files = [FileWrite(path="src/App.tsx", content=PAGE)]
    rewards, states = [], []
    for attempt in range(2):
        scratch = new_workspace(env, tmp_path / f"scratch{attempt}", blobs)
        scratch.restore(snapshot)
        evaluation = evaluator.evaluate(scratch, files, instruction=TASK, out_dir=tmp_path / f"step{attempt}")
        verdict = assess("edit", evaluation, None)
        rewards.append(step_reward("edit", verdict.screenshot_score))
        states.append(scratch.snapshot())
        assert scratch.read("src/pages/Menu.tsx") is not None  # the base state's files are there
    assert states[0] == states[1]
    assert rewards == [4.0, 4.0]
