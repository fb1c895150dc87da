"""Where a collection stands: pairs, runs, steps and tokens per status, and why pairs did not finish.

A pair's stored error starts with its failure reason in brackets (`[endpoint] the coder endpoint ... failed`),
written by the coordinator from the run's structured outcome (`RunOutcome.failure`), so the reasons can be
counted without guessing from the text.
"""

from __future__ import annotations

import re

from pydantic import BaseModel

from webgen.storage import collections
from webgen.storage.store import StoreError, TrajectoryStore

STATUSES = ("finished", "failed", "interrupted", "running", "pending")
_TAG = re.compile(r"^\[(?P<reason>[a-z]+)\] ?")


def tagged(failure: str | None, error: str | None) -> str | None:
    """The error to store with a pair: the failure reason first, in brackets."""
    if failure:
        return f"[{failure}] {error}" if error else f"[{failure}]"
    return error


def split(error: str | None) -> tuple[str | None, str]:
    """(failure reason or None, the rest of the text) of a stored pair error."""
    if not error:
        return None, ""
    found = _TAG.match(error)
    return (found["reason"], error[found.end() :]) if found else (None, error)


class StatusRow(BaseModel):
    status: str
    pairs: int
    runs: int
    steps: int
    tokens: int


class Problem(BaseModel):
    """A pair that failed or was interrupted, with why."""

    task: str  # the task's external id
    rollout: int
    status: str
    attempts: int
    reason: str  # endpoint, timeout, crash, cancelled, or "stopped" (the collection stopped, or an untagged error)
    error: str


class CollectionStatus(BaseModel):
    name: str
    rows: list[StatusRow]
    reasons: dict[str, int]  # failure reason -> pairs that did not finish for it
    problems: list[Problem]

    @property
    def pairs(self) -> int:
        return sum(r.pairs for r in self.rows)


def collection_status(store: TrajectoryStore, name: str) -> CollectionStatus:
    entries = collections.entries(store, name)
    runs = {}
    for entry in entries:
        if entry.run_id:
            try:
                runs[entry.run_id] = store.get_run(entry.run_id)
            except StoreError:
                continue
    rows = []
    for status in STATUSES:
        group = [e for e in entries if e.status == status]
        if not group:
            continue
        held = [runs[e.run_id] for e in group if e.run_id in runs]
        rows.append(
            StatusRow(
                status=status,
                pairs=len(group),
                runs=len(held),
                steps=sum(store.next_index(r.id) for r in held),
                tokens=sum(r.tokens_prompt + r.tokens_completion for r in held),
            )
        )
    tasks: dict[int, str] = {}
    problems, reasons = [], {}
    for entry in entries:
        if entry.status not in ("failed", "interrupted"):
            continue
        if entry.task_id not in tasks:
            tasks[entry.task_id] = store.get_task(entry.task_id).external_id
        reason, text = split(entry.error)
        reason = reason or ("cancelled" if entry.status == "interrupted" and not text else "stopped")
        reasons[reason] = reasons.get(reason, 0) + 1
        problems.append(
            Problem(
                task=tasks[entry.task_id],
                rollout=entry.rollout,
                status=entry.status,
                attempts=entry.attempts,
                reason=reason,
                error=text,
            )
        )
    return CollectionStatus(name=name, rows=rows, reasons=reasons, problems=problems)
