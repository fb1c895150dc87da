"""One step evaluator: files in, a :class:`StepEvaluation` out (apply → build, serve, render, check → judge → GUI).

The agent loop's nodes call the stages one at a time (each node stays a thin call); training and single-shot
scoring call :meth:`StepEvaluator.evaluate`, which composes them. Every failure of the site or of a model is an
outcome inside the result, never an exception:

=============  ====================================================================================
stage          what it gives
=============  ====================================================================================
``apply``      :class:`ApplyReport`; when every write was refused nothing else runs
``execute``    :class:`Observation` whose screenshots are saved to disk; it keeps their paths, no bytes
``judge``      :class:`Judgment`, or None when nothing rendered (never a made-up judgment)
``gui_test``   :class:`GUITestResult`, graded when the agent answered; ``browser_error`` if no build
=============  ====================================================================================

The evaluator takes already-parsed writes (anything with ``path`` and ``content``) and a
:class:`Workspace`; parsing completions and storing steps belong to the layers above.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from webgen.core.llm import LLMClient
from webgen.core.types import Observation
from webgen.feedback.gui.grading import derive_test_instruction, fallback_test_instruction, grade_transcript
from webgen.feedback.gui.types import GUIAgent, GUITestResult
from webgen.feedback.judge.vlm import Judge, Judgment
from webgen.feedback.site.environment import SiteEnvironment
from webgen.feedback.site.report import save_observation
from webgen.feedback.site.workspace import ApplyReport, Workspace, WriteLike

__all__ = ["NO_BUILD_ERROR", "StepEvaluation", "StepEvaluator", "screenshots_of"]

logger = logging.getLogger(__name__)

NO_BUILD_ERROR = "the site does not build, so it could not be tested"


class StepEvaluation(BaseModel):
    """What evaluating one step observed; a stage that did not run is None. Holds no image bytes."""

    applied: ApplyReport | None = None
    observation: Observation | None = None
    judgment: Judgment | None = None
    gui: GUITestResult | None = None
    seconds: dict[str, float] = Field(default_factory=dict, description="apply, execute, judge, gui_test")

    @property
    def usable(self) -> bool:
        """Some write was accepted (written or already identical): the step has files to look at."""
        return self.applied is not None and bool(self.applied.written or self.applied.unchanged)

    @property
    def rendered(self) -> bool:
        """Built, served, and at least one page loaded."""
        return self.observation is not None and self.observation.rendered

    @property
    def judged(self) -> bool:
        """The judge gave a score (an endpoint failure or an unreadable reply is not a judgment)."""
        return self.judgment is not None and self.judgment.ok

    @property
    def screenshot_score(self) -> float | None:
        return self.judgment.score if self.judged and self.judgment is not None else None

    @property
    def gui_grade(self) -> float | None:
        return self.gui.grade if self.gui is not None else None


def screenshots_of(observation: Observation, limit: int | None = None) -> list[bytes]:
    """The viewport screenshots in route order: bytes when the page still holds them, else read from their paths."""
    shots: list[bytes] = []
    for page in observation.pages:
        if page.screenshot:
            shots.append(page.screenshot)
        elif page.screenshot_path is not None and page.screenshot_path.is_file():
            shots.append(page.screenshot_path.read_bytes())
        if limit is not None and len(shots) >= limit:
            break
    return shots


class StepEvaluator:
    """Evaluate site states with one environment, one judge and (optionally) one GUI agent.

    ``client`` is the model that derives GUI test instructions and grades GUI transcripts (the judge's
    endpoint in the agent loop); it is required with a GUI agent. Not shared between threads (neither is
    the environment).
    """

    def __init__(
        self,
        env: SiteEnvironment,
        judge: Judge,
        *,
        gui_agent: GUIAgent | None = None,
        client: LLMClient | None = None,
        judge_max_images: int = 3,
        gui_max_steps: int = 15,
        gui_timeout_s: float = 300.0,
    ) -> None:
        if judge_max_images < 1:
            raise ValueError(f"judge_max_images must be at least 1, not {judge_max_images}")
        if gui_agent is not None and client is None:
            raise ValueError("a GUI agent needs the client that grades its transcripts")
        self.env, self.gui_agent, self.client = env, gui_agent, client
        self.vlm: Judge = judge  # `judge` is the stage method
        self.judge_max_images = judge_max_images
        self.gui_max_steps, self.gui_timeout_s = gui_max_steps, gui_timeout_s

    # -- stages --------------------------------------------------------------------------------------
    def apply(self, workspace: Workspace, files: Iterable[WriteLike]) -> ApplyReport:
        """Whole-file writes through the workspace's guards (refusals are in the report)."""
        report = workspace.apply(files)
        if report.rejected:
            logger.info("apply: %d refused: %s", len(report.rejected), [r.path for r in report.rejected][:5])
        return report

    def execute(self, site: Path, out_dir: Path) -> Observation:
        """Build, serve, render and check ``site``; screenshots go under ``out_dir`` and leave the value."""
        observation = self.env.observe(site)
        save_observation(observation, out_dir)
        for page in observation.pages:  # the paths stay; the bytes never travel in state
            page.screenshot = page.full_screenshot = None
        logger.info("execute %s: build %s, %d pages", site, observation.build.ok, len(observation.pages))
        return observation

    def judge(self, instruction: str, observation: Observation) -> Judgment | None:
        """The judge's grade of the first ``judge_max_images`` viewport screenshots; None when nothing
        rendered or no screenshot was taken. Model failures are outcomes of the judgment, never raised."""
        if not observation.rendered:
            return None
        shots = screenshots_of(observation, self.judge_max_images)
        if not shots:
            return None
        return self.vlm.grade(instruction, shots)

    def test_instruction(self, instruction: str, ui_test_cases: list[dict[str, Any]] | None = None) -> str:
        """The GUI agent's test instruction for a task (a deterministic fallback when the model fails)."""
        if self.client is None:
            return fallback_test_instruction(instruction, ui_test_cases or None)
        return derive_test_instruction(self.client, instruction=instruction, ui_test_cases=ui_test_cases or None)

    def gui_test(self, site: Path, test_instruction: str) -> GUITestResult:
        """Rebuild ``site`` (its files may have been restored since the last build), then test it."""
        if not self.env.build(site).ok:
            return GUITestResult(outcome="browser_error", error=NO_BUILD_ERROR)
        return self._test_built(site, test_instruction)

    def _test_built(self, site: Path, test_instruction: str) -> GUITestResult:
        if self.gui_agent is None or self.client is None:
            raise ValueError("this StepEvaluator has no GUI agent")
        with self.env.serve(site) as server:
            result = self.gui_agent.test(
                server.url, test_instruction, max_steps=self.gui_max_steps, timeout_s=self.gui_timeout_s
            )
        if result.outcome == "ok":
            result = grade_transcript(self.client, instruction=test_instruction, result=result)
        logger.info("gui_test %s: %s, verdict %s, grade %s", site, result.outcome, result.verdict, result.grade)
        return result

    # -- all of them -----------------------------------------------------------------------------------
    def evaluate(
        self,
        workspace: Workspace,
        files: Iterable[WriteLike],
        *,
        instruction: str,
        out_dir: Path,
        test_instruction: str | None = None,
    ) -> StepEvaluation:
        """Apply, execute, judge, and GUI-test when ``test_instruction`` is given. When every write was
        refused nothing is built (the step has no files of its own)."""
        if test_instruction is not None and self.gui_agent is None:
            raise ValueError("a test instruction was given, but this StepEvaluator has no GUI agent")
        result = StepEvaluation()
        seconds = result.seconds  # filled as the stages run
        started = time.monotonic()
        result.applied = self.apply(workspace, files)
        seconds["apply"] = time.monotonic() - started
        if not result.usable:
            return result
        started = time.monotonic()
        result.observation = observation = self.execute(workspace.root, out_dir)
        seconds["execute"] = time.monotonic() - started
        if observation.rendered:
            started = time.monotonic()
            result.judgment = self.judge(instruction, observation)
            seconds["judge"] = time.monotonic() - started
        if test_instruction is not None:
            started = time.monotonic()
            if observation.build.ok:  # execute just built these files: no second build
                result.gui = self._test_built(workspace.root, test_instruction)
            else:
                result.gui = GUITestResult(outcome="browser_error", error=NO_BUILD_ERROR)
            seconds["gui_test"] = time.monotonic() - started
        return result
