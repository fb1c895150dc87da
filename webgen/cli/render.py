"""`webgen render`: a project (a folder or a zip) or a saved model response -> built, rendered, checked, saved.

:func:`load_source` reads and validates the input (raising :class:`InputError` for input that is neither a
project nor a model response) before anything expensive starts. :func:`render` lays it out under ``out/site`` (a
project is imported as it is by :mod:`webgen.feedback.site.project_import`, its own config files and binary
assets included; a response's files are written onto a fresh scaffold site), observes it, and saves
``observation.json`` and ``render.json`` (the observation plus what the import, the parser and the workspace
reported, see :meth:`RenderResult.report`) in ``out``.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from webgen.agent.actions import ParsedResponse, parse_response
from webgen.core.types import Observation
from webgen.feedback.site.environment import SiteEnvironment
from webgen.feedback.site.project_import import ImportedProject, ProjectImportError, ProjectPlan, load_project
from webgen.feedback.site.report import save_observation
from webgen.feedback.site.scaffold import link_node_modules, workspace_for
from webgen.feedback.site.workspace import ApplyReport, WriteLike

REPORT_NAME = "render.json"

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
_INPUT_FIX = (
    "pass a project folder or .zip (package.json, index.html, src/) or a saved model response with file actions "
    '(<boltAction type="file" filePath="...">, or code fences named by path)'
)


class InputError(ValueError):
    """The input is neither a project nor a model response (exit code 2); `fix` says what to pass."""

    def __init__(self, message: str, fix: str = _INPUT_FIX) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message}; {self.fix}"


@dataclass
class Source:
    """The validated input: a project to import, or a response's writes and what the parser found."""

    path: Path
    writes: list[WriteLike] = field(default_factory=list)
    parsed: ParsedResponse | None = None
    project: ProjectPlan | None = None

    @property
    def kind(self) -> Literal["folder", "zip", "response"]:
        return self.project.project.kind if self.project is not None else "response"


class RenderResult(BaseModel):
    site: Path
    kind: Literal["folder", "zip", "response"] = "response"
    project: ImportedProject | None = Field(default=None, description="what an imported project brought in")
    observation: Observation
    observation_path: Path
    report_path: Path | None = None
    source: Path | None = None
    apply: ApplyReport | None = None
    parsed: ParsedResponse | None = None
    problems: list[str] = Field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        """Names of the error checks that failed, with ``typecheck`` when tsc ran and reported errors."""
        names = [c.name for c in self.observation.checks if not c.passed and c.severity == "error"]
        if self.observation.typecheck:
            names.append("typecheck")
        return names

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.failed else EXIT_OK

    def report(self) -> dict[str, Any]:
        """The JSON of `webgen render --json` and of ``render.json``: paths and reports, never file contents."""
        apply = self.apply or ApplyReport(written=[], unchanged=[], rejected=[])
        parsed = self.parsed
        return {
            "source": str(self.source) if self.source else None,
            "kind": self.kind,
            "import": None
            if self.project is None
            else self.project.model_dump(mode="json", include={"name", "total_bytes", "skipped", "unwrapped"})
            | {"files": len(self.project.files)},
            "site": str(self.site),
            "observation_path": str(self.observation_path),
            "observation": self.observation.model_dump(mode="json"),
            "apply": apply.model_dump(mode="json"),
            "parse": None
            if parsed is None
            else {
                "dialect": parsed.dialect,
                "files": [f.path for f in parsed.files],
                "truncated": list(parsed.truncated),
                "commands": [c.model_dump(mode="json") for c in parsed.commands],
                "markers": {"screenshot_validated": parsed.screenshot_validated, "finish": parsed.finish},
                "problems": list(parsed.problems),
                "repetitive": bool(getattr(parsed, "repetitive", False)),
            },
            "problems": list(self.problems),
            "failed": self.failed,
            "exit_code": self.exit_code,
        }


def _is_project(source: Path) -> bool:
    return source.is_dir() or source.suffix.lower() == ".zip" or (source.is_file() and zipfile.is_zipfile(source))


