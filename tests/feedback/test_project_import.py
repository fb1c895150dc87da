"""Importing an existing project (a folder or a zip) into a site folder: every file copied as it is (binary
assets and the site's own configs too), the rest left out, and bad input refused in one line with nothing
written outside the destination (and, for bad input, nothing written at all)."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from tests.projects import (
    TAILWIND_CONFIG,
    declare_size,
    png,
    project_files,
    tree,
    write_project,
    zip_declaring_huge_member,
    zip_of,
    zip_project,
)
from webgen.feedback.site.project_import import ImportLimits, ProjectImportError, import_project, load_project

REACT = json.dumps({"dependencies": {"react": "^18.3.1", "react-dom": "^18.3.1"}})


def _as_text(files: dict[str, str | bytes]) -> dict[str, bytes]:
    return {rel: c.encode() if isinstance(c, str) else c for rel, c in files.items()}


def _files(folder: Path) -> dict[str, bytes]:
    return {rel: data for rel, data in tree(folder).items() if not rel.endswith("/")}


def test_a_folder_and_a_zip_import_every_file_and_leave_out_the_rest(tmp_path: Path) -> None:
    expected = _as_text(project_files())
    folder = write_project(tmp_path / "harbour-bikes")
    os.symlink("/etc/passwd", folder / "src" / "passwd.txt")  # a link in a folder is never followed
    from_folder = import_project(folder, tmp_path / "a")
    assert _files(tmp_path / "a") == expected
    assert from_folder.kind == "folder" and from_folder.files == sorted(expected) and from_folder.unwrapped is None
    assert from_folder.total_bytes == sum(len(v) for v in expected.values())
    skipped = "\n".join(from_folder.skipped)
    for left_out in ("package-lock.json", "node_modules/", ".env.local", "dist/", "src/passwd.txt"):
        assert left_out in skipped

    archive = zip_project(tmp_path / "harbour-bikes-main.zip", files={"__MACOSX/._x": "litter", ".DS_Store": "x"})
    from_zip = import_project(archive, tmp_path / "b")
    assert _files(tmp_path / "b") == expected  # unwrapped from its one top folder
    assert (
        from_zip.kind == "zip" and from_zip.name == "harbour-bikes-main" and from_zip.unwrapped == "harbour-bikes-main"
    )
    assert (tmp_path / "b" / "public" / "logo.png").read_bytes() == png()
    assert (tmp_path / "b" / "tailwind.config.js").read_text() == TAILWIND_CONFIG

    flat = import_project(zip_project(tmp_path / "flat.zip", top=None), tmp_path / "c")  # no top folder
    assert flat.unwrapped is None and _files(tmp_path / "c") == expected
    wrapper = tmp_path / "download"  # a folder that only holds the project's folder
    write_project(wrapper / "harbour-bikes")
    assert import_project(wrapper, tmp_path / "d").unwrapped == "harbour-bikes"
    assert _files(tmp_path / "d") == expected


def _crafted(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Bad inputs, each with a phrase of its one-line error."""
    link = zipfile.ZipInfo("src/link.ts")
    link.external_attr = 0o120777 << 16
    with zipfile.ZipFile(tmp_path / "link.zip", "w") as archive:
        archive.writestr("package.json", REACT)
        archive.writestr(link, "/etc/passwd")
    no_package = write_project(tmp_path / "no-package")
    (no_package / "package.json").unlink()
    vue = tmp_path / "vue-site"
    vue.mkdir()
    (vue / "package.json").write_text(json.dumps({"dependencies": {"vue": "^3.4.0"}}))
    (vue / "src").mkdir()
    (vue / "src" / "App.vue").write_text("<template><h1>Hi</h1></template>\n")
    svelte = zip_of(tmp_path / "svelte.zip", {"package.json": json.dumps({"devDependencies": {"svelte": "^4"}})})
    (tmp_path / "notes.txt").write_text("not a zip\n")
    return {
        "slip": (zip_of(tmp_path / "slip.zip", {"package.json": REACT, "../../evil.txt": "pwned"}), "outside"),
        "slip-nested": (
            zip_of(tmp_path / "nested.zip", {"site/package.json": REACT, "site/a/../../../x": "p"}),
            "outside",
        ),
        "absolute": (zip_of(tmp_path / "abs.zip", {"package.json": REACT, "/tmp/evil.txt": "pwned"}), "absolute"),
        "windows": (zip_of(tmp_path / "win.zip", {"package.json": REACT, "C:\\evil.txt": "pwned"}), "absolute"),
        "link": (tmp_path / "link.zip", "symbolic link"),
        "huge": (zip_declaring_huge_member(tmp_path / "huge.zip"), "2 GB"),
        "no package.json": (no_package, "no package.json"),
        "vue": (vue, "Vue project"),
        "svelte": (svelte, "Svelte project"),
        "not react": (zip_of(tmp_path / "plain.zip", {"package.json": "{}"}), "not a React project"),
        "bad json": (zip_of(tmp_path / "json.zip", {"package.json": "{nope"}), "not valid JSON"),
        "not a zip": (tmp_path / "notes.txt", "not a zip file"),
        "missing": (tmp_path / "missing.zip", "does not exist"),
    }


