"""Pydantic values crossing the store's boundary (what the rest of the code sees instead of ORM rows)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from webgen.core.kinds import RunStatus, StepKind
from webgen.core.types import Observation

__all__ = ["RunMode", "RunStatus", "StepKind"]  # plus the values below

RunMode = Literal["agent", "single-shot"]


class TaskIn(BaseModel):
    """A task to import: one benchmark or instruction-set line, or an ad-hoc request."""

    source: str
    external_id: str
    instruction: str = Field(min_length=1)
    category: dict[str, Any] = Field(default_factory=dict)
    application_type: str = ""
    ui_test_cases: list[dict[str, Any]] = Field(default_factory=list)


class Task(TaskIn):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime


class Run(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    task_id: int
    mode: RunMode
    config: dict[str, Any]
    models: dict[str, Any]
    status: RunStatus
    error: str | None = None
    best_step: int | None = None
    tokens_prompt: int = 0
    tokens_completion: int = 0
    cost: float = 0.0
    timings: dict[str, Any] = Field(default_factory=dict)
    started_at: datetime
    finished_at: datetime | None = None


class StepRecord(BaseModel):
    """One step as the loop records it. Prompt messages are stored by reference (deduplicated blobs);
    the observation's screenshots are stored as blobs, its JSON without them."""

    index: int = Field(ge=0)
    parent_index: int | None = None
    kind: StepKind = "edit"
    prompt: list[dict[str, Any]] = Field(default_factory=list)
    prompt_refs: list[str] = Field(
        default_factory=list, description="the prompt as stored messages (instead of prompt)"
    )
    completion: str = ""
    feedback: str = Field(default="", description="the user message the harness answered this step with")
    actions: dict[str, Any] = Field(default_factory=dict)
    base_snapshot_id: str | None = Field(default=None, description="the files the completion was applied to")
    snapshot_id: str | None = Field(default=None, description="the files after the step")
    observation: Observation | None = None
    errors: list[str] = Field(default_factory=list)
    has_error: bool | None = Field(default=None, description="None: derived from the observation and errors")
    screenshot_score: float | None = None
    judge: dict[str, Any] = Field(default_factory=dict)
    gui_verdict: str | None = None
    gui_grade: float | None = None
    gui: dict[str, Any] = Field(default_factory=dict)
    tokens_prompt: int = 0
    tokens_completion: int = 0
    latency: dict[str, float] = Field(default_factory=dict)
    reward: float | None = None
    reward_breakdown: dict[str, Any] = Field(default_factory=dict)


class Step(BaseModel):
    """A stored step; `prompt_refs` resolve with `TrajectoryStore.messages()`."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    run_id: str
    index: int
    parent_index: int | None
    kind: StepKind
    prompt_refs: list[str]
    completion: str
    feedback: str
    actions: dict[str, Any]
    base_snapshot_id: str | None
    snapshot_id: str | None
    observation: dict[str, Any]
    build_ok: bool | None
    served: bool | None
    rendered: bool | None
    errors: list[str]
    has_error: bool
    screenshot_score: float | None
    judge: dict[str, Any]
    gui_verdict: str | None
    gui_grade: float | None
    gui: dict[str, Any]
    tokens_prompt: int
    tokens_completion: int
    latency: dict[str, Any]
    reward: float | None
    reward_breakdown: dict[str, Any]
    created_at: datetime


class Screenshot(BaseModel):
    route: str
    kind: Literal["viewport", "full"]
    png: bytes = Field(repr=False)


class PruneReport(BaseModel):
    runs: int = 0
    steps: int = 0
    snapshots: int = 0
    blobs: int = 0
    bytes_freed: int = 0
    dry_run: bool = False
    run_ids: list[str] = Field(default_factory=list, description="the runs pruned (or that would be)")
