"""Benchmark the chat UI against the library on the same scripted run; prints one JSON object.

The README demo's scripted models (`webgen/examples/demo_script.yaml`: a bakery site that does not build, the
fix, a GUI test that searches and fills the cart, a finish) drive real builds, Chromium and SQLite stores:
- **baseline (the CLI's path):** `Session.start` in this process, as `webgen build` runs it; its time to the
  first event and its wall time;
- **UI:** `webgen ui` started as its own process with the same settings, driven by Playwright in Debian's
  chromium from a fresh page per run: type the request, press Send, and time the run's first chat message
  (time to first event) and the "Run ...: finished" status (shown with the chat's last message), and when the
  step panels that follow in a chained event arrive (`panels_s`: the preview's frame). All are timed in the page,
  on its own clock, from the click on Send to the moment the page's DOM shows them (Playwright's own waits poll,
  at up to 1 s apart).
Each path does an unmeasured warm-up run first (the build worker's and the browsers' first use), then they
alternate `--rounds` times. The overhead per step is (UI wall - baseline wall) / steps.
Targets: first event under 1 s; overhead under 10% of the baseline's time per step.

Usage: python scripts/bench_ui.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from webgen.agent.fake_server import FakeLLMServer
from webgen.core.env import apply_offline_env
from webgen.core.settings import Settings
from webgen.feedback.site.environment import SiteEnvironment
from webgen.graph.session import Session

SCRIPT = Path(__file__).resolve().parents[1] / "webgen" / "examples" / "demo_script.yaml"
REQUEST = "A website for a bakery: a home page, a menu with search and a cart, and a contact form. Warm amber colours."
CHROMIUM = "/usr/bin/chromium"
WAITS = '{"click": 0.5, "type": 0.5, "scroll": 0.5, "wait": 0.5, "goback": 0.5}'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _environ(server: FakeLLMServer, database: Path) -> dict[str, str]:
    """The settings both paths use, as `webgen` reads them: every role on the scripted server."""
    env = {"WEBGEN_DATABASE_URL": f"sqlite:///{database}", "WEBGEN_AGENT__GUI_WAITS": WAITS}
    for role in ("coder", "judge", "gui"):
        env[f"WEBGEN_{role.upper()}__BASE_URL"] = server.base_url
        env[f"WEBGEN_{role.upper()}__MODEL"] = role
    return env


def library_run(session: Session, server: FakeLLMServer) -> dict[str, Any]:
    server.reset(SCRIPT)  # the script's replies are used once each: every run starts it afresh
    first: list[float] = []
    session.subscribers[:] = [lambda event: first or first.append(time.monotonic())]
    started = time.monotonic()
    outcome = session.start(REQUEST)
    wall = time.monotonic() - started
    return {"first_event_s": first[0] - started, "wall_s": wall, "steps": outcome.steps, "status": outcome.status}


#: Installed in the page before Send: the page's own clock at the click on Send, at the first message from the
#: run, at the status line that says the run ended, and at the step panels that follow it (the preview's frame)
#: (a MutationObserver, so no polling interval is measured).
_WATCH_JS = """() => {
  const marks = (window.__bench = {});
  document.querySelector("#send").addEventListener("click", () => { marks.click ??= performance.now(); }, true);
  new MutationObserver(() => {
    const now = performance.now(), status = document.querySelector("#status");
    if (document.querySelector("#chat [data-testid='bot']")) marks.first ??= now;
    if (status && /Run [0-9a-f]{8}: \\w+\\./.test(status.innerText)) marks.done ??= now;
    if (marks.done && document.querySelector("#site-frame")) marks.panels ??= now;
  }).observe(document.body, { subtree: true, childList: true, characterData: true });
}"""


#: True once no Gradio status tracker is showing (no event in flight) and the page has loaded.
_PAGE_IDLE_JS = """() => document.readyState === "complete" &&
  document.querySelector("#conversations") !== null &&
  document.querySelectorAll(".wrap.default:not(.hide), .wrap.center:not(.hide)").length === 0"""


def ui_run(browser: Any, url: str, server: FakeLLMServer) -> dict[str, Any]:
    from playwright.sync_api import expect

    server.reset(SCRIPT)
    context = browser.new_context(viewport={"width": 1280, "height": 1600})
    try:
        page = context.new_page()
        page.goto(url)
        page.locator("#msg textarea").fill(REQUEST)
        # the page's own start is over, as after a user types: its components are loaded and its load event has
        # answered (Gradio shows a status tracker on each output while an event is in flight); a second to type
        page.wait_for_function(_PAGE_IDLE_JS, timeout=60_000)
        page.wait_for_timeout(1000)
        page.evaluate(_WATCH_JS)
        page.locator("#send").click()
        status = page.locator("#status")
        expect(status).to_have_text(re.compile(r"Run [0-9a-f]{8}: \w+\."), timeout=600_000)
        ended = status.inner_text().rstrip(".").rsplit(" ", 1)[-1]
        if ended == "finished":  # a run that ends without a site has no preview frame
            page.locator("#site-frame").wait_for(timeout=60_000)
        marks = page.evaluate("() => window.__bench")
        steps = len(re.findall(r"Step \d+ started", page.locator("#chat").inner_text()))
    finally:
        context.close()
    first, wall = (marks["first"] - marks["click"]) / 1000, (marks["done"] - marks["click"]) / 1000
    panels = (marks["panels"] - marks["click"]) / 1000 if "panels" in marks else None
    return {"first_event_s": first, "wall_s": wall, "panels_s": panels, "steps": steps, "status": ended}


def _start_ui(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "webgen", "ui", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env={**os.environ, **env}, stdout=out, stderr=out, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"webgen ui exited with {proc.returncode}; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=2, follow_redirects=True).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    _stop(proc)
    raise SystemExit(f"webgen ui did not answer within 120 s; see {log}")


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the UI's process group (it cleans up as on Ctrl-C), then SIGKILL what is left."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "first_event_median_s": round(statistics.median(r["first_event_s"] for r in runs), 3),
        "wall_median_s": round(statistics.median(r["wall_s"] for r in runs), 3),
        "per_step_median_s": round(statistics.median(r["wall_s"] / max(r["steps"], 1) for r in runs), 3),
        **(
            {"panels_median_s": round(statistics.median(shown), 3)}
            if (shown := [r["panels_s"] for r in runs if r.get("panels_s") is not None])
            else {}
        ),
        "runs": [{k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in runs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="measured runs of each path")
    args = parser.parse_args()
    apply_offline_env()
    from playwright.sync_api import sync_playwright

    library: list[dict[str, Any]] = []
    ui: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="webgen-bench-ui-") as tmp,
        FakeLLMServer(SCRIPT) as server,
        sync_playwright() as pw,
    ):
        root = Path(tmp)
        os.environ.update(_environ(server, root / "library.db"))
        cfg = Settings()  # the default home: its scaffold cache is the one setup installed
        port = _free_port()
        proc = _start_ui(_environ(server, root / "ui.db"), port, root / "ui.log")
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            with SiteEnvironment(cfg) as env, Session(cfg, env=env) as session:
                url = f"http://127.0.0.1:{port}"
                library_run(session, server)
                ui_run(browser, url, server)
                for _ in range(args.rounds):
                    library.append(library_run(session, server))
                    ui.append(ui_run(browser, url, server))
        finally:
            browser.close()
            _stop(proc)
    lib, app = _summary(library), _summary(ui)
    overhead = app["per_step_median_s"] - lib["per_step_median_s"]
    result = {
        "request": REQUEST,
        "baseline_library": lib,
        "ui": app,
        "ui_overhead_per_step_s": round(overhead, 3),
        "ui_overhead_pct": round(100 * overhead / lib["per_step_median_s"], 1),
        "target": {"first_event_max_s": 1.0, "overhead_max_pct": 10.0},
        "all_finished": all(r["status"] == "finished" for r in library + ui),
        "meets_target": app["first_event_median_s"] < 1.0 and overhead < 0.10 * lib["per_step_median_s"],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
