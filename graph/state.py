"""The agent loop's state: typed values only, checkpointed by LangGraph; never clients, bytes or long text.

Messages (the history, the prompt, the completion) live in the store as content-addressed blobs and the
state holds their digests, so each checkpoint stays small whatever the model writes. The step in progress
is one typed value, :class:`StepDraft`, filled in node by node; screenshots in it are paths on disk.
"""

from __future__ import annotations

from typing import Any, TypedDict

from pydantic import BaseModel, Field

from webgen.core.kinds import StepKind
from webgen.core.types import Observation
from webgen.feedback.gui.types import GUITestResult
from webgen.feedback.judge.vlm import Judgment
from webgen.feedback.site.workspace import ApplyReport
from webgen.graph.rules import StepSummary


class StepDraft(BaseModel):
    """The step in progress: what each node produced, as it produced it."""

    index: int
    parent: int | None = None
    prompt: list[str] = Field(default_factory=list, description="message refs")
    completion: str | None = Field(default=None, description="the assistant message's ref; None if the call failed")
    completion_chars: int = 0
    coder_error: str | None = None
    kind: StepKind = "invalid"
    reply: dict[str, Any] = Field(default_factory=dict, description="ParsedResponse.summary(): no file contents")
    applied: ApplyReport | None = None
    base_snapshot: str | None = None
    observation: Observation | None = None
    judgment: Judgment | None = None
    gui: GUITestResult | None = None
    tokens_prompt: int = 0
    tokens_completion: int = 0
    latency: dict[str, float] = Field(default_factory=dict)

    def timed(self, stage: str, seconds: float, **update: Any) -> StepDraft:
        """A copy with `update` applied and the stage's time recorded."""
        return self.model_copy(update={**update, "latency": {**self.latency, stage: seconds}})


class AgentState(TypedDict, total=False):
    # the run
    run_id: str
    task_id: int
    instruction: str
    ui_test_cases: list[dict[str, Any]]
    site: str
    initial_snapshot: str
    history: list[str]  # message refs: system, request, then reply and feedback per step
    parent: int | None
    next_index: int
    steps: list[StepSummary]  # every branch
    outages: dict[str, int]  # role -> failed endpoint calls in a row
    outage_error: str | None  # the last endpoint failure, for the run's error
    gui_instruction: str | None
    # the step in progress
    step: StepDraft | None
    # the end
    best: int | None
    status: str
    error: str | None
