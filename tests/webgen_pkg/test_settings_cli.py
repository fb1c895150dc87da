"""Settings sources and the CLI, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from webgen.core.env import OFFLINE_ENV, apply_offline_env
from webgen.core.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "webgen" / "examples"


def test_env_vars_and_config_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "webgen.toml"
    toml.write_text(
        'scaffold = "react18-v1"\n[coder]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "from-file"\n'
        "[site]\nmax_routes = 3\n"
    )
    monkeypatch.setenv("WEBGEN_CODER__MODEL", "from-env")
    monkeypatch.setenv("WEBGEN_JUDGE__API_KEY", "sk-secret")
    cfg = Settings.load(toml)
    assert cfg.coder.model == "from-env" and cfg.coder.base_url == "http://127.0.0.1:9/v1"
    assert cfg.site.max_routes == 3
    public = json.dumps(cfg.public())
    assert "sk-secret" not in public and "api_key" not in public
    yaml = tmp_path / "webgen.yaml"
    yaml.write_text("gui:\n  model: qwen-vl\n")
    assert Settings.load(yaml).gui.model == "qwen-vl"
    with pytest.raises(FileNotFoundError):
        Settings.load(tmp_path / "missing.toml")
    bad = tmp_path / "webgen.ini"
    bad.write_text("x")
    with pytest.raises(ValueError, match="toml"):
        Settings.load(bad)


def test_load_leaves_the_environment_alone_and_settings_are_frozen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen, from_env = tmp_path / "chosen.toml", tmp_path / "env.toml"
    chosen.write_text("[site]\nmax_routes = 3\n")
    from_env.write_text("[site]\nmax_routes = 4\n")
    monkeypatch.setenv("WEBGEN_CONFIG", str(from_env))
    assert Settings.load(chosen).site.max_routes == 3  # the argument takes the place of $WEBGEN_CONFIG
    assert os.environ["WEBGEN_CONFIG"] == str(from_env)
    assert Settings.load().site.max_routes == 4
    monkeypatch.delenv("WEBGEN_CONFIG")
    cfg = Settings.load(chosen)
    assert "WEBGEN_CONFIG" not in os.environ
    with pytest.raises(ValidationError, match="frozen"):
        cfg.site.max_routes = 1
    with pytest.raises(ValidationError, match="frozen"):
        cfg.home = tmp_path
    changed = cfg.updated(site={"typecheck": True}, home=str(tmp_path / "home"))
    assert changed.site.typecheck and changed.site.max_routes == 3 and changed.home == tmp_path / "home"
    assert not cfg.site.typecheck and cfg.home != changed.home
    with pytest.raises(ValueError, match="no field typechek"):
        cfg.updated(site={"typechek": True})


def test_offline_env_respects_user_choices() -> None:
    env = {"HF_HUB_OFFLINE": "0"}
    apply_offline_env(env)
    assert env["HF_HUB_OFFLINE"] == "0"
    assert all(env[k] == v for k, v in OFFLINE_ENV.items() if k != "HF_HUB_OFFLINE")


def _webgen(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "webgen", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


def test_cli_doctor_reports_and_explains(tmp_path: Path) -> None:
    result = _webgen("doctor", cwd=tmp_path)
    assert "chromium" in result.stdout and "scaffold" in result.stdout and "model:coder" in result.stdout
    assert result.returncode == 0, result.stdout  # unreachable model endpoints are warnings, not failures


@pytest.mark.slow
@pytest.mark.browser
def test_cli_render_response_and_failing_site(tmp_path: Path) -> None:
    ok = _webgen("render", str(EXAMPLES / "bakery.md"), "--out", str(tmp_path / "ok"), cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "/contact" in ok.stdout
    assert len(list((tmp_path / "ok" / "pages").glob("*.png"))) >= 3
    broken = tmp_path / "broken.md"
    broken.write_text(
        '<boltArtifact id="a" title="b"><boltAction type="file" filePath="src/App.tsx">'
        "export default function App() {\n  return <div>\n}\n</boltAction></boltArtifact>"
    )
    bad = _webgen("render", str(broken), "--out", str(tmp_path / "bad"), cwd=tmp_path)
    assert bad.returncode == 1 and "src/App.tsx:3" in bad.stdout
    data = json.loads((tmp_path / "bad" / "observation.json").read_text())
    assert data["build"]["ok"] is False


@pytest.mark.slow
def test_cli_db_import_stats_and_bad_lines(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200", "WEBGEN_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}

    def webgen(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "webgen", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            cwd=tmp_path,
            check=False,
        )

    bad = tmp_path / "tasks.jsonl"
    bad.write_text('{"id": 1, "instruction": "A shop"}\n{"id": 2}\n')
    rejected = webgen("db", "import", str(bad))
    assert rejected.returncode == 1 and "line 2" in rejected.stdout and "nothing imported" in rejected.stdout
    skipped = webgen("db", "import", str(bad), "--on-error", "skip", "--source", "mine")
    assert skipped.returncode == 0 and "1 new" in skipped.stdout and "skipped line 2" in skipped.stdout
    stats = webgen("db", "stats")
    assert json.loads(stats.stdout)["tasks"] == 1
    assert webgen("db", "prune").returncode == 2  # says what to choose instead of deleting everything


def test_cli_fake_llm_serves_a_script(tmp_path: Path) -> None:
    import socket
    import time
    import urllib.request

    script = tmp_path / "script.yaml"
    script.write_text("- model: coder\n  reply: hello from the script\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "webgen", "fake-llm", "--script", str(script), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as response:
                    assert "coder" in response.read().decode()
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError("fake-llm did not start")
        body = json.dumps({"model": "coder", "messages": [{"role": "user", "content": "hi"}]}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/chat/completions", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.loads(response.read())["choices"][0]["message"]["content"] == "hello from the script"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