def load_source(source: Path, out: Path | None = None) -> Source:
    """Read a project (folder or zip) or a response file. Raises :class:`InputError` for anything else."""
    source = Path(source).resolve()
    if not source.exists():
        raise InputError(f"{source} does not exist", "check the path")
    if _is_project(source):
        return _load_project(source, Path(out).resolve() if out is not None else None)
    if not source.is_file():
        raise InputError(f"{source} is not a regular file or folder")
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror or exc}", "check its permissions") from exc
    if not data.strip():
        raise InputError(f"{source} is empty")
    if b"\0" in data[:65536]:
        raise InputError(f"{source} is a binary file, not a model response")
    parsed = parse_response(data.decode("utf-8", errors="replace"))
    if not parsed.files:
        found = "no file actions"
        if parsed.truncated:
            found = f"no complete file actions (it ended inside {', '.join(summarise(parsed.truncated, 5))})"
        elif parsed.commands or parsed.finish or parsed.screenshot_validated:
            found += " (only commands or markers)"
        raise InputError(f"{source} holds {found}, so there is nothing to render")
    return Source(source, list(parsed.files), parsed)


def _load_project(source: Path, out: Path | None) -> Source:
    if source.is_dir():
        if out is not None and out == source:
            raise InputError(f"--out {out} is the input folder", "choose another output folder")
        if (source / "observation.json").is_file() and (source / "site").is_dir():
            raise InputError(f"{source} is a `webgen render` output folder", f"render {source / 'site'} instead")
    inside = [out] if out is not None and source.is_dir() and out.is_relative_to(source) else []
    try:
        return Source(source, project=load_project(source, exclude=inside))
    except ProjectImportError as exc:
        raise InputError(exc.message, exc.fix) from exc


def prepare_site(
    source: Path | Source, env: SiteEnvironment, out: Path
) -> tuple[Path, ApplyReport, ParsedResponse | None]:
    """Import a project as it is, or write a response's files onto a fresh scaffold site, under `out/site`."""
    out = Path(out).resolve()
    loaded = source if isinstance(source, Source) else load_source(source, out)  # read before `site` is removed
    site = out / "site"
    if site.exists():
        shutil.rmtree(site)
    if loaded.project is not None:
        try:
            project = loaded.project.write(site)
        except ProjectImportError as exc:  # a zip whose data is not what its directory says
            raise InputError(exc.message, exc.fix) from exc
        link_node_modules(site, env.scaffold.node_modules)
        return site, ApplyReport(written=project.files, unchanged=[], rejected=[]), None
    env.new_site(site)
    return site, workspace_for(site).apply(loaded.writes), loaded.parsed


def render(source: Path | Source, env: SiteEnvironment, out: Path) -> RenderResult:
    """Render a project or a response (a path, or a :func:`load_source` result); save observation and report."""
    out = Path(out).resolve()
    loaded = source if isinstance(source, Source) else load_source(source, out)
    site, report, parsed = prepare_site(loaded, env, out)
    observation = env.observe(site)
    problems = [f"{r.path}: {r.reason}" for r in report.rejected]
    if parsed is not None:
        problems += [f"{path}: the response ended inside this file; it was not written" for path in parsed.truncated]
        problems += parsed.problems
    path = save_observation(observation, out)
    result = RenderResult(
        site=site,
        kind=loaded.kind,
        project=loaded.project.project if loaded.project is not None else None,
        observation=observation,
        observation_path=path,
        source=loaded.path,
        apply=report,
        parsed=parsed,
        problems=problems,
        report_path=out / REPORT_NAME,
    )
    result.report_path.write_text(json.dumps(result.report(), indent=2))
    return result


def summarise(items: list[str], limit: int = 20) -> list[str]:
    """At most `limit` items, then "... and N more"."""
    if len(items) <= limit:
        return list(items)
    return [*items[:limit], f"... and {len(items) - limit} more"]
