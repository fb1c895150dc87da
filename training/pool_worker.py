"""One evaluator worker: a process holding ONE site environment (build worker + Chromium), judge and GUI agent.

Started by :mod:`webgen.training.pool` as ``python -m webgen.training.pool_worker FD`` in a session of its own
(so the pool can kill its whole process group). It talks over a socket on FD with pickled tuples of plain data.
Pool -> worker: ``("settings", Settings, scratch_dir)`` first, then ``("job", slot, EnvJob dict)`` and
``("stop",)``. Worker -> pool: ``("ready", pid)``, ``("fatal", message)`` and ``("done", slot, EnvResult dict)``.

A job is one environment step: the site's files (or a stored snapshot) are laid out in a fresh scaffold site,
the reply is parsed and applied, then built, rendered and judged (an edit) or GUI-tested (a GUI request), and
the result carries the new files, the evaluation, the step's own reward and the feedback text.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from webgen.agent.actions import ParsedResponse, has_exact_think_answer_format, parse_response
from webgen.core.blobs import MemoryBlobStore
from webgen.core.llm import OpenAIClient
from webgen.core.settings import Settings
from webgen.feedback.evaluation.assess import BAD_FORMAT_REWARD, good_format, step_reward
from webgen.feedback.evaluation.evaluator import StepEvaluation, StepEvaluator
from webgen.feedback.evaluation.rewards import RewardWeights, cascaded_from_evaluation, static_gate
from webgen.feedback.judge.vlm import VLMJudge
from webgen.feedback.site.environment import SiteEnvironment
from webgen.feedback.site.scaffold import PROTECTED_FILES
from webgen.feedback.site.workspace import FileWrite, Workspace
from webgen.graph.feedback_text import compose
from webgen.graph.state import StepDraft

logger = logging.getLogger(__name__)


def _gui_agent(settings: Settings, client: OpenAIClient) -> Any:
    if settings.agent.gui_agent == "browser-use":
        from webgen.feedback.gui.browser_use import BrowserUseAgent

        return BrowserUseAgent(settings.gui, chromium_path=settings.chromium_path)
    from webgen.feedback.gui.webvoyager import WebVoyagerAgent

    return WebVoyagerAgent(client, chromium_path=settings.chromium_path, waits=settings.agent.gui_waits)


def weights_of(settings: Settings) -> RewardWeights:
    agent = settings.agent
    return RewardWeights(
        gamma=agent.reward_gamma,
        lam=agent.reward_lambda,
        psi_static=agent.reward_psi_static,
        psi_build=agent.reward_psi_build,
    )


class Evaluator:
    """What one worker holds for all its jobs: the environment, the clients, the step evaluator."""

    def __init__(self, settings: Settings, scratch: Path) -> None:
        self.settings, self.scratch = settings, scratch
        self.env = SiteEnvironment(settings).start()
        self.clients = {role: OpenAIClient(getattr(settings, role), role=role) for role in ("judge", "gui")}
        agent = settings.agent
        judge = VLMJudge(self.clients["judge"], model=settings.judge.model, max_images=agent.judge_max_images)
        self.evaluator = StepEvaluator(
            self.env,
            judge,
            gui_agent=_gui_agent(settings, self.clients["gui"]),
            client=self.clients["judge"],
            judge_max_images=agent.judge_max_images,
            gui_max_steps=agent.gui_max_steps,
            gui_timeout_s=agent.gui_timeout_s,
        )
        self._store: Any = None
        self._test_instructions: dict[str, str] = {}

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
        if self._store is not None:
            self._store.close()
        self.env.close()

    def _blobs(self, snapshot: bool) -> Any:
        if not snapshot:
            return MemoryBlobStore()
        if self._store is None:
            from webgen.storage.store import TrajectoryStore

            self._store = TrajectoryStore(self.settings.resolved_database_url)
        return self._store.blobs

    def _workspace(self, job: dict[str, Any], root: Path) -> Workspace:
        site = self.env.new_site(root / "site")
        workspace = Workspace(site, self._blobs(job.get("snapshot_id") is not None), protected=PROTECTED_FILES)
        if job.get("snapshot_id"):
            workspace.restore(job["snapshot_id"])
        else:  # the carried files: only those that differ from the fresh scaffold (its own files are protected)
            changed = [FileWrite(path=p, content=c) for p, c in job["files"].items() if workspace.read(p) != c]
            report = workspace.apply(changed)
            if report.rejected:
                raise ValueError(f"the carried files were refused: {[r.path for r in report.rejected][:5]}")
        return workspace

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        root = self.scratch / "sites" / uuid.uuid4().hex
        shots = self.scratch / "shots" / uuid.uuid4().hex
        try:
            workspace = self._workspace(job, root)
            return self._step(job, workspace, shots)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def _step(self, job: dict[str, Any], workspace: Workspace, shots: Path) -> dict[str, Any]:
        reply: str = job["reply"]
        parsed = parse_response(reply)
        kind = parsed.kind
        repeated = bool(reply.strip()) and reply.strip() in {h.strip() for h in job.get("history", [])}
        if repeated:  # the same reply again: a degenerate loop across turns
            kind = "invalid"
        instruction = job["instruction"]
        evaluation = StepEvaluation()
        problems = self._gate(parsed) if job.get("gate") else []
        if kind == "edit" and not problems:  # a failed gate costs no build, render or judge call
            evaluation = self.evaluator.evaluate(workspace, parsed.files, instruction=instruction, out_dir=shots)
            if not evaluation.usable:
                kind = "invalid"
        elif kind == "gui_request" and job.get("gui", True):
            test = self._test_instruction(instruction)
            evaluation = StepEvaluation(gui=self.evaluator.gui_test(workspace.root, test))
        lowered = reply.lower()
        has_artifact = "<boltartifact" in lowered or "<webartifact" in lowered
        formatted = good_format(kind, len(reply), has_artifact=has_artifact, repetitive=parsed.repetitive or repeated)
        reward = _reward(kind, evaluation, formatted)
        has_error = _has_error(kind, evaluation)
        draft = StepDraft(
            index=job.get("step", 0),
            kind=kind,
            reply=parsed.summary() | ({"problems": ["you sent the same reply as before"]} if repeated else {}),
            applied=evaluation.applied,
            observation=evaluation.observation,
            judgment=evaluation.judgment,
            gui=evaluation.gui,
        )
        feedback = "" if kind == "finish" else compose(draft, instruction=instruction, has_error=has_error)
        return {
            "kind": kind,
            "files": workspace.files(),
            "evaluation": evaluation.model_dump(mode="json"),
            "reward": reward,
            "cascaded": self._cascaded(parsed, reply, evaluation).model_dump(mode="json"),
            "feedback": feedback,
            "screenshot_score": evaluation.screenshot_score,
            "gui_grade": evaluation.gui_grade,
            "good_format": formatted,
            "has_error": has_error,
            "worker": os.getpid(),
        }

    def _test_instruction(self, instruction: str) -> str:
        if instruction not in self._test_instructions:
            self._test_instructions[instruction] = self.evaluator.test_instruction(instruction)
        return self._test_instructions[instruction]

    @staticmethod
    def _gate(parsed: ParsedResponse, unsafe: list[str] | None = None) -> list[str]:
        """WebGen-R1's static gate: the problems that make a reply unusable before anything runs."""
        return static_gate(
            parsed.final_files(),
            has_artifact=parsed.dialect in ("bolt", "web"),
            truncated=parsed.truncated,
            unsafe=unsafe or [],
        )

    def _cascaded(self, parsed: ParsedResponse, reply: str, evaluation: StepEvaluation) -> Any:
        applied = evaluation.applied
        unsafe = [r.path for r in applied.rejected if "scaffold" not in r.reason] if applied else []
        problems = self._gate(parsed, unsafe)
        if parsed.repetitive:
            problems.append("degenerate repetition: the reply loops on the same text")
        cot_ok = has_exact_think_answer_format(reply)
        scored = evaluation if not problems else None
        return cascaded_from_evaluation(problems, scored, cot_ok, weights_of(self.settings))


