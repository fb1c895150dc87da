"""The agent loop's state: plain data only (checkpointed by LangGraph), never clients, bytes or long text.

Messages (the history, the prompt, the completion) live in the store as content-addressed blobs and the
state holds their digests, so each checkpoint stays small whatever the model writes.
"""

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
    history: list[str]  # message refs (store blobs): system, request, then reply and feedback per step
    parent: int | None
    next_index: int
    steps: list[dict[str, Any]]  # StepSummary dumps, every branch
    outages: dict[str, int]  # role -> failed endpoint calls in a row
    outage_error: str | None  # the last endpoint failure, for the run's error
    gui_instruction: str | None
    # the step in progress (reset by `generate`)
    prompt: list[str]  # message refs
    completion: str | None  # the assistant message's ref; None when the coder call failed
    coder_error: str | None
    kind: str
    parsed: dict[str, Any]  # ParsedResponse.summary(): no file contents
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
    error: str | None
