"""`webgen eval` end to end: the real CLI in a subprocess, real Vite builds, real Chromium (a WebVoyager agent per
case in worker processes), SQLite, and the GUI agent and the appearance judge scripted through the fake server."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.graph.conftest import FAST_WAITS
from webgen.core.settings import Settings
from webgen.feedback.site.scaffold import get_scaffold

BENCH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "webgen-bench" / "test.jsonl"
APPEARANCE = "You are reviewing how a generated website looks"


def bench_tasks(*ids: str) -> dict[str, dict[str, Any]]:
    """WebGen-Bench records by id, from the shared data."""
    found = {}
    for line in BENCH.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["id"] in ids:
            found[record["id"]] = record
    return found


def write_tasks(path: Path, *ids: str) -> Path:
    records = bench_tasks(*ids)
    path.write_text("".join(json.dumps(records[i]) + "\n" for i in ids))
    return path


def app(title: str) -> str:
    return (
        "export default function App() {\n"
        f'  return <main className="p-8"><h1>{title}</h1><p>A page with enough words to count as content.</p>'
        "<button>Spin</button></main>;\n}\n"
    )


BROKEN_APP = "export default function App() {\n  return <main>oops</div>;\n}\n"


def site_files(app_source: str) -> dict[str, str]:
    """A whole Vite + React project: the scaffold's template files with this `src/App.tsx`."""
    scaffold = get_scaffold(Settings().scaffold, Settings().home)
    files = {rel: path.read_text() for rel, path in scaffold.template_files()}
    return files | {"src/App.tsx": app_source}


def write_site(folder: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


def dead_url() -> str:
    """An endpoint where nothing listens (refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


def gui_rule(task_text: str, answer: str, thought: str = "I tried it.") -> dict[str, Any]:
    """The GUI agent's one reply for the case whose task starts like `task_text`."""
    return {
        "model": "gui",
        "match": re.escape(task_text[:40]),
        "times": -1,
        "reply": f"Thought: {thought}\nAction: ANSWER; {answer}",
    }


def appearance_rule(grade: int = 4) -> dict[str, Any]:
    reply = f"Analysis: A tidy page with the requested parts.\nGrade: {grade}"
    return {"model": "judge", "match": APPEARANCE, "times": -1, "reply": reply}


class EvalCLI:
    """`webgen eval ...` in a subprocess against a SQLite store in `tmp`, every model on `base_url`; short waits
    and a 0.1 s settle unless `settle` is changed (None: the published 5 s)."""

    def __init__(self, tmp: Path, base_url: str, gui_url: str | None = None, timeout_s: float = 240) -> None:
        self.tmp, self.db, self.timeout_s = tmp, f"sqlite:///{tmp / 'eval.db'}", timeout_s
        self.settle: str | None = "0.1"
        self.env = {
            **os.environ,
            "WEBGEN_DATABASE_URL": self.db,
            "WEBGEN_AGENT__GUI_WAITS": json.dumps(FAST_WAITS),
            "WEBGEN_SITE__PAGE_TIMEOUT_S": "5",
            "COLUMNS": "250",
        }
        for role in ("judge", "gui"):
            url = gui_url if role == "gui" and gui_url else base_url
            self.env |= {
                f"WEBGEN_{role.upper()}__BASE_URL": url,
                f"WEBGEN_{role.upper()}__MODEL": role,
                f"WEBGEN_{role.upper()}__MAX_RETRIES": "0",
                f"WEBGEN_{role.upper()}__CONNECT_RETRIES": "0",
            }

    def __call__(self, *args: str, code: int = 0) -> str:
        settle = ["--settle", self.settle] if self.settle is not None else []
        command = [sys.executable, "-m", "webgen", "eval", *args, *settle]
        done = subprocess.run(
            command, env=self.env, cwd=self.tmp, capture_output=True, text=True, timeout=self.timeout_s
        )
        output = done.stdout + done.stderr
        assert "Traceback" not in output, output
        assert done.returncode == code, output
        return output


def report(folder: Path) -> dict[str, Any]:
    """results.json of a report folder, after checking the folder holds the report and its plots."""
    assert (folder / "report.md").is_file()
    pngs = sorted(p.name for p in (folder / "plots").glob("*.png"))
    assert "accuracy_by_category.png" in pngs and "appearance_hist.png" in pngs, pngs
    return json.loads((folder / "results.json").read_text())
