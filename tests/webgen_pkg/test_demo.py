"""The README's main command: scripts/demo.sh runs the whole loop against the scripted model server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from webgen.storage.store import TrajectoryStore

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.browser, pytest.mark.node]


@pytest.mark.slow
def test_demo_script_builds_the_site_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    env = {**os.environ, "PYTHON": sys.executable, "WEBGEN_DATABASE_URL": db, "COLUMNS": "200"}
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh"), str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "src/pages/Menu.tsx:" in result.stdout  # the located build error of step 0
    assert "finished, best step 2" in result.stdout
    assert (out / "site" / "src" / "pages" / "Menu.tsx").is_file()
    assert len(list((out / "screenshots").glob("*.png"))) >= 3
    with TrajectoryStore(db) as store:
        run = store.list_runs()[0]
        steps = store.steps(run.id)
        assert [s.kind for s in steps] == ["edit", "edit", "gui_request", "finish"]
        assert steps[2].gui["steps"][2]["action"] == "Click [4]" and steps[2].gui_verdict == "YES"
    shown = subprocess.run(
        [sys.executable, "-m", "webgen", "show", run.id], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0 and "gui_req" in shown.stdout and "best step 2" in shown.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "webgen", "show", "no-such-run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1 and "no run no-such-run" in missing.stdout
