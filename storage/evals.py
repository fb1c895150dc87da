"""WebGen-Bench evaluations in the store (`webgen eval`): one row per eval, per evaluated site, per test case.

Tables (migration 0004): `evals` (name, kind, source, mode, config), `eval_sites` (one per (task, rollout): the
WebGen-R1 VRR parts, whether it started, the appearance grade and the judge's reply) and `eval_cases` (one per
(task, rollout, case): both verdicts, the answer, the transcript, tokens, calls and seconds). A row is written
once its work is done, so a re-run skips what is stored; `clear` forgets an eval's rows for `--rerun`.
Text from models and pages is made storable (`safe_data`) here, for every backend.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    insert,
    select,
    update,
)

from webgen.core.text import safe_data
from webgen.storage.blobs import insert_ignore
from webgen.storage.models import Base, utcnow
from webgen.storage.store import StoreError, TrajectoryStore

evals = Table(
    "evals",
    Base.metadata,  # one metadata for every table of the store: Alembic's autogenerate sees them all
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("source", Text, nullable=False),
    Column("mode", String(16)),
    Column("config", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
eval_sites = Table(
    "eval_sites",
    Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("eval_id", Integer, ForeignKey(evals.c.id, ondelete="CASCADE"), nullable=False),
    Column("task_id", String(128), nullable=False),
    Column("rollout", Integer, nullable=False),
    Column("run_id", String(64)),
    Column("step", Integer),
    Column("best_step", Integer),
    Column("steps", Integer),
    Column("gate", Boolean, nullable=False),
    Column("built", Boolean, nullable=False),
    Column("served", Boolean, nullable=False),
    Column("rendered", Boolean, nullable=False),
    Column("started", Boolean, nullable=False),
    Column("appearance", Integer, nullable=False),
    Column("aas", Float, nullable=False),
    Column("judge", JSON, nullable=False),
    Column("tokens", Integer, nullable=False),
    Column("calls", Integer, nullable=False),
    Column("error", Text),
    Column("updated_at", DateTime(timezone=True)),
    UniqueConstraint("eval_id", "task_id", "rollout", name="uq_eval_sites_site"),
)
eval_cases = Table(
    "eval_cases",
    Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("eval_id", Integer, ForeignKey(evals.c.id, ondelete="CASCADE"), nullable=False),
    Column("task_id", String(128), nullable=False),
    Column("rollout", Integer, nullable=False),
    Column("case_index", Integer, nullable=False),
    Column("instruction_category", String(128), nullable=False),
    Column("case_category", String(128), nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("substring_verdict", String(16), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("answer", Text, nullable=False),
    Column("transcript", JSON, nullable=False),
    Column("actions", Integer, nullable=False),
    Column("tokens", Integer, nullable=False),
    Column("calls", Integer, nullable=False),
    Column("seconds", Float, nullable=False),
    Column("error", Text),
    Column("updated_at", DateTime(timezone=True)),
    UniqueConstraint("eval_id", "task_id", "rollout", "case_index", name="uq_eval_cases_case"),
)


class EvalInfo(BaseModel):
    id: int
    name: str
    kind: str
    source: str
    mode: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime


class SiteRecord(BaseModel):
    """One evaluated site (one task, one rollout)."""

    task_id: str
    rollout: int = 0
    run_id: str | None = None
    step: int | None = None
    best_step: int | None = None
    steps: int | None = None
    gate: bool = False
    built: bool = False
    served: bool = False
    rendered: bool = False
    started: bool = False
    appearance: int = Field(default=0, ge=0, le=5)
    aas: float = Field(default=0.0, ge=0, le=5)
    judge: dict[str, Any] = Field(default_factory=dict, description="the appearance judge's reply and outcome")
    tokens: int = 0
    calls: int = 0
    error: str | None = None


class CaseRecord(BaseModel):
    """One ui_instruct test case of one site."""

    task_id: str
    rollout: int = 0
    case_index: int
    instruction_category: str = ""
    case_category: str = ""
    verdict: str
    substring_verdict: str
    outcome: str = "ok"
    answer: str = ""
    transcript: list[dict[str, Any]] = Field(default_factory=list)
    actions: int = 0
    tokens: int = 0
    calls: int = 0
    seconds: float = 0.0
    error: str | None = None


def ensure_eval(
    store: TrajectoryStore, name: str, *, kind: str, source: str, mode: str | None, config: dict[str, Any]
) -> EvalInfo:
    """The eval of this name, created if new; an existing one must be of the same kind and source."""
    found = get_eval(store, name)
    if found is None:
        row = {"name": name, "kind": kind, "source": source, "mode": mode, "config": safe_data(config)}
        with store.engine.begin() as conn:
            conn.execute(insert_ignore(store.engine, evals, [{**row, "created_at": utcnow()}]))
        found = get_eval(store, name)
        assert found is not None
    if (found.kind, found.source) != (kind, source):
        raise StoreError(f"eval {name} evaluated {found.kind} {found.source}, not {kind} {source}: use another name")
    with store.engine.begin() as conn:  # the latest options (workers, models) are the ones shown
        conn.execute(update(evals).where(evals.c.id == found.id).values(config=safe_data(config), mode=mode))
    return found.model_copy(update={"config": config, "mode": mode})


def get_eval(store: TrajectoryStore, name: str) -> EvalInfo | None:
    with store.reader.connect() as conn:
        row = conn.execute(select(evals).where(evals.c.name == name)).mappings().first()
    return EvalInfo.model_validate(dict(row)) if row else None


def names(store: TrajectoryStore) -> list[str]:
    with store.reader.connect() as conn:
        return list(conn.scalars(select(evals.c.name).order_by(evals.c.name)))


def put_site(store: TrajectoryStore, eval_id: int, record: SiteRecord) -> None:
    """Store a site's row, replacing an earlier one of the same (task, rollout)."""
    row = {**safe_data(record.model_dump(mode="json")), "eval_id": eval_id, "updated_at": utcnow()}
    key = (eval_sites.c.eval_id == eval_id) & (eval_sites.c.task_id == record.task_id)
    with store.engine.begin() as conn:
        conn.execute(delete(eval_sites).where(key & (eval_sites.c.rollout == record.rollout)))
        conn.execute(insert(eval_sites).values(row))


