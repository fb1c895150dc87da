"""`webgen render`: a site folder or a saved model response -> built, rendered, checked, saved."""

from __future__ import annotations

import shutil
from pathlib import Path

from pydantic import BaseModel, Field

from webgen.agent.actions import ParsedResponse, parse_response
from webgen.feedback.blobs import MemoryBlobStore
from webgen.feedback.environment import SiteEnvironment
from webgen.feedback.report import save_observation
from webgen.feedback.scaffold import PROTECTED_FILES
from webgen.feedback.workspace import ApplyReport, FileWrite, Workspace
from webgen.types import Observation

_SKIP_DIRS = {"node_modules", "dist", ".git", ".webgen", ".vite"}
MAX_SOURCE_FILES = 2000


class RenderResult(BaseModel):
    site: Path
    observation: Observation
    observation_path: Path
    apply: ApplyReport | None = None
    parsed: ParsedResponse | None = None
    problems: list[str] = Field(default_factory=list)


def workspace_for(site: Path) -> Workspace:
    return Workspace(site, MemoryBlobStore(), protected=PROTECTED_FILES)


def _folder_writes(folder: Path) -> list[FileWrite]:
    writes = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if rel.parts[0] in _SKIP_DIRS or not path.is_file() or path.is_symlink():
            continue
        try:
            writes.append(FileWrite(path=rel.as_posix(), content=path.read_text(encoding="utf-8")))
        except UnicodeDecodeError:
            continue  # binary assets are not model output; the scaffold's public/ covers favicons
        if len(writes) >= MAX_SOURCE_FILES:
            break
    return writes


def prepare_site(source: Path, env: SiteEnvironment, out: Path) -> tuple[Path, ApplyReport, ParsedResponse | None]:
    """Copy a folder's sources, or a response's files, onto a fresh scaffold site under `out/site`."""
    site = out / "site"
    if site.exists():
        shutil.rmtree(site)
    env.new_site(site)
    parsed = None
    if source.is_dir():
        writes = _folder_writes(source)
        writes = [w for w in writes if not _is_scaffold_copy(w, env)]
    else:
        parsed = parse_response(source.read_text(encoding="utf-8", errors="replace"))
        writes = parsed.files
    return site, workspace_for(site).apply(writes), parsed


def _is_scaffold_copy(write: FileWrite, env: SiteEnvironment) -> bool:
    """A folder's own copy of a scaffold-owned config is expected; only a changed one is worth a rejection."""
    original = env.scaffold.source / write.path
    return original.is_file() and original.read_text() == write.content


def render(source: Path, env: SiteEnvironment, out: Path) -> RenderResult:
    site, report, parsed = prepare_site(source, env, out)
    observation = env.observe(site)
    problems = [f"{r.path}: {r.reason}" for r in report.rejected]
    if parsed is not None:
        problems += [f"{path}: the response ended inside this file; it was not written" for path in parsed.truncated]
        problems += parsed.problems
        if not parsed.files:
            problems.append("the response contains no file actions")
    path = save_observation(observation, out)
    return RenderResult(
        site=site, observation=observation, observation_path=path, apply=report, parsed=parsed, problems=problems
    )
