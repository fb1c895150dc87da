"""The environment check behind `webgen doctor` and the UI's "Check" button: Chromium, Node/npm, the scaffold
cache, the database and each model endpoint, each as a :class:`Finding` that says how to fix a problem.

A model endpoint is checked as the loop will use it: its OpenAI models list must answer (with the key from the
environment) and, when the list names models, it must name the configured one.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Literal

import httpx
from pydantic import BaseModel

from webgen.core.settings import Settings
from webgen.feedback.site.scaffold import ScaffoldError, get_scaffold

MIN_NODE = (20, 19)
ROLES = ("coder", "judge", "gui")


class Finding(BaseModel):
    name: str
    status: Literal["ok", "warn", "fail"]
    detail: str
    fix: str = ""
    down: bool = False  # a model endpoint that does not answer (unreachable, or an HTTP error)


def _version(argv: list[str]) -> str | None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[-1] if out.returncode == 0 and lines else None


def check_chromium(settings: Settings) -> Finding:
    path = settings.chromium_path
    version = _version([str(path), "--version"]) if path.exists() else None
    if version:
        return Finding(name="chromium", status="ok", detail=f"{version} at {path}")
    return Finding(
        name="chromium",
        status="fail",
        detail=f"no working Chromium at {path}",
        fix="apt-get install -y chromium (or set WEBGEN_CHROMIUM_PATH)",
    )


def check_node(settings: Settings) -> Finding:
    node = shutil.which(settings.node_path)
    version = _version([node, "--version"]) if node else None
    npm = shutil.which(settings.npm_path)
    if not version or not npm:
        return Finding(
            name="node/npm",
            status="fail",
            detail="node or npm not found",
            fix="apt-get install -y nodejs npm (Node >= 20.19)",
        )
    numbers = tuple(int(x) for x in re.findall(r"\d+", version)[:2])
    if numbers < MIN_NODE:
        return Finding(
            name="node/npm", status="fail", detail=f"node {version} is too old for Vite 8", fix="install Node >= 20.19"
        )
    return Finding(name="node/npm", status="ok", detail=f"node {version}, npm at {npm}")


def check_scaffold(settings: Settings) -> Finding:
    try:
        scaffold = get_scaffold(settings.scaffold, settings.home)
    except ScaffoldError as exc:
        return Finding(name="scaffold", status="fail", detail=str(exc), fix="set WEBGEN_SCAFFOLD to an available one")
    if scaffold.installed:
        return Finding(name="scaffold", status="ok", detail=f"{scaffold.name} installed at {scaffold.cache_dir}")
    return Finding(
        name="scaffold", status="fail", detail=f"{scaffold.name} is not installed", fix="webgen scaffold install"
    )


def check_database(settings: Settings) -> Finding:
    from sqlalchemy import create_engine, text

    url = settings.resolved_database_url
    try:
        if url.startswith("sqlite:///"):
            settings.home.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:
        return Finding(
            name="database",
            status="fail",
            detail=f"{url}: {str(exc).splitlines()[0][:200]}",
            fix="set WEBGEN_DATABASE_URL to a reachable SQLAlchemy URL",
        )
    return Finding(name="database", status="ok", detail=url.split("@")[-1])


def check_endpoint(settings: Settings, role: str, *, timeout_s: float = 3.0) -> Finding:
    """Does the role's endpoint answer its models list, and does it serve the configured model?
    Problems are warnings: the environment works without models (the UI shows them as down)."""
    endpoint = getattr(settings, role)
    name, env = f"model:{role}", f"WEBGEN_{role.upper()}"
    url = endpoint.base_url.rstrip("/") + "/models"
    headers = {"Authorization": f"Bearer {endpoint.api_key.get_secret_value()}"}
    try:
        response = httpx.get(url, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        return Finding(
            name=name,
            status="warn",
            detail=f"{endpoint.base_url} unreachable ({type(exc).__name__})",
            down=True,
            fix=f"start a server (e.g. `vllm serve MODEL`) or set {env}__BASE_URL",
        )
    if response.status_code >= 400:
        return Finding(
            name=name,
            status="warn",
            detail=f"{url} answered HTTP {response.status_code}",
            down=True,
            fix=f"check {env}__BASE_URL and {env}__API_KEY",
        )
    try:
        served = [str(m.get("id")) for m in response.json().get("data", [])]
    except (ValueError, AttributeError):
        return Finding(
            name=name,
            status="warn",
            detail=f"{url} did not answer an OpenAI models list",
            fix=f"point {env}__BASE_URL at the server's /v1",
        )
    if served and endpoint.model not in served:
        return Finding(
            name=name,
            status="warn",
            detail=f"{endpoint.model!r} is not served at {endpoint.base_url} (it serves {', '.join(served[:5])})",
            fix=f"set {env}__MODEL to a served name",
        )
    return Finding(name=name, status="ok", detail=f"{endpoint.model} at {endpoint.base_url}")


def diagnose(settings: Settings) -> list[Finding]:
    findings = [check_chromium(settings), check_node(settings), check_scaffold(settings), check_database(settings)]
    findings += [check_endpoint(settings, role) for role in ROLES]
    return findings
