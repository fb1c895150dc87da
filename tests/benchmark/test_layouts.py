"""`webgen eval --sites DIR --layout ...`: other systems' output layouts map to the right task ids, and their
sites are laid out through the project import (or, for another framework under `--start dev`, beside it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.projects import HEADING, project_files, write_project, zip_project
from webgen.benchmark.layouts import layout_sources
from webgen.benchmark.sites import EvalInputError, SiteError, materialise

ORDER = ["000001", "000002", "000003", "000004"]
VUE = {
    "package.json": json.dumps({"scripts": {"dev": "vite"}, "dependencies": {"vue": "^3.4.0"}}),
    "index.html": '<div id="app"></div><script type="module" src="/src/main.js"></script>',
    "src/main.js": "import { createApp } from 'vue';\n",
    "package-lock.json": "{}",
}


def by_task(sources: list) -> dict[str, object]:
    return {s.task_id: (s.folder.name if s.folder else s.problem) for s in sources}


def test_bolt_diy_exports_are_zips_named_by_task_id(tmp_path: Path) -> None:
    zip_project(tmp_path / "000001.zip", top="project")
    zip_project(tmp_path / "error-000002.zip")  # a run the driver gave up on
    (tmp_path / "000001.json").write_text("{}")  # the exported chat beside it
    found = by_task(layout_sources(tmp_path, "bolt-diy", ORDER, ["000001", "000002"]))
    assert found == {"000001": "000001.zip", "000002": f"the bolt-diy layout has no site for task 000002 in {tmp_path}"}
    site = layout_sources(tmp_path, "bolt-diy", ORDER, ["000001"])[0]
    materialise(site, tmp_path / "work", store=None)
    assert HEADING in (tmp_path / "work" / "src" / "App.tsx").read_text()
    assert sorted(
        p.relative_to(tmp_path / "work").as_posix() for p in (tmp_path / "work").rglob("*") if p.is_file()
    ) == (sorted(project_files()))


@pytest.mark.parametrize(("layout", "prefix"), [("openhands", "workspace_"), ("aider", "task_")])
def test_indexed_layouts_are_0_based_indexes_into_the_task_list(tmp_path: Path, layout: str, prefix: str) -> None:
    for index in (0, 2, 9):  # 9: beyond the task list, ignored
        write_project(tmp_path / f"{prefix}{index}")
    (tmp_path / f"{prefix}x").mkdir()
    found = by_task(layout_sources(tmp_path, layout, ORDER, ["000001", "000002", "000003"]))  # type: ignore[arg-type]
    assert found["000001"] == f"{prefix}0" and found["000003"] == f"{prefix}2"
    assert found["000002"] == f"the {layout} layout has no site for task 000002 in {tmp_path}"
    narrowed = by_task(layout_sources(tmp_path, layout, ORDER, ["000003"]))  # type: ignore[arg-type]
    assert narrowed == {"000003": f"{prefix}2"}  # --ids narrows the tasks, never the indexes


@pytest.mark.parametrize(
    ("layout", "looked"),
    [
        ("bolt-diy", "<id>.zip files, such as 000001.zip"),
        ("openhands", "workspace_<i> folders, i the task's 0-based index in the task list"),
        ("aider", "task_<i> folders, i the task's 0-based index in the task list"),
        ("by-id", "no folder or zip in"),
    ],
)
def test_a_layout_matching_no_task_is_a_one_line_error(tmp_path: Path, layout: str, looked: str) -> None:
    write_project(tmp_path / "my-site")
    with pytest.raises(EvalInputError) as caught:
        layout_sources(tmp_path, layout, ORDER, ["000001", "000002"])  # type: ignore[arg-type]
    assert looked in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(EvalInputError, match="no sites folder"):
        layout_sources(tmp_path / "missing", layout, ORDER, ["000001"])  # type: ignore[arg-type]


def test_other_frameworks_are_laid_out_only_for_dev_start(tmp_path: Path) -> None:
    """The project import refuses a Vue site (webgen's agent works on React); `--start dev` lays it out beside the
    import with the same entry checks, and plain static HTML with no package.json too."""
    for rel, text in VUE.items():
        (tmp_path / "sites" / "workspace_0" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "sites" / "workspace_0" / rel).write_text(text)
    (tmp_path / "sites" / "workspace_1" / "site").mkdir(parents=True)
    (tmp_path / "sites" / "workspace_1" / "site" / "index.html").write_text("<h1>Static</h1>")
    vue, static = layout_sources(tmp_path / "sites", "openhands", ORDER, ["000001", "000002"])
    with pytest.raises(SiteError, match="is a Vue project"):
        materialise(vue, tmp_path / "w-build", store=None)
    materialise(vue, tmp_path / "w-vue", store=None, any_framework=True)
    assert json.loads((tmp_path / "w-vue" / "package.json").read_text())["dependencies"] == {"vue": "^3.4.0"}
    assert not (tmp_path / "w-vue" / "package-lock.json").exists()  # lockfiles are left out, as the import does
    with pytest.raises(SiteError, match="no package.json"):
        materialise(static, tmp_path / "w-static-build", store=None)
    materialise(static, tmp_path / "w-static", store=None, any_framework=True)  # unwrapped from site/
    assert (tmp_path / "w-static" / "index.html").read_text() == "<h1>Static</h1>"
    nothing = tmp_path / "sites" / "workspace_2"
    nothing.mkdir()
    (nothing / "notes.txt").write_text("no site here")
    empty = layout_sources(tmp_path / "sites", "openhands", ORDER, ["000003"])[0]
    with pytest.raises(SiteError, match="neither a package.json nor an index.html"):
        materialise(empty, tmp_path / "w-empty", store=None, any_framework=True)
