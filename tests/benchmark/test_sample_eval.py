"""`docs/sample-eval/`, the README's sample report, is written by this test: the scripted eval of
`test_eval_sites.py` (two WebGen-Bench tasks, one site that builds and one that does not, the GUI agent and the
judge scripted) under the published protocol (5 s settle, the published waits), default `--start build`, with the
temporary folder and the fake server's address replaced by `<tmp>` and `<fake-server>`.

Skipped unless asked for; to regenerate the folder:

    WEBGEN_WRITE_SAMPLE_EVAL=1 .venv/bin/python -m pytest tests/benchmark/test_sample_eval.py -p no:cacheprovider
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.benchmark.conftest import BROKEN_APP, EvalCLI, app, report, site_files, write_site, write_tasks
from tests.benchmark.test_eval_sites import wheel_rules
from webgen.agent.fake_server import FakeLLMServer
from webgen.benchmark.report import load_results

SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "sample-eval"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.node,
    pytest.mark.skipif(os.environ.get("WEBGEN_WRITE_SAMPLE_EVAL") != "1", reason="set WEBGEN_WRITE_SAMPLE_EVAL=1"),
]


def publish(report_dir: Path, dest: Path, replace: dict[str, str]) -> None:
    """The report's Markdown, results and plots into `dest` (its earlier files replaced), with `replace` applied."""
    shutil.rmtree(dest, ignore_errors=True)
    (dest / "plots").mkdir(parents=True)
    for name in ("report.md", "results.json"):
        text = (report_dir / name).read_text(encoding="utf-8")
        for old, new in replace.items():
            text = text.replace(old, new)
        (dest / name).write_text(text, encoding="utf-8")
    for png in sorted((report_dir / "plots").glob("*.png")):
        shutil.copyfile(png, dest / "plots" / png.name)


def test_write_the_sample_report(tmp_path: Path) -> None:
    sites = tmp_path / "sites"
    write_site(sites / "000010", site_files(app("Prize wheel")))
    write_site(sites / "000002", site_files(BROKEN_APP))
    tasks = write_tasks(tmp_path / "webgen-bench.jsonl", "000010", "000002")
    out = tmp_path / "report"
    with FakeLLMServer(wheel_rules()) as server:
        cli = EvalCLI(tmp_path, server.base_url)
        cli.settle = None  # the published protocol: 5 s settle, the published waits
        cli.env.pop("WEBGEN_AGENT__GUI_WAITS")
        cli("--sites", str(sites), "--tasks", str(tasks), "--workers", "2", "--name", "sample", "--out", str(out))
        base_url = server.base_url
    report(out)
    publish(out, SAMPLE, {str(tmp_path.resolve()): "<tmp>", str(tmp_path): "<tmp>", base_url: "<fake-server>"})
    markdown = (SAMPLE / "report.md").read_text()
    assert "Sites started with `--start build`, network `loopback`; GUI-agent protocol webgen-bench" in markdown
    assert "1024x768, 5 s settle, dialogs dismissed, no per-case time cap" in markdown
    rows = [line for line in markdown.splitlines() if line.startswith(("| benchmark (substring)", "| ours (robust"))]
    assert rows[0].startswith("| benchmark (substring)"), rows  # the benchmark's scoring first
    assert str(tmp_path) not in markdown and "127.0.0.1" not in markdown
    results = load_results(SAMPLE)
    assert results.config["protocol"]["settle_s"] == 5.0 and results.config["start"] == "build"
