"""Conversations: the runs one chat of the UI started, found by the label each run carries in its config.

A run started from the UI stores ``config["ui"] = {"conversation": <id>, "title": <the chat's first message>}``
(the session API's `extra`). Nothing else in the store changes: these are queries over the existing `runs` table,
on SQLite and PostgreSQL alike. Runs without the label (the CLI's, a collection's) are never listed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from webgen.storage.models import RunRow
from webgen.storage.store import TrajectoryStore
from webgen.storage.values import Run

LABEL = "ui"
TITLE_LIMIT = 120


class Conversation(BaseModel):
    """One chat's runs, summed up for a list: its title, when it began and last ran, and its last run's status."""

    id: str
    title: str
    started_at: datetime
    updated_at: datetime
    status: str
    runs: int


def labels(conversation_id: str, title: str) -> dict[str, Any]:
    """The `extra` a run of conversation `conversation_id` is started with."""
    short = " ".join(title.split())
    if len(short) > TITLE_LIMIT:
        short = short[: TITLE_LIMIT - 1] + "…"
    return {LABEL: {"conversation": conversation_id, "title": short}}


def conversation_of(run: Run) -> str | None:
    label = run.config.get(LABEL)
    value = label.get("conversation") if isinstance(label, dict) else None
    return value if isinstance(value, str) else None


def _labelled():
    return RunRow.config[LABEL]["conversation"].as_string()


def list_conversations(store: TrajectoryStore, *, limit: int = 50) -> list[Conversation]:
    """The most recently active conversations first (at most `limit`)."""
    key, title_of = _labelled(), RunRow.config[LABEL]["title"].as_string()
    query = select(key, title_of, RunRow.status, RunRow.started_at).where(key.is_not(None)).order_by(RunRow.started_at)
    found: dict[str, Conversation] = {}
    with Session(store.reader) as session:
        for cid, title, status, started in session.execute(query):
            if cid not in found:
                title = title or "(untitled)"
                found[cid] = Conversation(
                    id=cid, title=title, started_at=started, updated_at=started, status=status, runs=1
                )
            else:
                found[cid] = found[cid].model_copy(
                    update={"updated_at": started, "status": status, "runs": found[cid].runs + 1}
                )
    return sorted(found.values(), key=lambda c: c.updated_at, reverse=True)[:limit]


def conversation_runs(store: TrajectoryStore, conversation_id: str) -> list[Run]:
    """The conversation's runs in the order they started (empty for an unknown id)."""
    query = select(RunRow).where(_labelled() == conversation_id).order_by(RunRow.started_at)
    with Session(store.reader) as session:
        return [Run.model_validate(row) for row in session.scalars(query)]
