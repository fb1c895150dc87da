"""Import tasks from JSONL (WebGen-Bench, WebGen-Instruct); export runs, SFT data, Step-GRPO rows, snapshots."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from webgen.storage.models import RunRow, StepRow, TaskRow
from webgen.storage.store import TrajectoryStore
from webgen.storage.values import Step, TaskIn

OnError = Literal["reject", "skip"]


class _TaskLine(BaseModel):
    """One line of WebGen-Bench / WebGen-Instruct JSONL."""

    id: str | int
    instruction: str = Field(min_length=1)
    Category: dict[str, Any] = Field(default_factory=dict)  # the datasets' key
    application_type: str = ""
    ui_instruct: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("instruction")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("instruction is blank")
        return value


class ImportProblem(BaseModel):
    line: int
    message: str


class ImportReport(BaseModel):
    source: str
    lines: int = 0
    inserted: int = 0
    existing: int = 0
    skipped: list[ImportProblem] = Field(default_factory=list)


class ImportRejected(ValueError):
    """The file has bad lines and `on_error="reject"`: nothing was imported."""

    def __init__(self, path: Path, problems: list[ImportProblem]) -> None:
        self.problems = problems
        listed = "; ".join(f"line {p.line}: {p.message}" for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"{path}: {len(problems)} bad line(s), nothing imported: {listed}{more}")


def guess_source(path: Path) -> str:
    text = str(path).lower()
    for name in ("webgen-bench", "webgen-instruct"):
        if name in text:
            return name
    return path.stem


def read_tasks(path: Path, source: str) -> tuple[list[TaskIn], list[ImportProblem], int]:
    """Parse every line; bad lines become problems with their line number. Returns (tasks, problems, lines)."""
    tasks: list[TaskIn] = []
    problems: list[ImportProblem] = []
    lines = 0
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            lines += 1
            try:
                item = _TaskLine.model_validate(json.loads(line))
            except json.JSONDecodeError as exc:
                problems.append(ImportProblem(line=number, message=f"not JSON ({exc.msg})"))
                continue
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(x) for x in first["loc"]) or "line"
                problems.append(ImportProblem(line=number, message=f"{where}: {first['msg']}"))
                continue
            cases = [c for c in item.ui_instruct if isinstance(c, dict) and str(c.get("task", "")).strip()]
            tasks.append(
                TaskIn(
                    source=source,
                    external_id=str(item.id),
                    instruction=item.instruction,
                    category=item.Category,
                    application_type=item.application_type,
                    ui_test_cases=cases,
                )
            )
    return tasks, problems, lines


def import_tasks(
    store: TrajectoryStore,
    path: Path,
    *,
    source: str | None = None,
    on_error: OnError = "reject",
    update_existing: bool = False,
) -> ImportReport:
    """All-or-nothing: every good line lands in one transaction, or (reject) none does."""
    source = source or guess_source(path)
    tasks, problems, lines = read_tasks(path, source)
    if problems and on_error == "reject":
        raise ImportRejected(path, problems)
    inserted, existing = store.add_tasks(tasks, update_existing=update_existing)
    return ImportReport(source=source, lines=lines, inserted=inserted, existing=existing, skipped=problems)


class _MessageCache:
    """Resolves message refs with a cache: consecutive steps share most of their history."""

    def __init__(self, store: TrajectoryStore, size: int = 20_000) -> None:
        self.store, self.size, self.cache = store, size, {}

    def __call__(self, refs: list[str]) -> list[dict[str, Any]]:
        out = []
        for ref in refs:
            if ref not in self.cache:
                if len(self.cache) >= self.size:
                    self.cache.clear()
                self.cache[ref] = json.loads(self.store.blobs.get(ref))
            out.append(self.cache[ref])
        return out


def _runs_query(status: str | None):
    query = select(RunRow).order_by(RunRow.started_at, RunRow.id)
    return query.where(RunRow.status == status) if status else query


def iter_runs(store: TrajectoryStore, *, status: str | None = None, with_messages: bool = False) -> Iterator[dict]:
    """One dict per run: the run, its task and its steps (messages resolved if asked)."""
    resolve = _MessageCache(store)
    with Session(store.reader) as session:
        tasks: dict[int, dict] = {}
        for run in session.scalars(_runs_query(status)):
            if run.task_id not in tasks:
                task = session.get(TaskRow, run.task_id)
                tasks[run.task_id] = {
                    "id": task.id,
                    "source": task.source,
                    "external_id": task.external_id,
                    "instruction": task.instruction,
                }
            steps = []
            for row in session.scalars(select(StepRow).where(StepRow.run_id == run.id).order_by(StepRow.index)):
                step = Step.model_validate(row).model_dump(mode="json")
                if with_messages:
                    step["prompt"] = resolve(step["prompt_refs"])
                steps.append(step)
            yield {
                "run": {c.name: getattr(run, c.name) for c in RunRow.__table__.columns},
                "task": tasks[run.task_id],
                "steps": steps,
            }


def export_runs(store: TrajectoryStore, out: Path, **filters: Any) -> int:
    count = 0
    with out.open("w", encoding="utf-8") as handle:
        for item in iter_runs(store, **filters):
            handle.write(json.dumps(item, default=str, ensure_ascii=False) + "\n")
            count += 1
    return count


def sft_rows(store: TrajectoryStore, *, min_score: float = 3.0) -> Iterator[dict[str, Any]]:
    """Chat conversations ending in the best step of each finished run whose best step scored `min_score`+."""
    resolve = _MessageCache(store)
    with Session(store.reader) as session:
        query = select(RunRow, StepRow).join(
            StepRow, (StepRow.run_id == RunRow.id) & (StepRow.index == RunRow.best_step)
        )
        for run, step in session.execute(query.where(RunRow.status == "finished").order_by(RunRow.started_at)):
            score = max(step.screenshot_score or 0, step.gui_grade or 0)
            if step.has_error or score < min_score:
                continue
            messages = resolve(step.prompt_refs) + [{"role": "assistant", "content": step.completion}]
            yield {"messages": messages, "run_id": run.id, "task_id": run.task_id, "step": step.index, "score": score}


def grpo_rows(store: TrajectoryStore, *, status: str | None = None) -> Iterator[dict[str, Any]]:
    """One row per stored step state: the prompt that produced it, the files it was applied to, its scores."""
    resolve = _MessageCache(store)
    with Session(store.reader) as session:
        query = (
            select(StepRow, RunRow.task_id, TaskRow.instruction)
            .select_from(StepRow)
            .join(RunRow, StepRow.run_id == RunRow.id)
            .join(TaskRow, RunRow.task_id == TaskRow.id)
        )
        if status:
            query = query.where(RunRow.status == status)
        for step, task_id, instruction in session.execute(query.order_by(StepRow.run_id, StepRow.index)):
            if not step.prompt_refs:
                continue
            yield {
                "prompt": resolve(step.prompt_refs),
                "task_id": task_id,
                "instruction": instruction,
                "run_id": step.run_id,
                "step": step.index,
                "kind": step.kind,
                "base_snapshot_id": step.base_snapshot_id or "",
                "snapshot_id": step.snapshot_id or "",
                "screenshot_score": step.screenshot_score,
                "gui_grade": step.gui_grade,
                "reward": step.reward,
                "has_error": step.has_error,
            }


def grpo_dataset(store: TrajectoryStore, **filters: Any):  # -> datasets.Dataset (imported lazily)
    """Step-GRPO rows as a `datasets.Dataset` (needs the `train` extra)."""
    from datasets import Dataset

    return Dataset.from_list(list(grpo_rows(store, **filters)))


def export_snapshot(store: TrajectoryStore, snapshot_id: str, dest: Path) -> Path:
    """Write a snapshot's files to a folder, or to a zip file when `dest` ends in .zip."""
    files = store.manifest(snapshot_id)
    if dest.suffix == ".zip":
        dest.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as archive:
            for rel, digest in sorted(files.items()):
                archive.writestr(rel, store.blobs.get(digest))
        return dest
    for rel, digest in files.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(store.blobs.get(digest))
    return dest
