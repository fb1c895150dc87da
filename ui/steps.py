"""The stored steps of a browser session's runs, as the panels show them: timeline, screenshots, files, diff, zip."""

from __future__ import annotations

import difflib
import re
import shutil
import tempfile
from pathlib import Path

from pydantic import BaseModel

from webgen.storage.io import export_snapshot
from webgen.storage.store import StoreError, TrajectoryStore
from webgen.storage.values import Step
from webgen.ui.state import Selection

TIMELINE_COLUMNS = ["step", "run", "kind", "build", "score", "GUI", "seconds", "tokens", "best"]
_TEXT_LIMIT = 200_000
_SNAPSHOT_ID = re.compile(r"[0-9A-Za-z_-]{8,128}")


class StepView(BaseModel):
    """One row of the timeline, and the key its picker uses."""

    key: str
    row: list[str | int | float]


def step_key(sel: Selection) -> str:
    return f"{sel.run_id}:{sel.step}"


def parse_key(key: str | None) -> Selection | None:
    if not key or ":" not in key:
        return None
    run_id, _, step = key.rpartition(":")
    return Selection(run_id=run_id, step=int(step)) if step.isdigit() else None


def timeline(store: TrajectoryStore, runs: list[str]) -> list[StepView]:
    views: list[StepView] = []
    for run_id in runs:
        try:
            run = store.get_run(run_id)
        except StoreError:
            continue
        for s in store.steps(run_id):
            build = "-" if s.build_ok is None else ("ok" if s.build_ok else "failed")
            score = "" if s.screenshot_score is None else f"{s.screenshot_score:g}"
            gui = s.gui_verdict or ""
            if s.gui_grade is not None:
                gui += f" ({s.gui_grade:g})"
            seconds = round(sum(float(v) for v in s.latency.values() if isinstance(v, int | float)), 1)
            best = "★" if run.best_step == s.index else ""
            tokens = s.tokens_prompt + s.tokens_completion
            row = [s.index, run_id[:8], str(s.kind), build, score, gui, seconds, tokens, best]
            views.append(StepView(key=step_key(Selection(run_id=run_id, step=s.index)), row=row))
    return views


def default_selection(store: TrajectoryStore, run_id: str) -> Selection | None:
    """The run's best step, else its last one."""
    try:
        run = store.get_run(run_id)
        steps = store.steps(run_id)
    except StoreError:
        return None
    if run.best_step is not None:
        return Selection(run_id=run_id, step=run.best_step)
    return Selection(run_id=run_id, step=steps[-1].index) if steps else None


def get_step(store: TrajectoryStore, sel: Selection) -> Step | None:
    try:
        return store.get_step(sel.run_id, sel.step)
    except StoreError:
        return None


def site_snapshot(store: TrajectoryStore, sel: Selection) -> str | None:
    step = get_step(store, sel)
    if step is None:
        return None
    return step.snapshot_id or step.base_snapshot_id


def files_of(store: TrajectoryStore, snapshot_id: str | None) -> dict[str, str]:
    return store.manifest(snapshot_id) if snapshot_id else {}


def file_text(store: TrajectoryStore, snapshot_id: str | None, path: str) -> str:
    digest = files_of(store, snapshot_id).get(path)
    if digest is None:
        return ""
    data = store.blobs.get(digest)
    if b"\0" in data[:4096]:
        return f"(binary, {len(data)} bytes)"
    return data[:_TEXT_LIMIT].decode("utf-8", "replace")


def diff(store: TrajectoryStore, step: Step) -> str:
    """The step's files against the files it started from (its base snapshot), as a unified diff."""
    before = files_of(store, step.base_snapshot_id)
    after = files_of(store, step.snapshot_id) if step.snapshot_id else before
    chunks: list[str] = []
    for path in sorted(set(before) | set(after)):
        if before.get(path) == after.get(path):
            continue
        old = file_text(store, step.base_snapshot_id, path).splitlines(keepends=True) if path in before else []
        new = file_text(store, step.snapshot_id, path).splitlines(keepends=True) if path in after else []
        chunks.extend(difflib.unified_diff(old, new, f"a/{path}", f"b/{path}"))
    return "".join(chunks) or "(no changes)"


def screenshots(store: TrajectoryStore, step: Step, dest: Path) -> list[tuple[str, str]]:
    """(path, route) of the step's viewport screenshots, written under `dest`."""
    shots = [s for s in store.screenshots(step.id) if s.kind == "viewport"]
    dest.mkdir(parents=True, exist_ok=True)
    out: list[tuple[str, str]] = []
    for i, shot in enumerate(shots):
        path = dest / f"{step.run_id[:8]}-{step.index}-{i}.png"
        path.write_bytes(shot.png)
        out.append((str(path), shot.route))
    return out


def file_tree(store: TrajectoryStore, snapshot_id: str, root: Path) -> Path:
    """The snapshot's files written under `root/<snapshot id>/` (once) for the file tree to list; every path stays
    inside that folder."""
    if not _SNAPSHOT_ID.fullmatch(snapshot_id):
        raise ValueError(f"not a snapshot id: {snapshot_id[:40]!r}")
    folder = root / snapshot_id
    if folder.is_dir():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tree-", dir=root))
    base = staging.resolve()
    for path, digest in files_of(store, snapshot_id).items():
        target = (base / path).resolve()
        if not target.is_relative_to(base) or target == base:
            continue  # never outside the folder, whatever the manifest says
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(store.blobs.get(digest))
    try:
        staging.rename(folder)
    except OSError:  # written meanwhile by another handler of this session: keep that one
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def routes_of(store: TrajectoryStore, step: Step) -> list[str]:
    """The routes the step (or the nearest ancestor that rendered) showed; '/' at least."""
    current: Step | None = step
    while current is not None:
        routes = list(dict.fromkeys(s.route for s in store.screenshots(current.id)))
        if routes:
            return routes
        if current.parent_index is None:
            break
        current = get_step(store, Selection(run_id=current.run_id, step=current.parent_index))
    return ["/"]


def export_zip(store: TrajectoryStore, sel: Selection, dest_dir: Path) -> Path | None:
    snapshot = site_snapshot(store, sel)
    if snapshot is None:
        return None
    return export_snapshot(store, snapshot, dest_dir / f"site-{sel.run_id[:8]}-step{sel.step}.zip")
