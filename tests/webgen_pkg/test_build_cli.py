"""`webgen build` as a new user meets it: one-line errors with a fix, checked inputs, a safe --out, and
requests from a file or stdin. Each runs the real CLI in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from webgen.agent.fake_server import FakeLLMServer
from webgen.storage.store import TrajectoryStore

SITE = (
    '<boltArtifact id="s" title="s"><boltAction type="file" filePath="src/App.tsx">\n'
    "export default function App() {\n  return <main><h1>From a file</h1><p>Words enough to be content.</p>"
    "</main>;\n}\n</boltAction></boltArtifact>"
)


def webgen(tmp: Path, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "WEBGEN_DATABASE_URL": f"sqlite:///{tmp / 'runs.db'}", **env}
    full.setdefault("WEBGEN_CHECKPOINT_URL", f"sqlite:///{tmp / 'checkpoints.sqlite'}")
    done = subprocess.run(
        [sys.executable, "-m", "webgen", *args],
        env=full,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=300,
        cwd=tmp,
    )
    assert "Traceback" not in done.stdout + done.stderr
    return done


def one_line_error(done: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    assert done.returncode == code, done.stdout + done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    error = " ".join(lines)
    assert error.startswith("error:") and len(error) < 400, error
    for needle in needles:
        assert needle in error
    return error


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_bad_requests_and_options_are_one_line_errors(tmp_path: Path) -> None:
    one_line_error(webgen(tmp_path, "build", "   "), 2, "the request is empty", "--request-file")
    one_line_error(webgen(tmp_path, "build", "-", stdin="\n"), 2, "the request is empty")
    one_line_error(webgen(tmp_path, "build", "--request-file", str(tmp_path / "nope.txt")), 2, "nope.txt")
    done = webgen(tmp_path, "build", "x", "--max-steps", "0")
    assert done.returncode == 2 and "max-steps" in done.stdout + done.stderr
    assert webgen(tmp_path, "build", "x", "--max-steps", "-1").returncode == 2
    one_line_error(webgen(tmp_path, "build", "x", WEBGEN_SCAFFOLD="react99"), 2, "unknown scaffold", "react18-v1")
    one_line_error(webgen(tmp_path, "build", "--resume", "0123abcd"), 2, "no run 0123abcd", "db export runs")
    one_line_error(webgen(tmp_path, "build", "x", "--resume", "0123abcd"), 2, "give no request")


@pytest.mark.slow
def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://webgen:secret-pw@127.0.0.1:{closed_port()}/nothing"
    error = one_line_error(webgen(tmp_path, "build", "x", WEBGEN_DATABASE_URL=url), 2, "cannot open the database")
    assert "secret-pw" not in error and "WEBGEN_DATABASE_URL" in error
    (tmp_path / "a-file").write_text("")
    sqlite = f"sqlite:///{tmp_path / 'a-file' / 'x.db'}"
    one_line_error(webgen(tmp_path, "build", "x", WEBGEN_DATABASE_URL=sqlite), 2, "cannot open the database")
    one_line_error(webgen(tmp_path, "show", "x", WEBGEN_DATABASE_URL=url), 2, "cannot open the database")


def test_out_never_touches_a_folder_webgen_did_not_write(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "thesis.tex").write_text("years of work")
    error = one_line_error(
        webgen(tmp_path, "build", "x", "--out", str(project)), 2, "not empty", "not written by webgen"
    )
    assert (project / "thesis.tex").read_text() == "years of work" and sorted(os.listdir(project)) == ["thesis.tex"]
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep")
    one_line_error(webgen(tmp_path, "build", "x", "--out", str(a_file)), 2, "is a file")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.geteuid() != 0:  # root may write anywhere
            one_line_error(webgen(tmp_path, "build", "x", "--out", str(locked / "out")), 2, "cannot be written")
    finally:
        locked.chmod(0o700)
    assert "choose a new or empty folder" in error


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.node
def test_request_from_a_file_and_stdin_and_out_reused_without_loss(tmp_path: Path) -> None:
    rules = [
        {"model": "coder", "times": -1, "reply": SITE},
        {"model": "judge", "times": -1, "reply": {"content": {"score": 4, "description": "ok", "has_error": False}}},
    ]
    request = tmp_path / "request.md"
    request.write_text("A long request\nwritten over several lines, about a bakery.\n")
    out = tmp_path / "out"
    with FakeLLMServer(rules) as server:
        env = {f"WEBGEN_{r}__BASE_URL": server.base_url for r in ("CODER", "JUDGE", "GUI")}
        env |= {f"WEBGEN_{r}__MODEL": r.lower() for r in ("CODER", "JUDGE", "GUI")}
        first = webgen(tmp_path, "build", "--request-file", str(request), "--max-steps", "1", "--out", str(out), **env)
        assert first.returncode == 0, first.stdout + first.stderr
        (out / "notes.txt").write_text("mine")  # the user's file inside an earlier output folder
        second = webgen(tmp_path, "build", "-", "--max-steps", "1", "--out", str(out), stdin="A menu page\n", **env)
        assert second.returncode == 0, second.stdout + second.stderr
    assert (out / "notes.txt").read_text() == "mine"
    assert "From a file" in (out / "site" / "src" / "App.tsx").read_text()
    with TrajectoryStore(f"sqlite:///{tmp_path / 'runs.db'}") as store:
        runs = store.list_runs()
        instructions = [store.get_task(r.task_id).instruction for r in runs]
        assert [r.config["agent"]["max_steps"] for r in runs] == [1, 1]
    assert instructions == ["A long request\nwritten over several lines, about a bakery.", "A menu page"]
    assert not any(
        (Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "webgen" / "runs" / r.id).exists()
        for r in runs
    )  # the run folder is removed once the run is in the store
