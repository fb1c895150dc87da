"""`webgen render` as a real subprocess: real Vite builds and real Chromium, relative paths, exit codes, the
JSON report, type errors, bad input and bounded output."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEBGEN = ROOT / ".venv" / "bin" / "webgen"
EXAMPLES = ROOT / "webgen" / "examples"
APP = 'export default function App() {\n  return <main><h1>Hello</h1><a href="/">home</a></main>;\n}\n'


def _webgen(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    exe = [str(WEBGEN)] if WEBGEN.is_file() else [shutil.which("webgen") or "webgen"]
    return subprocess.run(
        [*exe, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        check=False,
    )


def _action(path: str, body: str) -> str:
    return f'<boltAction type="file" filePath="{path}">\n{body}</boltAction>\n'


def _response(*parts: str, tail: str = "") -> str:
    return '<boltArtifact id="t" title="t">\n' + "".join(parts) + "</boltArtifact>\n" + tail


def _words(seed: int) -> str:
    """Distinct text per file, so 300 small files do not read as a looping reply."""
    digest = hashlib.sha256(str(seed).encode()).hexdigest()
    return digest.translate(str.maketrans("0123456789", "ghijklmnop"))


def _one_line_error(result: subprocess.CompletedProcess, code: int) -> str:
    assert result.returncode == code, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


@pytest.mark.slow
def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty.md").write_text("")
    (tmp_path / "prose.md").write_text("Sure! Here is a plan for your bakery website: a home page and a menu.\n")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)))
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.md").write_text("# notes\n")
    (tmp_path / "notes" / "data.json").write_text("{}\n")
    (tmp_path / "old" / "site" / "src").mkdir(parents=True)
    (tmp_path / "old" / "site" / "src" / "App.tsx").write_text(APP)
    (tmp_path / "old" / "observation.json").write_text("{}")
    (tmp_path / "taken" / "site").mkdir(parents=True)
    (tmp_path / "taken" / "site" / "mine.txt").write_text("keep me")
    ok_input = tmp_path / "app.md"
    ok_input.write_text(_response(_action("src/App.tsx", APP)))

    assert "is empty" in _one_line_error(_webgen("render", "empty.md", cwd=tmp_path), 2)
    assert "no file actions" in _one_line_error(_webgen("render", "prose.md", cwd=tmp_path), 2)
    assert "binary" in _one_line_error(_webgen("render", "image.png", cwd=tmp_path), 2)
    assert "no package.json" in _one_line_error(_webgen("render", "notes", cwd=tmp_path), 2)
    assert "does not exist" in _one_line_error(_webgen("render", "missing.md", cwd=tmp_path), 2)
    assert "render " + str(tmp_path / "old" / "site") in _one_line_error(_webgen("render", "old", cwd=tmp_path), 2)
    taken = _webgen("render", "app.md", "--out", "taken", cwd=tmp_path)
    assert "did not write" in _one_line_error(taken, 2)
    assert (tmp_path / "taken" / "site" / "mine.txt").read_text() == "keep me"
    as_json = _webgen("render", "prose.md", "--json", cwd=tmp_path)
    assert as_json.returncode == 2 and json.loads(as_json.stdout)["exit_code"] == 2
    assert not (tmp_path / "webgen-out").exists()  # nothing was built for bad input


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.node
def test_relative_paths_default_out_and_folder_input(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "bakery.md", tmp_path / "bakery.md")
    default = _webgen("render", "bakery.md", cwd=tmp_path)  # relative PATH, default --out webgen-out/bakery
    assert default.returncode == 0, default.stdout + default.stderr
    out = tmp_path / "webgen-out" / "bakery"
    assert len(list((out / "pages").glob("*.full.png"))) == 3 and "result: ok" in default.stdout
    report = json.loads((out / "render.json").read_text())
    assert report["exit_code"] == 0 and report["site"] == str(out / "site")

    again = _webgen("render", "webgen-out/bakery/site", "--out", "rel/again", "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    data = json.loads(again.stdout)
    assert data["kind"] == "folder" and data["parse"] is None and data["exit_code"] == 0
    assert data["site"] == str(tmp_path / "rel" / "again" / "site")
    assert "src/pages/Menu.tsx" in data["apply"]["written"]
    assert [p["route"] for p in data["observation"]["pages"]] == ["/", "/menu", "/contact"]


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.node
def test_exit_codes_match_with_json_and_typecheck_counts(tmp_path: Path) -> None:
    broken = tmp_path / "broken.md"
    broken.write_text(_response(_action("src/App.tsx", "export default function App() {\n  return <div>\n}\n")))
    failed = _webgen("render", str(broken), "--out", "broken", "--json", cwd=tmp_path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    data = json.loads(failed.stdout)
    assert data["exit_code"] == 1 and "build" in data["failed"]
    assert data == json.loads((tmp_path / "broken" / "render.json").read_text())
    plain = _webgen("render", str(broken), "--out", "broken", cwd=tmp_path)
    assert plain.returncode == failed.returncode and "src/App.tsx:3" in plain.stdout
    assert "result: FAILED (build" in plain.stdout

    errors = "".join(f'export const v{i}: number = "not a number {i}";\n' for i in range(12))
    typed = tmp_path / "typed.md"
    typed.write_text(_response(_action("src/App.tsx", APP), _action("src/types.ts", errors)))
    plain = _webgen("render", str(typed), "--out", "typed", "--typecheck", cwd=tmp_path)
    assert plain.returncode == 1, plain.stdout + plain.stderr
    assert "build ok" in plain.stdout and "typecheck: error 12 type error(s)" in plain.stdout
    assert "src/types.ts:1:14" in plain.stdout and "... and 2 more" in plain.stdout
    assert "result: FAILED (typecheck)" in plain.stdout
    data = json.loads((tmp_path / "typed" / "render.json").read_text())
    assert data["exit_code"] == 1 and data["failed"] == ["typecheck"] and len(data["observation"]["typecheck"]) == 12


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.node
def test_report_of_a_crafted_response_and_bounded_output(tmp_path: Path) -> None:
    many = [_action(f"src/gen/F{i:03d}.ts", f'export const f{i} = "{_words(i)}";\n') for i in range(300)]
    escapes = [_action(f"../../etc/x{i}", "pwned\n") for i in range(25)]
    response = _response(
        _action("src/App.tsx", APP),
        *many,
        *escapes,
        '<boltAction type="shell">npm install foo</boltAction>\n',
        '<boltAction type="finish"></boltAction>\n',
        tail='<boltArtifact id="u" title="u">\n<boltAction type="file" filePath="src/Late.tsx">\nexport const late',
    )
    (tmp_path / "crafted.md").write_text(response)

    as_json = _webgen("render", "crafted.md", "--out", "crafted", "--json", cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stdout + as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["apply"]["rejected"][0]["path"] == "../../etc/x0"
    assert len(data["apply"]["rejected"]) == 25 and "escapes" in data["apply"]["rejected"][0]["reason"]
    assert len(data["apply"]["written"]) == 301  # the JSON keeps the full lists
    parse = data["parse"]
    assert parse["dialect"] == "bolt" and parse["truncated"] == ["src/Late.tsx"]
    assert parse["commands"] == [{"kind": "shell", "command": "npm install foo"}]
    assert parse["markers"] == {"screenshot_validated": False, "finish": True}
    assert len(parse["files"]) == 326 and parse["files"][0] == "src/App.tsx"
    assert _words(7) not in as_json.stdout and not parse.get("repetitive")  # paths only, never contents
    assert not (tmp_path / "etc").exists()

    human = _webgen("render", "crafted.md", "--out", "crafted", cwd=tmp_path)
    assert human.returncode == 0, human.stdout + human.stderr
    text = human.stdout
    assert "written (301):" in text and "... and 281 more" in text and "src/gen/F299.ts" not in text
    assert "rejected (25):" in text and "../../etc/x0" in text and "../../etc/x24" not in text
    assert "... and 5 more" in text and "src/Late.tsx" in text
    assert "npm install foo" in text and "markers: finish" in text
    assert len(text.splitlines()) < 90, text


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.node
def test_a_project_zip_or_folder_is_rendered_as_it_is(tmp_path: Path) -> None:
    """The project's own files (its tailwind.config.js, a PNG in public/ that the page shows) are rendered as they
    are: the image loads, nothing of the scaffold is mixed in, and the lockfile and node_modules are left out."""
    from tests.projects import TAILWIND_CONFIG, png, project_files, tree, write_project, zip_project

    zip_project(tmp_path / "harbour-bikes.zip")
    done = _webgen("render", "harbour-bikes.zip", "--json", cwd=tmp_path)  # default --out webgen-out/harbour-bikes
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)
    site = tmp_path / "webgen-out" / "harbour-bikes" / "site"
    assert data["kind"] == "zip" and data["site"] == str(site) and data["failed"] == []
    assert data["import"]["files"] == len(project_files()) and data["import"]["unwrapped"] == "harbour-bikes-main"
    assert any("package-lock.json" in s for s in data["import"]["skipped"])
    assert sorted(data["apply"]["written"]) == sorted(project_files())
    assert (site / "public" / "logo.png").read_bytes() == png()
    assert (site / "tailwind.config.js").read_text() == TAILWIND_CONFIG
    assert not (site / "src" / "vite-env.d.ts").exists()  # a scaffold file the project does not have
    pages = data["observation"]["pages"]
    assert [p["route"] for p in pages] == ["/", "/about"] and not any(p["failed_requests"] for p in pages)

    folder = write_project(tmp_path / "bikes")
    human = _webgen("render", "bikes", "--out", "bikes/out", cwd=tmp_path)  # an --out inside the project
    assert human.returncode == 0, human.stdout + human.stderr
    assert f"project: bikes, {len(project_files())} file(s)" in human.stdout and "result: ok" in human.stdout
    assert "skipped (4):" in human.stdout
    copied = [p for p in tree(folder / "out" / "site") if p.split("/")[0] not in ("dist", "node_modules")]
    assert sorted(p for p in copied if not p.endswith("/")) == sorted(project_files())


def test_bad_project_zips_exit_2_and_write_nothing(tmp_path: Path) -> None:
    from tests.projects import tree, zip_declaring_huge_member, zip_of

    react = json.dumps({"dependencies": {"react": "^18.3.1"}})
    zip_of(tmp_path / "slip.zip", {"package.json": react, "../../escaped.txt": "pwned"})
    zip_of(tmp_path / "vue.zip", {"package.json": json.dumps({"dependencies": {"vue": "^3"}})})
    zip_declaring_huge_member(tmp_path / "huge.zip")
    before = tree(tmp_path)
    assert "outside the project" in _one_line_error(_webgen("render", "slip.zip", cwd=tmp_path), 2)
    assert "Vue project" in _one_line_error(_webgen("render", "vue.zip", cwd=tmp_path), 2)
    assert "2 GB" in _one_line_error(_webgen("render", "huge.zip", cwd=tmp_path), 2)
    assert tree(tmp_path) == before  # no webgen-out, nothing beside the inputs
