"""A run whose one step is an existing project: its files (imported into the store as a snapshot) are step 0,
built, rendered, judged and recorded as any step is, with the same nodes, events and store records.

The step's prompt is the system prompt and a request to load the project (`agent/prompts/import.j2`); its
"completion" is the project's text files as an artifact (`import_files.j2`), most telling first, within half
the prompt budget, the rest listed by path. So a run continued from step 0 (`Session.continue_from`, the path
`webgen build --from` and the UI's upload take) shows the coder the project as if it had written it.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from webgen.agent.actions import parse_response
from webgen.core import templates
from webgen.feedback.site.workspace import ApplyReport, Workspace
from webgen.graph import events, nodes, recording
from webgen.graph.deps import Deps
from webgen.graph.run import RunOutcome, fresh_site, guarded, initial_state, outcome_of, system_messages
from webgen.graph.state import StepDraft
from webgen.storage.values import Task

#: the import run's request: what the judge grades step 0 against
IMPORT_REQUEST = "An existing website, imported from {name}: check that it builds and renders, and grade it as it is."
#: how many paths of files not shown the listing names
LISTED_PATHS = 80
_FIRST = ("package.json", "index.html")
_CONFIGS = ("tailwind.config.", "vite.config.", "postcss.config.", "components.json", "tsconfig")


class ImportedStart(BaseModel):
    """What an import run starts from, stored in its config under ``imported`` (so a resume can redo step 0)."""

    name: str
    source: str = Field(description="the folder or zip it came from, as given")
    snapshot: str = Field(description="the snapshot holding the imported files")
    files: int
    total_bytes: int


def import_request(name: str) -> str:
    return IMPORT_REQUEST.format(name=name)


def _rank(path: str) -> tuple[int, int, str]:
    """Entry files, then the app's own sources, then its build configuration, then the rest (UI-kit copies last)."""
    if path in _FIRST:
        group = 0
    elif path.startswith("src/") and "/components/ui/" not in path:
        group = 1
    elif "/" not in path and path.startswith(_CONFIGS):
        group = 2
    else:
        group = 3
    return group, len(PurePosixPath(path).parts), path


def project_listing(name: str, workspace: Workspace, files: list[str], budget_chars: int) -> str:
    """The project's text files as one artifact, most telling first, within `budget_chars`; the rest by path."""
    texts = workspace.files()
    shown: list[tuple[str, str]] = []
    omitted: list[str] = []
    used = 0
    for path in sorted(files, key=_rank):
        content = texts.get(path)
        if content is None or "</boltAction>" in content or used + len(content) > budget_chars:
            omitted.append(path)
            continue
        used += len(content)
        shown.append((path, content if content.endswith("\n") else content + "\n"))
    more = max(0, len(omitted) - LISTED_PATHS)
    return templates.render(
        "webgen.agent", "import_files.j2", project=name, shown=shown, omitted=omitted[:LISTED_PATHS], more=more
    )


def import_run(deps: Deps, task: Task, run_id: str, imported: ImportedStart) -> RunOutcome:
    """Record the imported files as step 0 of a run already started in the store: build, render, judge, record,
    then end the run with step 0 as its best step. An unexpected error marks the run failed (`guarded`)."""
    with guarded(deps, run_id):
        site, workspace = fresh_site(deps)
        workspace.restore(imported.snapshot)
        files = sorted(deps.store.manifest(imported.snapshot))
        system = system_messages(deps, task.instruction)[0]
        request = templates.render("webgen.agent", "import.j2", project=imported.name, files=len(files))
        prompt = deps.store.put_messages([system, {"role": "user", "content": request}])
        listing = project_listing(imported.name, workspace, files, deps.settings.agent.context_tokens * 2)
        [completion] = deps.store.put_messages([{"role": "assistant", "content": listing}])
        deps.emit(events.StepStarted(run_id=run_id, index=0, imported=imported.name))
        draft = StepDraft(
            index=0,
            prompt=prompt,
            completion=completion,
            completion_chars=len(listing),
            kind="edit",
            reply=parse_response(listing).summary(),
            applied=ApplyReport(written=files, unchanged=[], rejected=[]),
        )
        deps.emit(events.FilesApplied(run_id=run_id, index=0, kind="edit", written=files))
        state = {**initial_state(deps, task, run_id, site, imported.snapshot, prompt), "step": draft}
        runtime = Runtime(context=deps)
        state.update(nodes.execute(state, runtime))
        if nodes.after_execute(state) == "judge":
            state.update(nodes.judge(state, runtime))
        state.update(recording.record(state, runtime))
        state.update(recording.select_best(state, runtime))
        return outcome_of(deps, state)
