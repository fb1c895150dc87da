"""Bring your own project through the session API: an existing site (a zip with one top folder, or a folder) is
step 0 of a run (its snapshot holds the imported files, binary ones and its own tailwind.config.js included;
built, rendered and judged), and the scripted coder continues it from that step. Real builds and Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.graph.conftest import judge_rules, loop_settings
from tests.projects import HEADING, TAILWIND_CONFIG, png, project_files, write_project, zip_project
from webgen.agent.fake_server import FakeLLMServer
from webgen.core.settings import Settings
from webgen.feedback.site.environment import SiteEnvironment
from webgen.graph import events
from webgen.graph.import_run import import_request
from webgen.graph.session import Session
from webgen.storage.io import export_snapshot
from webgen.storage.training import conversations

pytestmark = [pytest.mark.browser, pytest.mark.node]

CONTACT = (
    '<boltArtifact id="s" title="s"><boltAction type="file" filePath="src/pages/Contact.tsx">\n'
    "export default function Contact() {\n"
    '  return <main className="p-10"><h1 className="text-3xl text-brand">Contact us</h1>'
    "<p>Call the workshop any weekday between nine and five.</p></main>;\n}\n"
    "</boltAction></boltArtifact>"
)


def test_an_imported_zip_is_step_0_and_the_agent_continues_it(
    env: SiteEnvironment, settings: Settings, tmp_path: Path
) -> None:
    rules = [{"model": "coder", "times": -1, "reply": CONTACT}, *judge_rules(4)]
    seen: list[events.RunEvent] = []
    with FakeLLMServer(rules) as server:
        cfg = loop_settings(settings, tmp_path / "home", server, max_steps=1)
        with Session(cfg, env=env, subscribers=[seen.append]) as session:
            imported = session.import_project(zip_project(tmp_path / "harbour-bikes.zip"))
            follow = session.continue_from(imported.run_id, 0, "Add a contact page")
            store = session.store
            first = store.get_step(imported.run_id, 0)
            exported = export_snapshot(store, first.snapshot_id, tmp_path / "step0")
            coder_calls = [r for r in server.requests if r.model == "coder"]
            run = store.get_run(imported.run_id)
            task = store.get_task(run.task_id)
            continued = store.steps(follow.run_id)
            prompt = store.messages(continued[0].prompt_refs)
            shots = store.screenshots(first.id)
            sft = {row["run_id"] for row in conversations(store, min_score=0)}

    # step 0: exactly the project's files (the lockfile, node_modules, dist and .env.local left out)
    assert (imported.status, imported.steps, imported.best_step) == ("finished", 1, 0)
    expected = project_files()
    assert sorted(store.manifest(first.snapshot_id)) == sorted(expected)
    assert (exported / "public" / "logo.png").read_bytes() == png()
    assert (exported / "tailwind.config.js").read_text() == TAILWIND_CONFIG
    assert first.kind == "edit" and first.base_snapshot_id is None and first.build_ok and first.rendered
    assert first.screenshot_score == 4 and first.judge["outcome"] == "ok" and not first.has_error
    assert {s.route for s in shots} >= {"/", "/about"}
    assert task.instruction == import_request("harbour-bikes") and run.config["imported"]["files"] == len(expected)
    assert HEADING in first.completion and 'filePath="src/App.tsx"' in first.completion  # the coder sees the files
    assert "public/logo.png" in first.completion.split("</boltArtifact>")[1]  # binary: listed, not shown
    started = next(e for e in seen if e.type == "step_started" and e.run_id == imported.run_id)
    assert started.imported == "harbour-bikes"
    assert imported.run_id not in sft and follow.run_id in sft  # the file dump is not a model's reply to train on

    # the continuation: step 0's files and conversation, then the request
    assert follow.status == "finished" and len(coder_calls) == 1
    assert continued[0].base_snapshot_id == first.snapshot_id
    assert prompt[-3]["content"] == first.completion and "Add a contact page" in prompt[-1]["content"]
    assert store.get_run(follow.run_id).config["continued_from"] == {"run_id": imported.run_id, "step": 0}
    after = store.manifest(continued[0].snapshot_id)
    assert (
        "src/pages/Contact.tsx" in after
        and after["public/logo.png"] == store.manifest(first.snapshot_id)["public/logo.png"]
    )


def test_an_imported_folder_that_does_not_build_is_an_error_step_0(
    env: SiteEnvironment, settings: Settings, tmp_path: Path
) -> None:
    """A folder import (no top folder to unwrap), with a syntax error: step 0 records the failed build."""
    broken = {"src/App.tsx": "export default function App() {\n  return <main>oops</div>;\n}\n"}
    folder = write_project(tmp_path / "broken-site", broken)
    with FakeLLMServer(judge_rules(4)) as server:
        cfg = loop_settings(settings, tmp_path / "home", server, max_steps=1)
        with Session(cfg, env=env) as session:
            imported = session.import_project(folder)
            step = session.store.get_step(imported.run_id, 0)
            files = session.store.manifest(step.snapshot_id)
        judged = [r for r in server.requests if r.model == "judge"]
    assert imported.status == "finished" and imported.best_step == 0
    assert step.build_ok is False and step.has_error and "src/App.tsx" in str(step.observation["build"])
    assert sorted(files) == sorted(project_files()) and not judged  # nothing rendered: nothing to judge
    assert (folder / "package-lock.json").is_file()  # the source folder is only read


def test_an_import_stopped_before_its_step_was_recorded_is_resumed_from_its_stored_files(
    env: SiteEnvironment, settings: Settings, tmp_path: Path
) -> None:
    """The run's config keeps the imported snapshot: a resume redoes step 0 from the store (the source zip may be
    gone); once step 0 is recorded there is nothing to resume."""
    from webgen.feedback.site.project_import import load_project
    from webgen.graph.import_run import ImportedStart
    from webgen.storage.store import StoreError
    from webgen.storage.values import TaskIn

    archive = zip_project(tmp_path / "harbour-bikes.zip")
    with FakeLLMServer(judge_rules(4)) as server:
        cfg = loop_settings(settings, tmp_path / "home", server, max_steps=1)
        with Session(cfg, env=env) as session:
            snapshot = session._snapshot_project(load_project(archive))  # what import_project does first
            archive.unlink()
            imported = ImportedStart(
                name="harbour-bikes", source=str(archive), snapshot=snapshot, files=9, total_bytes=1
            )
            task = session.store.ensure_task(TaskIn(source="import", external_id="t", instruction=import_request("x")))
            run_id = session.store.start_run(task.id, "agent", config={"imported": imported.model_dump()})
            outcome = session.resume(run_id)  # as if the process had been killed before step 0 was recorded
            step = session.store.get_step(run_id, 0)
            with pytest.raises(StoreError, match="nothing to resume"):
                session.resume(run_id)
    assert (outcome.status, outcome.steps, outcome.best_step) == ("finished", 1, 0)
    assert step.snapshot_id == snapshot and step.build_ok and step.screenshot_score == 4
