"""`webgen eval --sites DIR`: a folder of two prepared sites, one that builds and one that does not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.benchmark.conftest import (
    BROKEN_APP,
    EvalCLI,
    app,
    appearance_rule,
    bench_tasks,
    gui_rule,
    report,
    site_files,
    write_site,
    write_tasks,
)
from webgen.agent.fake_server import FakeLLMServer

pytestmark = [pytest.mark.browser, pytest.mark.node]

NOT_YES = "The spin button does nothing, so the answer is not YES. NO"


def wheel_rules() -> list[dict[str, Any]]:
    """The scripted GUI agent's verdicts on the four cases of task 000010, and the judge's grade."""
    wheel = bench_tasks("000010")["000010"]["ui_instruct"]
    return [
        gui_rule(wheel[0]["task"], "YES"),
        gui_rule(wheel[1]["task"], "PARTIAL"),
        gui_rule(wheel[2]["task"], "NO"),
        gui_rule(wheel[3]["task"], NOT_YES),  # robust: NO; the benchmark's substring test: YES
        appearance_rule(4),
    ]


@pytest.mark.slow
def test_sites_folder_one_builds_one_does_not(tmp_path: Path) -> None:
    rules = wheel_rules()
    sites = tmp_path / "sites"
    write_site(sites / "000010" / "project", site_files(app("Prize wheel")))  # a wrapper folder: descended into
    write_site(sites / "000002", site_files(BROKEN_APP))
    tasks = write_tasks(tmp_path / "webgen-bench.jsonl", "000010", "000002")
    out = tmp_path / "report"
    with FakeLLMServer(rules) as server:
        cli = EvalCLI(tmp_path, server.base_url)
        output = cli("--sites", str(sites), "--tasks", str(tasks), "--workers", "2", "--out", str(out))
        gui_calls = [r for r in server.requests if r.model == "gui"]
    assert len(gui_calls) == 4, output  # the broken site's 5 cases never reach the agent
    assert f"report: {out.resolve() / 'report.md'}" in output.replace("\n", "")

    results = report(out)
    cases = {(c["task_id"], c["case_index"]): c for c in results["cases"]}
    assert len(cases) == 9 and results["total_cases"] == 9
    assert [cases[("000010", i)]["verdict"] for i in range(4)] == ["YES", "PARTIAL", "NO", "NO"]
    assert [cases[("000010", i)]["substring_verdict"] for i in range(4)] == ["YES", "PARTIAL", "NO", "YES"]
    assert {cases[("000002", i)]["verdict"] for i in range(5)} == {"START_FAILED"}
    robust, substring = results["summaries"]["robust"]["overall"], results["summaries"]["substring"]["overall"]
    assert robust["accuracy"] == pytest.approx((1 + 0.5) / 9)  # YES + 0.5 PARTIAL over all 9 cases
    assert substring["accuracy"] == pytest.approx((2 + 0.5) / 9)
    assert robust["start_failed"] == pytest.approx(5 / 9)

    sites_by_id = {s["task_id"]: s for s in results["sites"]}
    good, broken = sites_by_id["000010"], sites_by_id["000002"]
    assert (good["gate"], good["built"], good["served"], good["rendered"], good["started"]) == (True,) * 5
    assert good["appearance"] == 4 and good["aas"] == 4.0
    assert (broken["built"], broken["started"], broken["appearance"], broken["aas"]) == (False, False, 0, 0.0)
    assert "build failed" in broken["error"] and "App.tsx" in broken["error"]
    assert robust["appearance"] == pytest.approx(2.0) and robust["vrr"] == pytest.approx(0.5)


def test_sites_may_be_folders_or_zips_imported_as_projects(tmp_path: Path) -> None:
    """`--sites DIR` entries are laid out by the project import: a zip (unwrapped from its top folder), a wrapper
    folder, and a project webgen cannot work on, which fails to start with the import's one-line reason."""
    import json

    from tests.projects import png, project_files, zip_of, zip_project
    from webgen.benchmark.sites import SiteError, folder_sources, materialise

    sites = tmp_path / "sites"
    sites.mkdir()
    zip_project(sites / "000001.zip")
    write_site(sites / "000002" / "project", site_files(app("Prize wheel")))
    zip_of(sites / "000003.zip", {"package.json": json.dumps({"dependencies": {"vue": "^3"}})})
    found = {s.task_id: s for s in folder_sources(sites, ["000001", "000002", "000003", "000004"])}
    assert found["000004"].problem == f"no folder 000004 or 000004.zip in {sites}"
    materialise(found["000001"], tmp_path / "w1", store=None)
    assert (tmp_path / "w1" / "public" / "logo.png").read_bytes() == png()
    assert sorted(p.relative_to(tmp_path / "w1").as_posix() for p in (tmp_path / "w1").rglob("*") if p.is_file()) == (
        sorted(project_files())
    )
    materialise(found["000002"], tmp_path / "w2", store=None)
    assert "Prize wheel" in (tmp_path / "w2" / "src" / "App.tsx").read_text()
    with pytest.raises(SiteError, match="Vue project"):
        materialise(found["000003"], tmp_path / "w3", store=None)
    assert not any((tmp_path / "w3").iterdir())
