"""`webgen eval --start dev` end to end: the real CLI in a subprocess, each site's own `npm install --ignore-scripts`
and dev server (real npm and Vite), real Chromium, SQLite; only the models are scripted, behind the fake server.

The scripted GUI agent answers a test case only when the labelled elements of the page it sees hold the site's
button, whose text the framework renders (Vue's template, vanilla JS, React's JSX); otherwise it answers an
unexpected verdict. So a stored verdict proves the site started and rendered in the browser.

The npm cache is warmed from the registry first (`network`); the evals then run with the default
`--network loopback`, where npm reaches only that cache.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.benchmark.conftest import EvalCLI, appearance_rule, bench_tasks, report, write_tasks
from tests.benchmark.dev_sites import react_site, static_site, vanilla_vite_site, vue_site, write_files
from webgen.agent.fake_server import FakeLLMServer
from webgen.benchmark.devserver import site_env
from webgen.feedback.site import proc

pytestmark = [pytest.mark.browser, pytest.mark.node, pytest.mark.network, pytest.mark.slow, pytest.mark.timeout(900)]

ANSWERS = ["YES", "PARTIAL", "NO", "YES"]  # the scripted verdict of each task's 4 cases
UNSEEN = "Thought: The page shows none of what the task needs.\nAction: ANSWER; the button was not there, NO"


def seen_rules(task_id: str, button: str) -> list[dict[str, Any]]:
    """The GUI agent's reply to each case of the task, given only when the page lists the site's button."""
    rules = []
    for case, verdict in zip(bench_tasks(task_id)[task_id]["ui_instruct"], ANSWERS, strict=True):
        pattern = re.escape(case["task"][:40]) + ".*" + re.escape(f'<button> "{button}"')
        reply = f"Thought: I used the '{button}' button.\nAction: ANSWER; {verdict}"
        rules.append({"model": "gui", "match": pattern, "times": -1, "reply": reply})
    return rules


def warm_npm_cache(root: Path, sites: dict[str, dict[str, str]]) -> None:
    """The packages of `sites` into the shared npm cache, from the registry (as `--network open` would)."""
    for name, files in sites.items():
        if "package.json" not in files:
            continue
        folder = write_files(root / name, {"package.json": files["package.json"]})
        argv = ["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"]
        done = proc.run(argv, cwd=folder, timeout_s=300, env=site_env(root / f"{name}.home", "open"))
        assert done.ok, f"npm install of {name}'s packages: {done.output[-500:]}"


def processes_marked(mark: str, wait_s: float = 5.0) -> list[str]:
    """Processes whose environment holds `mark` (the CLI's, so every site's and worker's) still running after
    `wait_s` (a killed group may take a moment to go)."""
    needle = f"EVAL_TEST_MARK={mark}".encode()
    deadline = time.monotonic() + wait_s
    while True:
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def marked_cli(tmp_path: Path, base_url: str) -> tuple[EvalCLI, str]:
    cli = EvalCLI(tmp_path, base_url, timeout_s=420)
    mark = uuid.uuid4().hex
    cli.env["EVAL_TEST_MARK"] = mark  # not WEBGEN_*: the sites' environment keeps it
    return cli, mark


def verdicts(results: dict[str, Any], task_id: str) -> list[tuple[str, str, str]]:
    """(robust, substring, answer) of each case of the task, in order."""
    cases = sorted((c for c in results["cases"] if c["task_id"] == task_id), key=lambda c: c["case_index"])
    return [(c["verdict"], c["substring_verdict"], c["answer"]) for c in cases]


def test_vue_vanilla_vite_and_plain_html_sites_start_with_their_own_dev_servers(tmp_path: Path) -> None:
    sites = {
        "000010": vue_site("Spin the prize wheel"),
        "000030": vanilla_vite_site("Read the latest notes"),
        "000049": static_site("Book a haircut"),
    }
    buttons = {"000010": "Spin the prize wheel", "000030": "Read the latest notes", "000049": "Book a haircut"}
    warm_npm_cache(tmp_path / "warm", sites)
    folder = tmp_path / "sites"
    for task_id, files in sites.items():
        write_files(folder / task_id, files)
    tasks = write_tasks(tmp_path / "tasks.jsonl", *sites)
    rules = [rule for task_id, button in buttons.items() for rule in seen_rules(task_id, button)]
    rules += [{"model": "gui", "times": -1, "reply": UNSEEN}, appearance_rule(4)]
    out = tmp_path / "report"
    with FakeLLMServer(rules) as server:
        cli, mark = marked_cli(tmp_path, server.base_url)
        args = ["--sites", str(folder), "--tasks", str(tasks), "--start", "dev", "--workers", "2", "--out", str(out)]
        output = cli(*args)
    assert processes_marked(mark) == [], "every dev server's process group is gone"
    results = report(out)
    assert results["config"]["start"] == "dev" and results["config"]["network"] == "loopback"
    by_site = {s["task_id"]: s for s in results["sites"]}
    for task_id in sites:
        site = by_site[task_id]
        assert site["started"] and site["rendered"] and site["error"] is None, (task_id, site, output)
        assert verdicts(results, task_id) == [
            ("YES", "YES", "YES"),
            ("PARTIAL", "PARTIAL", "PARTIAL"),
            ("NO", "NO", "NO"),  # the page was seen: an unseen button answers "... not there, NO"
            ("YES", "YES", "YES"),
        ], (task_id, output)
    overall = results["summaries"]["substring"]["overall"]
    assert overall["start_failed"] == 0 and overall["not_run"] == 0
    assert overall["accuracy"] == pytest.approx(3 * (2 + 0.5) / 12)
    assert "Sites started with `--start dev`, network `loopback`" in (out / "report.md").read_text()
    assert "start failed:" not in output.lower()


def test_a_react_site_gets_the_same_verdicts_built_and_on_its_dev_server(tmp_path: Path) -> None:
    files = react_site("Show every species")
    warm_npm_cache(tmp_path / "warm", {"react": files})
    write_files(tmp_path / "sites" / "000088", files)
    tasks = write_tasks(tmp_path / "tasks.jsonl", "000088")
    rules = [*seen_rules("000088", "Show every species"), {"model": "gui", "times": -1, "reply": UNSEEN}]
    rules.append(appearance_rule(3))
    found = {}
    with FakeLLMServer(rules) as server:
        cli, mark = marked_cli(tmp_path, server.base_url)
        for start in ("build", "dev"):
            out = tmp_path / f"report-{start}"
            args = ["--sites", str(tmp_path / "sites"), "--tasks", str(tasks), "--name", f"react-{start}"]
            cli(*args, "--start", start, "--workers", "2", "--out", str(out))
            found[start] = report(out)
    assert processes_marked(mark) == []
    for start, results in found.items():
        assert results["config"]["start"] == start
        (site,) = results["sites"]
        assert site["started"] and site["rendered"] and site["error"] is None, (start, site)
    assert verdicts(found["build"], "000088") == verdicts(found["dev"], "000088")
    assert [v for v, _, _ in verdicts(found["dev"], "000088")] == ANSWERS
