"""`webgen doctor`: is every part of the environment in place, and if not, how to fix it."""

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


class Finding(BaseModel):
    name: str
    status: Literal["ok", "warn", "fail"]
    detail: str
    fix: str = ""


def _version(argv: list[str]) -> str | None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout or out.stderr).strip().splitlines()[-1] if out.returncode == 0 else None


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


def check_endpoint(settings: Settings, role: str) -> Finding:
    endpoint = getattr(settings, role)
    url = endpoint.base_url.rstrip("/") + "/models"
    headers = {"Authorization": f"Bearer {endpoint.api_key.get_secret_value()}"}
    try:
        response = httpx.get(url, headers=headers, timeout=3.0)
    except httpx.HTTPError as exc:
        return Finding(
            name=f"model:{role}",
            status="warn",
            detail=f"{endpoint.base_url} unreachable ({type(exc).__name__})",
            fix=f"start a server (e.g. `vllm serve MODEL`) or set WEBGEN_{role.upper()}__BASE_URL",
        )
    if response.status_code >= 400:
        return Finding(
            name=f"model:{role}",
            status="warn",
            detail=f"{url} answered HTTP {response.status_code}",
            fix=f"check WEBGEN_{role.upper()}__BASE_URL and WEBGEN_{role.upper()}__API_KEY",
        )
    return Finding(name=f"model:{role}", status="ok", detail=f"{endpoint.model} at {endpoint.base_url}")


def diagnose(settings: Settings) -> list[Finding]:
    findings = [check_chromium(settings), check_node(settings), check_scaffold(settings), check_database(settings)]
    findings += [check_endpoint(settings, role) for role in ("coder", "judge", "gui")]
    return findings
