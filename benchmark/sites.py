"""What an eval evaluates: the sites of a collection (each task's best step) or a folder of sites by task id
(each a folder or a zip), and how one is laid out in a work folder ready to build.

A site from a collection is its run's best step, restored from the stored snapshot. A site from the folder is
imported as `webgen render` and `webgen build --from` import a project (`feedback/site/project_import.py`:
regular files only, no `node_modules`, `dist`, `.git` or lockfiles, a zip's paths checked, within size caps; a
project that is not React + Vite, or has no package.json, is a site that failed to start, with the reason), so
nothing in it can reach outside the work folder. Either way the scaffold's shared `node_modules` is linked in by
the caller, and extra dependencies resolve through the npm cache when the site is built.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel

from webgen.feedback.evaluation.rewards import static_gate
from webgen.feedback.site.project_import import ImportLimits, ProjectImportError, import_project
from webgen.storage import collections
from webgen.storage.io import export_snapshot
from webgen.storage.store import StoreError, TrajectoryStore
from webgen.storage.values import Task

MAX_FILES = 5_000
MAX_BYTES = 200 * 1024 * 1024
#: an evaluated site is only built, never edited: the caps of one `--sites` entry
LIMITS = ImportLimits(max_files=MAX_FILES, max_total_bytes=MAX_BYTES, max_file_bytes=MAX_BYTES)
_SKIP_PARTS = {"node_modules", "dist", ".git"}
_GATE_SUFFIXES = (".tsx", ".ts", ".jsx", ".js", ".css", ".json", ".html")


class EvalInputError(ValueError):
    """Bad input: an unknown collection, a folder that is not there."""


class SiteError(RuntimeError):
    """A site that cannot be laid out (too big, unreadable, a snapshot that is gone); one line says why."""


class SiteSource(BaseModel):
    """Where one site (one task, one rollout) comes from; `problem` says why there is nothing to evaluate."""

    task_id: str
    rollout: int = 0
    run_id: str | None = None
    step: int | None = None
    best_step: int | None = None
    steps: int | None = None
    tokens: int = 0  # what generating it cost: the run's tokens, and its steps (one coder call each)
    calls: int = 0
    folder: Path | None = None  # a project folder or zip
    snapshot_id: str | None = None
    problem: str | None = None


# --- finding the sites ----------------------------------------------------------------------------


def folder_sources(root: Path, task_ids: list[str]) -> list[SiteSource]:
    """One site per task id: `root/<task id>` or `root/<task id>.zip` (neither: a site that failed to start)."""
    if not root.is_dir():
        raise EvalInputError(f"no sites folder {root}")
    found = []
    for task_id in task_ids:
        folder, archive = root / task_id, root / f"{task_id}.zip"
        if folder.is_dir() and not folder.is_symlink():
            found.append(SiteSource(task_id=task_id, folder=folder))
        elif archive.is_file() and not archive.is_symlink():
            found.append(SiteSource(task_id=task_id, folder=archive))
        else:
            found.append(SiteSource(task_id=task_id, problem=f"no folder {folder.name} or {archive.name} in {root}"))
    if found and all(s.problem for s in found):
        raise EvalInputError(f"no folder or zip in {root} is named by a selected task id (such as {task_ids[0]})")
    return found


def _best_snapshot(store: TrajectoryStore, run_id: str, best: int) -> tuple[int | None, str | None]:
    """The step whose files the best step shows (a GUI-test or finish step shows its parent's) and its snapshot."""
    steps = {s.index: s for s in store.steps(run_id)}
    current = steps.get(best)
    while current is not None:
        if current.snapshot_id:
            return current.index, current.snapshot_id
        current = steps.get(current.parent_index) if current.parent_index is not None else None
    return None, None


def collection_sources(
    store: TrajectoryStore, name: str, tasks: list[Task], *, all_rollouts: bool
) -> tuple[str | None, list[SiteSource]]:
    """(mode, sites) of a collection: rollout 0 of each task, or every rollout; a run with no usable best step
    (failed, unfinished) is a site that failed to start, with the reason."""
    entries = collections.entries(store, name)
    if not entries:
        known = ", ".join(collections.names(store)) or "none"
        raise EvalInputError(f"no collection {name} (collections: {known})")
    by_id = {t.id: t for t in tasks}
    modes = {e.mode for e in entries}
    found = []
    for entry in entries:
        task = by_id.get(entry.task_id)
        if task is None or (entry.rollout != 0 and not all_rollouts):
            continue
        source = SiteSource(task_id=task.external_id, rollout=entry.rollout, run_id=entry.run_id)
        found.append(_from_run(store, source, entry.status, entry.error))
    return (modes.pop() if len(modes) == 1 else None), found


def _from_run(store: TrajectoryStore, source: SiteSource, status: str, error: str | None) -> SiteSource:
    if source.run_id is None:
        return source.model_copy(update={"problem": f"its run is {status} and has not started"})
    try:
        run = store.get_run(source.run_id)
    except StoreError:
        return source.model_copy(update={"problem": f"its run {source.run_id} is not in the store"})
    steps = store.next_index(run.id)
    tokens = run.tokens_prompt + run.tokens_completion
    update: dict = {"best_step": run.best_step, "steps": steps, "tokens": tokens, "calls": steps}
    if status != "finished" or run.best_step is None:
        why = f"its run is {run.status}" + (f": {run.error or error}" if run.error or error else "")
        return source.model_copy(update={**update, "problem": why})
    step, snapshot = _best_snapshot(store, run.id, run.best_step)
    if snapshot is None:
        return source.model_copy(update={**update, "problem": "its best step has no stored files"})
    return source.model_copy(update={**update, "step": step, "snapshot_id": snapshot})


# --- laying a site out ----------------------------------------------------------------------------


def materialise(source: SiteSource, dest: Path, store: TrajectoryStore | None, *, any_framework: bool = False) -> None:
    """Write the site's files into the empty folder `dest`; SiteError when it cannot. `any_framework`
    (`--start dev`): a site of any framework, or plain HTML, is laid out too (`load_project(any_framework=True)`)."""
    dest.mkdir(parents=True, exist_ok=True)
    if source.snapshot_id is not None:
        try:
            export_snapshot(store, source.snapshot_id, dest)
        except (KeyError, ValueError, OSError) as exc:
            raise SiteError(f"the stored files of step {source.step} cannot be read: {exc}") from exc
    elif source.folder is not None:
        _import(source.folder, dest, any_framework=any_framework)
    else:
        raise SiteError(source.problem or "nothing to evaluate")


def _import(src: Path, dest: Path, *, any_framework: bool) -> None:
    try:
        import_project(src, dest, limits=LIMITS, any_framework=any_framework)
    except ProjectImportError as exc:
        raise SiteError(str(exc)) from exc
    except OSError as exc:
        raise SiteError(f"cannot lay out {src.name}: {exc.strerror or exc}") from exc


def gate_problems(site: Path) -> list[str]:
    """WebGen-R1's static gate (from the cascaded reward) over the site's source files."""
    files: dict[str, str] = {}
    for root, dirs, names in os.walk(site):
        dirs[:] = [d for d in dirs if d not in _SKIP_PARTS]
        for name in names:
            path = Path(root) / name
            rel = path.relative_to(site).as_posix()
            if name.endswith(_GATE_SUFFIXES) and not path.is_symlink():
                files[rel] = path.read_text(encoding="utf-8", errors="replace")
    return static_gate(files, has_artifact=bool(files), truncated=[], unsafe=[])
