"""Model output is untrusted: paths, build configs, package.json scripts, runaway builds, truncated replies."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.helpers import descendants, make_site, own_processes
from webgen.cli.render import render
from webgen.feedback.site.builder import BuildWorker
from webgen.feedback.site.environment import SiteEnvironment

pytestmark = [pytest.mark.browser, pytest.mark.node]

APP = (
    "export default function App() { return <main><h1>Hello from a safe little site</h1><button>Go</button></main>; }\n"
)


def artifact(*files: tuple[str, str], closed: bool = True) -> str:
    body = "".join(f'<boltAction type="file" filePath="{path}">\n{content}</boltAction>\n' for path, content in files)
    return f'<boltArtifact id="t" title="t">\n{body}' + ("</boltArtifact>\n" if closed else "")


def test_path_traversal_and_absolute_paths_rejected(env: SiteEnvironment, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "pwned.txt"
    response = tmp_path / "response.md"
    response.write_text(
        artifact(
            ("src/App.tsx", APP),
            ("../../outside/pwned.txt", "x"),
            (str(target), "x"),
            ("node_modules/react/index.js", "module.exports = 1;"),
            ("src/../../../outside/pwned.txt", "x"),
        )
    )
    result = render(response, env, tmp_path / "out")
    assert not target.exists() and list(outside.iterdir()) == []
    assert len(result.apply.rejected) == 4
    assert result.apply.written == ["src/App.tsx"]
    assert result.observation.build.ok and not result.observation.has_error
    react = env.scaffold.node_modules / "react" / "index.js"
    assert "module.exports = 1;" not in react.read_text()


def test_symlink_in_site_cannot_redirect_writes(env: SiteEnvironment, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    site = env.new_site(tmp_path / "site")
    (site / "src" / "evil").symlink_to(outside, target_is_directory=True)
    from webgen.feedback.site.scaffold import workspace_for
    from webgen.feedback.site.workspace import FileWrite

    report = workspace_for(site).apply([FileWrite(path="src/evil/x.tsx", content="export {}")])
    assert [r.path for r in report.rejected] == ["src/evil/x.tsx"] and "symlink" in report.rejected[0].reason
    assert list(outside.iterdir()) == []


def _payload(marker: Path) -> str:
    return (
        "import fs from 'node:fs';\n"
        f"fs.writeFileSync({str(marker)!r}, 'pwned');\n"
        "while (true) {}\n"
        "export default {};\n"
    )


def test_model_build_configs_and_scripts_never_run(env: SiteEnvironment, tmp_path: Path) -> None:
    marker = Path("/tmp") / f"webgen-pwned-{uuid.uuid4().hex}"
    package = (
        '{"name": "site", "type": "module", "scripts": {"preinstall": "touch %s", "postinstall": "touch %s",'
        ' "prebuild": "touch %s", "build": "touch %s && vite build"},'
        ' "dependencies": {"react": "^18.3.1", "react-dom": "^18.3.1"}}'
    ) % ((marker,) * 4)
    response = tmp_path / "response.md"
    response.write_text(
        artifact(
            ("src/App.tsx", APP),
            ("package.json", package),
            ("vite.config.ts", _payload(marker)),
            ("tailwind.config.js", _payload(marker)),
            ("postcss.config.js", _payload(marker)),
        )
    )
    result = render(response, env, tmp_path / "out")
    assert result.apply.rejected == []  # configs are the site's to write: the build reads them as data
    assert result.observation.build.ok, result.observation.summary()
    assert not marker.exists()

    # Configs whose values come from code, that reach outside the site, or load an unknown plugin: each part is
    # left out with a note, and nothing of them runs (the loop would hang the build, the write would land).
    site = result.site
    evil = tmp_path / "evil-plugin.cjs"
    evil.write_text(f"require('node:fs').writeFileSync({str(marker)!r}, 'pwned'); module.exports = () => {{}};\n")
    hostile = {
        "vite.config.ts": _payload(marker).replace(
            "export default {};",
            f"export default {{ resolve: {{ alias: {{ '@': '/etc', '~': require('node:os').homedir() }} }},"
            f" plugins: [require({str(evil)!r})()] }};",
        ),
        "vite.config.js": _payload(marker),
        "tailwind.config.js": _payload(marker).replace(
            "export default {};", f"export default {{ plugins: [require({str(evil)!r})], content: ['../../**/*'] }};"
        ),
        "postcss.config.cjs": _payload(marker),
    }
    for name, text in hostile.items():
        (site / name).write_text(text)
    obs = env.observe(site)
    assert obs.build.ok and obs.build.seconds < 20, obs.summary()
    notes = " | ".join(obs.build.notes)
    assert 'the alias "@" points outside the site' in notes and 'the alias "~" is computed when run' in notes
    assert f"the plugin {evil} is not one webgen loads" in notes
    assert "content globs outside the site are ignored" in notes
    assert not marker.exists()


def test_import_of_files_outside_the_site_is_refused(env: SiteEnvironment, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    app = f"import s from {str(secret) + '?raw'!r};\nexport default function App() {{ return <p>{{s}}</p>; }}\n"
    obs = env.observe(make_site(env, tmp_path, {"src/App.tsx": app}))
    assert not obs.build.ok
    assert "outside the project" in obs.build.diagnostics[0].message


def test_runaway_build_is_killed_with_its_process_group(env: SiteEnvironment, tmp_path: Path) -> None:
    site = make_site(env, tmp_path, {"src/App.tsx": APP})
    before = descendants(os.getpid())
    worker = BuildWorker(env.scaffold.cache_dir, allow=[env.scaffold.cache_dir])
    try:
        result = worker.build(site, site / "dist", timeout_s=0.05)
        assert result.timed_out and not result.ok and "did not finish" in result.diagnostics[0].message
        assert worker.pid is None
        assert not own_processes(before)
        again = worker.build(site, site / "dist", timeout_s=60)  # a fresh worker takes over
        assert again.ok and own_processes(before) == {worker.pid}
    finally:
        worker.close()
    assert not own_processes(before)


def test_response_truncated_mid_file(env: SiteEnvironment, tmp_path: Path) -> None:
    response = tmp_path / "response.md"
    text = artifact(
        ("src/App.tsx", APP), ("src/pages/About.tsx", "export default function About() {\n  return <p>About")
    )
    response.write_text(text[: text.rindex("</boltAction>")])
    result = render(response, env, tmp_path / "out")
    assert result.parsed.truncated == ["src/pages/About.tsx"]
    assert result.apply.written == ["src/App.tsx"]
    assert not (result.site / "src" / "pages" / "About.tsx").exists()
    assert any("ended inside this file" in p for p in result.problems)
    assert result.observation.build.ok


def test_a_config_nested_too_deep_to_read_is_ignored_not_fatal(env: SiteEnvironment, tmp_path: Path) -> None:
    deep = "export default { theme: { extend: { colors: " + "[" * 20000 + "]" * 20000 + " } } };\n"
    site = make_site(env, tmp_path, {"src/App.tsx": APP, "tailwind.config.js": deep})
    obs = env.observe(site)
    assert obs.build.ok, obs.summary()  # the build worker survived it
    assert any("tailwind.config.js nests deeper than 200 levels; it is ignored" in n for n in obs.build.notes)
