"""What happens in a run, as typed events: a small union of pydantic values, each with the run id and step index.

Subscribers are callables taking one event; the CLI's progress display, the UI and the collector are three.
A subscriber that raises is logged and skipped: it never stops a run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, Field, TypeAdapter

from webgen.core.kinds import StepKind

logger = logging.getLogger(__name__)


class _Event(BaseModel):
    run_id: str
    index: int | None = Field(default=None, description="the step the event belongs to (None: the run)")
    at: float = Field(default_factory=time.time, description="seconds since the epoch")


class StepStarted(_Event):
    type: Literal["step_started"] = "step_started"
    parent: int | None = None
    imported: str | None = Field(default=None, description="the project this step imports (no model call)")


class FilesApplied(_Event):
    """The reply was parsed and its files written (or it had no usable action: kind invalid)."""

    type: Literal["files_applied"] = "files_applied"
    kind: StepKind
    written: list[str] = Field(default_factory=list)
    rejected: list[str] = Field(default_factory=list, description="'path: reason' for each refused file")
    problems: list[str] = Field(default_factory=list, description="what the parser found wrong with the reply")


class Built(_Event):
    type: Literal["built"] = "built"
    ok: bool
    seconds: float
    diagnostics: list[str] = Field(default_factory=list, description="located build errors, rendered as text")


class RouteResult(BaseModel):
    route: str
    ok: bool
    error: str | None = None
    screenshot: Path | None = None


class Rendered(_Event):
    type: Literal["rendered"] = "rendered"
    served: bool
    routes: list[RouteResult] = Field(default_factory=list)
    failed_checks: list[str] = Field(default_factory=list, description="'name: detail' of each failed error check")


class Judged(_Event):
    type: Literal["judged"] = "judged"
    outcome: str
    score: float | None = None
    description: str = ""
    suggestions: str = ""


class GUITested(_Event):
    type: Literal["gui_tested"] = "gui_tested"
    outcome: str
    verdict: str | None = None
    grade: float | None = None
    instruction: str = ""


class Recorded(_Event):
    type: Literal["recorded"] = "recorded"
    kind: StepKind
    has_error: bool
    judged: bool
    screenshot_score: float | None = None
    gui_grade: float | None = None
    tokens: int = 0
    seconds: float = 0.0


class Backtracked(_Event):
    type: Literal["backtracked"] = "backtracked"
    to: int | None = Field(description="the step whose files and history came back; None: a fresh start")


class Finished(_Event):
    type: Literal["finished"] = "finished"
    status: str
    best_step: int | None = None
    error: str | None = None
    site: Path | None = None


RunEvent = Annotated[
    StepStarted | FilesApplied | Built | Rendered | Judged | GUITested | Recorded | Backtracked | Finished,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[RunEvent] = TypeAdapter(RunEvent)


class Subscriber(Protocol):
    def __call__(self, event: RunEvent) -> None: ...


class LoggingSubscriber:
    """Every event as one INFO line of JSON on the `webgen.events` logger."""

    def __init__(self, name: str = "webgen.events") -> None:
        self.logger = logging.getLogger(name)

    def __call__(self, event: RunEvent) -> None:
        self.logger.info("%s", event.model_dump_json())


def publish(subscribers: Iterable[Subscriber], event: RunEvent) -> None:
    for subscriber in subscribers:
        try:
            subscriber(event)
        except Exception:  # a display must never stop a run
            logger.exception("event subscriber %r failed on %s", subscriber, event.type)