def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    cases = _crafted(inputs)
    before = tree(tmp_path)
    for name, (source, phrase) in cases.items():
        with pytest.raises(ProjectImportError) as caught:
            import_project(source, tmp_path / "dest" / name)
        line = str(caught.value)
        assert phrase in line and "\n" not in line and "; " in line, (name, line)
        assert caught.value.fix and len(line) < 400, (name, line)
    assert tree(tmp_path) == before  # no destination created, nothing written next to it or anywhere else
    assert not Path("/tmp/evil.txt").exists()


def test_caps_on_files_and_bytes_and_a_member_larger_than_its_header(tmp_path: Path) -> None:
    before = tree(tmp_path)
    many = zip_of(tmp_path / "many.zip", {"package.json": REACT, **{f"src/f{i}.ts": "x" * 100 for i in range(20)}})
    with pytest.raises(ProjectImportError, match="more than 10 files"):
        load_project(many, limits=ImportLimits(max_files=10))
    with pytest.raises(ProjectImportError, match="over the 1 kB limit"):
        load_project(many, limits=ImportLimits(max_total_bytes=1000, max_file_bytes=500))
    with pytest.raises(ProjectImportError, match="levels deep"):
        load_project(zip_of(tmp_path / "deep.zip", {"package.json": REACT, "/".join("d" * 20) + "/x.ts": "x"}))

    # a member whose data is more than its header declares: never more than the header is read, and the
    # damaged data is refused once read, with what was written so far removed
    liar = declare_size(zip_of(tmp_path / "liar.zip", {"package.json": REACT, "src/a.ts": "x" * 40}), "src/a.ts", 10)
    plan = load_project(liar)
    with pytest.raises(ProjectImportError, match="cannot be unpacked"):
        plan.write(tmp_path / "out-liar")
    assert not (tmp_path / "out-liar").exists()

    # the caps hold while unpacking, whatever the directory said when the project was checked
    plan = load_project(zip_project(tmp_path / "ok.zip"))
    tight = plan.limits.model_copy(update={"max_file_bytes": 100})
    plan.limits = tight
    empty = tmp_path / "empty-dest"
    empty.mkdir()
    with pytest.raises(ProjectImportError, match="limit for one file"):
        plan.write(empty)
    assert list(empty.iterdir()) == []  # an existing empty destination is emptied again
    with pytest.raises(ProjectImportError, match="not an empty folder"):
        load_project(zip_project(tmp_path / "ok2.zip")).write(tmp_path)
    assert set(tree(tmp_path)) - set(before) == {"many.zip", "deep.zip", "liar.zip", "ok.zip", "ok2.zip", "empty-dest/"}


def test_any_framework_takes_vue_and_plain_html_with_the_same_entry_checks(tmp_path: Path) -> None:
    """For judging other generators' sites (`webgen eval --start dev`): no React check, an index.html suffices."""
    vue = tmp_path / "vue-site"
    (vue / "src").mkdir(parents=True)
    (vue / "package.json").write_text(json.dumps({"name": "v", "dependencies": {"vue": "^3.4.0"}}))
    (vue / "src" / "main.js").write_text("import { createApp } from 'vue';\n")
    with pytest.raises(ProjectImportError, match="is a Vue project"):
        load_project(vue)
    assert import_project(vue, tmp_path / "a", any_framework=True).files == ["package.json", "src/main.js"]

    archive = tmp_path / "static.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("static-main/index.html", "<h1>Plain page</h1>")
        zf.writestr("static-main/style.css", "h1 { color: teal; }")
    imported = import_project(archive, tmp_path / "b", any_framework=True)
    assert imported.unwrapped == "static-main" and imported.files == ["index.html", "style.css"]

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("index.html", "<p>x</p>")
        zf.writestr("../escape.txt", "x")
    with pytest.raises(ProjectImportError):
        load_project(evil, any_framework=True)
    nothing = tmp_path / "nothing"
    (nothing / "docs").mkdir(parents=True)
    (nothing / "docs" / "notes.md").write_text("notes")
    with pytest.raises(ProjectImportError, match="neither a package.json nor an index.html"):
        load_project(nothing, any_framework=True)