def _reward(kind: str, evaluation: StepEvaluation, formatted: bool) -> float | None:
    """The step's own reward (a GUI grade is credited to its edit by the trajectory, not here); None when the
    site rendered but the judge could not grade it (an endpoint outage says nothing about the policy)."""
    if kind == "invalid" or not formatted:
        return BAD_FORMAT_REWARD
    if kind == "edit" and evaluation.rendered and not evaluation.judged:
        return None
    return step_reward(kind, evaluation.screenshot_score, None, good_format=formatted)  # type: ignore[arg-type]


def _has_error(kind: str, evaluation: StepEvaluation) -> bool:
    if kind == "edit":
        observation, judgment = evaluation.observation, evaluation.judgment
        failed = observation is None or observation.has_error or (judgment is not None and judgment.has_error)
        score = evaluation.screenshot_score
        return failed or (score is not None and score <= 2)
    if kind == "gui_request":
        return evaluation.gui is None or evaluation.gui.outcome != "ok"
    return kind == "invalid"


def serve(conn: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the pool's
    from webgen.core.env import apply_offline_env

    apply_offline_env()
    kind, settings, scratch = conn.recv()
    assert kind == "settings"
    try:
        evaluator = Evaluator(settings, Path(scratch))
    except Exception as exc:  # noqa: BLE001 - a worker that cannot start says why, once
        conn.send(("fatal", f"{type(exc).__name__}: {exc}"))
        return
    try:
        conn.send(("ready", os.getpid()))
        while True:
            message = conn.recv()
            if message[0] != "job":
                return
            _, slot, job = message
            try:
                result = evaluator.run(job)
            except Exception as exc:  # noqa: BLE001 - one bad job is an error result, the worker lives on
                logger.exception("job %s failed", slot)
                result = {"error": f"{type(exc).__name__}: {exc}"}
            conn.send(("done", slot, result))
    except (EOFError, OSError):  # the pool is gone
        return
    finally:
        evaluator.close()


def main(argv: list[str] | None = None) -> None:
    import socket

    logging.basicConfig(level=os.environ.get("WEBGEN_POOL_LOG", "WARNING"), stream=sys.stderr)
    fd = int((argv or sys.argv[1:])[0])
    conn = Connection(socket.socket(fileno=fd).detach())
    try:
        serve(conn)
    finally:
        conn.close()


if __name__ == "__main__":
    main()