def put_case(store: TrajectoryStore, eval_id: int, record: CaseRecord) -> None:
    """Store a case's row, replacing an earlier one of the same (task, rollout, case)."""
    row = {**safe_data(record.model_dump(mode="json")), "eval_id": eval_id, "updated_at": utcnow()}
    c = eval_cases.c
    key = (c.eval_id == eval_id) & (c.task_id == record.task_id) & (c.rollout == record.rollout)
    with store.engine.begin() as conn:
        conn.execute(delete(eval_cases).where(key & (c.case_index == record.case_index)))
        conn.execute(insert(eval_cases).values(row))


def sites(store: TrajectoryStore, eval_id: int) -> list[SiteRecord]:
    query = select(eval_sites).where(eval_sites.c.eval_id == eval_id)
    with store.reader.connect() as conn:
        rows = conn.execute(query.order_by(eval_sites.c.task_id, eval_sites.c.rollout)).mappings()
        return [SiteRecord.model_validate(dict(row)) for row in rows]


def cases(store: TrajectoryStore, eval_id: int) -> list[CaseRecord]:
    c = eval_cases.c
    query = select(eval_cases).where(c.eval_id == eval_id).order_by(c.task_id, c.rollout, c.case_index)
    with store.reader.connect() as conn:
        return [CaseRecord.model_validate(dict(row)) for row in conn.execute(query).mappings()]


def clear(store: TrajectoryStore, eval_id: int, task_ids: list[str] | None = None) -> None:
    """Forget the eval's site and case rows (of these tasks only, when given): `--rerun`."""
    with store.engine.begin() as conn:
        for table in (eval_cases, eval_sites):
            query = delete(table).where(table.c.eval_id == eval_id)
            if task_ids is not None:
                query = query.where(table.c.task_id.in_(task_ids))
            conn.execute(query)
