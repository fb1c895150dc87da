"""The WebGen-R1 cascaded reward (ARCHITECTURE §6): static gate → build/render → s_vis + γ·s_func + λ·s_cot.

R = ψ_static                  if the static gate fails
  = ψ_build                   if the build, the server or the render fails
  = s_vis + γ·s_func + λ·s_cot otherwise
A judge that could not grade gives no reward (None: TRL skips it), never a silent 0.
`cascaded_from_evaluation` reads the stages from a StepEvaluation (the step evaluator's result).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from webgen.core.types import Observation

if TYPE_CHECKING:
    from webgen.feedback.evaluation.evaluator import StepEvaluation

Stage = Literal["static", "build", "scored", "unjudged"]


class RewardWeights(BaseModel):
    gamma: float = 0.1
    lam: float = 0.1
    psi_static: float = 0.0
    psi_build: float = 0.0


class RewardBreakdown(BaseModel):
    reward: float | None
    stage: Stage
    static_problems: list[str] = Field(default_factory=list)
    s_vis: float | None = None
    s_func: float | None = None
    s_cot: float = 0.0
    weights: RewardWeights = Field(default_factory=RewardWeights)


def static_gate(files: dict[str, str], *, has_artifact: bool, truncated: list[str], unsafe: list[str]) -> list[str]:
    """Problems that make the output unusable before anything runs (an empty list passes)."""
    problems = []
    if not has_artifact:
        problems.append("no <webArtifact>/<boltArtifact> with file actions")
    if not files:
        problems.append("no files written")
    problems += [f"{path}: cut off mid-file" for path in truncated]
    problems += [f"{path}: unsafe path" for path in unsafe]
    if "src/App.tsx" not in files:
        problems.append("the entry component src/App.tsx is missing")
    if "package.json" in files:
        try:
            package = json.loads(files["package.json"])
            declared = {**package.get("dependencies", {}), **package.get("devDependencies", {})}
            missing = {"react", "react-dom"} - set(declared)
            if missing:
                problems.append(f"package.json lacks {', '.join(sorted(missing))}")
        except (ValueError, AttributeError):
            problems.append("package.json is not a valid JSON object")
    for path, content in files.items():
        if path.startswith(("src/pages/", "src/components/")) and path.endswith((".tsx", ".jsx")):
            if "export default" not in content:
                problems.append(f"{path}: no default export")
    return problems


def functional_score(observation: Observation) -> float:
    """1 when no page logged a console error or threw, else 0."""
    clean = all(not p.page_errors and not p.console_errors and not p.error for p in observation.pages)
    return 1.0 if clean else 0.0


def cascaded_reward(
    *,
    static_problems: list[str],
    observation: Observation | None,
    s_vis: float | None,
    cot_ok: bool,
    weights: RewardWeights,
) -> RewardBreakdown:
    s_cot = 1.0 if cot_ok else 0.0
    common = {"static_problems": static_problems, "s_cot": s_cot, "weights": weights}
    if static_problems:
        return RewardBreakdown(reward=weights.psi_static, stage="static", **common)
    if observation is None or not observation.rendered or not observation.build.ok:
        return RewardBreakdown(reward=weights.psi_build, stage="build", **common)
    s_func = functional_score(observation)
    if s_vis is None:
        return RewardBreakdown(reward=None, stage="unjudged", s_func=s_func, **common)
    reward = s_vis + weights.gamma * s_func + weights.lam * s_cot
    return RewardBreakdown(reward=reward, stage="scored", s_vis=s_vis, s_func=s_func, **common)


def cascaded_from_evaluation(
    static_problems: list[str],
    evaluation: StepEvaluation | None,
    cot_ok: bool,
    weights: RewardWeights,
) -> RewardBreakdown:
    """The cascaded reward of an evaluated completion: s_vis is the judge's score when it said ``ok``.

    ``evaluation`` is None (or has no observation) when nothing was built, e.g. because the static gate failed.
    """
    observation = evaluation.observation if evaluation is not None else None
    s_vis = evaluation.screenshot_score if evaluation is not None else None
    return cascaded_reward(
        static_problems=static_problems, observation=observation, s_vis=s_vis, cot_ok=cot_ok, weights=weights
    )
