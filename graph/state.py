"""The agent loop's state: plain data only (checkpointed by LangGraph), never clients or bytes."""

from __future__ import annotations

from typing import Any, TypedDict


class AgentState(TypedDict, total=False):
    # the run
    run_id: str
    task_id: int
    instruction: str
    ui_test_cases: list[dict[str, Any]]
    site: str
    initial_snapshot: str
    history: list[dict[str, Any]]
    parent: int | None
    next_index: int
    steps: list[dict[str, Any]]  # StepSummary dumps, every branch
    restarts: int
    gui_instruction: str | None
    # the step in progress (reset by `generate`)
    prompt: list[dict[str, Any]]
    completion: str
    coder_error: str | None
    kind: str
    parsed: dict[str, Any]
    applied: dict[str, Any]
    base_snapshot: str | None
    observation: dict[str, Any] | None
    judgement: dict[str, Any] | None
    gui: dict[str, Any] | None
    tokens: dict[str, int]
    latency: dict[str, float]
    # the end
    best: int | None
    status: str
