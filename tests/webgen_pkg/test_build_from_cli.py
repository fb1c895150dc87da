"""`webgen build --from PATH|ZIP ["what to change"]` as a real subprocess: the project is step 0 of a run (its
snapshot holds the imported files), the scripted coder continues it in a second run, and bad input is one line
with nothing written anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.projects import png, project_files, tree, write_project, zip_declaring_huge_member, zip_of, zip_project
from tests.webgen_pkg.test_build_cli import one_line_error, webgen
from webgen.agent.fake_server import FakeLLMServer
from webgen.storage.store import TrajectoryStore

CONTACT = (
    '<boltArtifact id="s" title="s"><boltAction type="file" filePath="src/pages/Contact.tsx">\n'
    "export default function Contact() {\n"
    '  return <main className="p-10"><h1>Contact us</h1><p>Call the workshop any weekday.</p></main>;\n}\n'
    "</boltAction></boltArtifact>"
)
JUDGE = {"model": "judge", "times": -1, "reply": {"content": {"score": 4, "description": "ok", "has_error": False}}}
REACT = json.dumps({"dependencies": {"react": "^18.3.1"}})


def _models(server: FakeLLMServer) -> dict[str, str]:
    env = {f"WEBGEN_{r}__BASE_URL": server.base_url for r in ("CODER", "JUDGE", "GUI")}
    return env | {f"WEBGEN_{r}__MODEL": r.lower() for r in ("CODER", "JUDGE", "GUI")}


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.node
def test_from_a_zip_continues_with_the_request_and_from_a_folder_only_imports(tmp_path: Path) -> None:
    archive = zip_project(tmp_path / "harbour-bikes.zip")
    folder = write_project(tmp_path / "harbour-folder")
    listed = tree(folder)
    with FakeLLMServer([{"model": "coder", "times": -1, "reply": CONTACT}, JUDGE]) as server:
        models = _models(server)
        continued = webgen(
            tmp_path, "build", "--from", str(archive), "Add a contact page", "--max-steps", "1", "--out", "a", **models
        )
        assert continued.returncode == 0, continued.stdout + continued.stderr
        only = webgen(tmp_path, "build", "--from", "harbour-folder", "--out", "b", **models)
        assert only.returncode == 0, only.stdout + only.stderr
        coder_calls = [r for r in server.requests if r.model == "coder"]
    assert len(coder_calls) == 1  # the import itself asks no model but the judge
    assert "importing harbour-bikes" in continued.stdout and "continues from step 0" in continued.stdout

    with TrajectoryStore(f"sqlite:///{tmp_path / 'runs.db'}") as store:
        runs = store.list_runs()
        imports = [r for r in runs if "imported" in r.config]
        follow = [r for r in runs if r.config.get("continued_from")]
        assert len(runs) == 3 and len(imports) == 2 and len(follow) == 1
        zip_run = next(r for r in imports if r.config["imported"]["name"] == "harbour-bikes")
        assert follow[0].config["continued_from"] == {"run_id": zip_run.id, "step": 0}
        for run in imports:
            step0 = store.get_step(run.id, 0)
            assert sorted(store.manifest(step0.snapshot_id)) == sorted(project_files())
            assert step0.build_ok and step0.screenshot_score == 4 and run.status == "finished"
        first_step = store.steps(follow[0].id)[0]
        assert first_step.base_snapshot_id == store.get_step(zip_run.id, 0).snapshot_id
        assert store.get_task(follow[0].task_id).instruction == "Add a contact page"

    site_a, site_b = tmp_path / "a" / "site", tmp_path / "b" / "site"
    assert (site_a / "src" / "pages" / "Contact.tsx").is_file() and (
        site_a / "public" / "logo.png"
    ).read_bytes() == png()
    assert sorted(p for p in tree(site_b) if not p.endswith("/")) == sorted(project_files())
    assert list((tmp_path / "b" / "screenshots").glob("*.png"))  # the import step's screenshots
    assert tree(folder) == listed  # the project is only read


@pytest.mark.slow
def test_bad_projects_are_one_line_errors_and_nothing_is_written(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    no_package = write_project(inputs / "no-package")
    (no_package / "package.json").unlink()
    vue = inputs / "vue-app"
    vue.mkdir()
    (vue / "package.json").write_text(json.dumps({"dependencies": {"vue": "^3.4.0"}}))
    cases = {
        "zip-slip": (zip_of(inputs / "slip.zip", {"package.json": REACT, "../outside.txt": "pwned"}), "outside"),
        "absolute": (zip_of(inputs / "abs.zip", {"package.json": REACT, "/tmp/x-abs.txt": "pwned"}), "absolute"),
        "huge": (zip_declaring_huge_member(inputs / "huge.zip"), "2 GB"),
        "no package.json": (no_package, "no package.json"),
        "vue": (vue, "Vue project"),
    }
    home = tmp_path / "home"
    before = tree(tmp_path)
    for name, (source, phrase) in cases.items():
        done = webgen(tmp_path, "build", "--from", str(source), "Add a page", "--out", "out", WEBGEN_HOME=str(home))
        assert ";" in one_line_error(done, 2, phrase), name  # what is wrong; then how to fix it
    assert tree(tmp_path) == before  # no output folder, no database, no home, nothing next to the inputs
    one_line_error(webgen(tmp_path, "build", "--from", "x.zip", "--resume", "0123abcd"), 2, "--from", "--resume")
    one_line_error(webgen(tmp_path, "build", "--from", "x.zip", "--mode", "single-shot"), 2, "single-shot")
