"""`webgen build --from PATH|ZIP ["what to change"]`: an existing Vite + React project becomes step 0 of a run
(imported, built, rendered, judged), and with a request the agent continues from that step in a new run."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from webgen.cli.common import console, fail


def load(path: Path) -> Any:
    """The checked project (a `ProjectPlan`), or a one-line error that says what is wrong and how to fix it."""
    from webgen.feedback.site.project_import import ProjectImportError, load_project

    try:
        return load_project(path)
    except ProjectImportError as exc:
        raise fail(str(exc)) from exc


def run_from(session: Any, plan: Any, request: str | None, run_ids: list[str], cfg: Any, events: str) -> Any:
    """Import the project as run `run_ids[0]`; with a request, continue from its step 0 in a new run (its id is
    appended to `run_ids`). Returns the last run's outcome."""
    found = plan.project
    quiet = events == "json"
    if not quiet:
        console.print(f"run {run_ids[0]}: importing {found.name} ({len(found.files)} file(s)) as step 0")
    from webgen.feedback.site.project_import import ProjectImportError

    try:
        imported = session.import_project(plan, run_id=run_ids[0], settings=cfg)
    except ProjectImportError as exc:  # a zip whose data is not what its directory said: no run was started
        raise fail(str(exc)) from exc
    if request is None or imported.status != "finished":
        return imported
    run_ids.append(uuid.uuid4().hex)
    if not quiet:
        console.print(f"run {run_ids[-1]} (agent): continues from step 0 of run {run_ids[0][:8]}")
    return session.continue_from(run_ids[0], 0, request, new_run_id=run_ids[-1], settings=cfg)
