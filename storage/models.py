"""SQLAlchemy 2.x tables of the trajectory store. Changes here need an Alembic migration (migrations/)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class TaskRow(Base):
    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_tasks_source_external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(128))
    instruction: Mapped[str] = mapped_column(Text)
    category: Mapped[dict[str, Any]] = mapped_column(default=dict)
    application_type: Mapped[str] = mapped_column(String(256), default="")
    ui_test_cases: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    mode: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    models: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="running", index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    best_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tokens_prompt: Mapped[int] = mapped_column(Integer, default=0)
    tokens_completion: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    timings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    steps: Mapped[list[StepRow]] = relationship(back_populates="run", order_by="StepRow.index", passive_deletes=True)


class StepRow(Base):
    __tablename__ = "steps"
    __table_args__ = (UniqueConstraint("run_id", "index", name="uq_steps_run_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    parent_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kind: Mapped[str] = mapped_column(String(16))
    prompt_refs: Mapped[list[Any]] = mapped_column(default=list)
    completion: Mapped[str] = mapped_column(Text, default="")
    feedback: Mapped[str] = mapped_column(Text, default="")
    actions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    base_snapshot_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    snapshot_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    observation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    build_ok: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    served: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    rendered: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    errors: Mapped[list[Any]] = mapped_column(default=list)
    has_error: Mapped[bool] = mapped_column(Boolean, default=False)
    screenshot_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    judge: Mapped[dict[str, Any]] = mapped_column(default=dict)
    gui_verdict: Mapped[str | None] = mapped_column(String(16), nullable=True)
    gui_grade: Mapped[float | None] = mapped_column(Float, nullable=True)
    gui: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tokens_prompt: Mapped[int] = mapped_column(Integer, default=0)
    tokens_completion: Mapped[int] = mapped_column(Integer, default=0)
    latency: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reward: Mapped[float | None] = mapped_column(Float, nullable=True)
    reward_breakdown: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    run: Mapped[RunRow] = relationship(back_populates="steps")


class BlobRow(Base):
    """Content-addressed bytes (sha256 of the raw content): files, manifests, messages, screenshots."""

    __tablename__ = "blobs"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    codec: Mapped[str] = mapped_column(String(8))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class SnapshotRow(Base):
    """A workspace snapshot; its manifest is the blob with the same digest."""

    __tablename__ = "snapshots"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    files: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ScreenshotRow(Base):
    __tablename__ = "screenshots"
    __table_args__ = (Index("ix_screenshots_step", "step_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("steps.id", ondelete="CASCADE"))
    route: Mapped[str] = mapped_column(String(512))
    kind: Mapped[str] = mapped_column(String(16))
    blob: Mapped[str] = mapped_column(String(64))


class JudgmentRow(Base):
    """Cache of model judgments keyed by hashes of (model, prompt, image)."""

    __tablename__ = "judgments"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(256))
    prompt_hash: Mapped[str] = mapped_column(String(64))
    image_hash: Mapped[str] = mapped_column(String(64))
    value: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
