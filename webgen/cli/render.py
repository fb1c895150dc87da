"""`webgen render`: a site folder or a saved model response -> built, rendered, checked, saved.

:func:`load_source` reads and validates the input (raising :class:`InputError` for input that is neither a site
nor a model response) before anything expensive starts; :func:`render` puts it on a fresh scaffold site under
``out/site``, observes it, and saves ``observation.json`` and ``render.json`` (the observation plus what the
parser and the workspace reported, see :meth:`RenderResult.report`) in ``out``.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from webgen.agent.actions import ParsedResponse, parse_response
from webgen.core.types import Observation
from webgen.feedback.site.environment import SiteEnvironment
from webgen.feedback.site.report import save_observation
from webgen.feedback.site.scaffold import PROTECTED_FILES, workspace_for
from webgen.feedback.site.workspace import ApplyReport, FileWrite, WriteLike

_SKIP_DIRS = {"node_modules", "dist", ".git", ".webgen", ".vite", "webgen-out"}
MAX_SOURCE_FILES = 2000
#: A folder needs at least one of these (outside the scaffold-owned configs) to count as a site.
SOURCE_SUFFIXES = frozenset({".tsx", ".ts", ".jsx", ".js", ".mjs", ".cjs", ".css", ".html"})
REPORT_NAME = "render.json"

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
_INPUT_FIX = (
    "pass a site folder (with e.g. src/App.tsx) or a saved model response with file actions "
    '(<boltAction type="file" filePath="...">, or code fences named by path)'
)


class InputError(ValueError):
    """The input is neither a site folder nor a model response (exit code 2); `fix` says what to pass."""

    def __init__(self, message: str, fix: str = _INPUT_FIX) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message}; {self.fix}"


@dataclass
class Source:
    """The validated input: the writes to apply and, for a response, what the parser found."""

    path: Path
    writes: list[WriteLike] = field(default_factory=list)
    parsed: ParsedResponse | None = None

    @property
    def kind(self) -> str:
        return "folder" if self.parsed is None else "response"


class RenderResult(BaseModel):
    site: Path
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
            "kind": "folder" if parsed is None else "response",
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


def _folder_writes(folder: Path, exclude: Path | None = None) -> list[FileWrite]:
    writes = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if rel.parts[0] in _SKIP_DIRS or not path.is_file() or path.is_symlink():
            continue
        if exclude is not None and path.is_relative_to(exclude):
            continue  # the output folder inside the input folder (`webgen render . -o out`)
        try:
            writes.append(FileWrite(path=rel.as_posix(), content=path.read_text(encoding="utf-8")))
        except (UnicodeDecodeError, OSError):
            continue  # binary assets are not model output; the scaffold's public/ covers favicons
        if len(writes) >= MAX_SOURCE_FILES:
            break
    return writes


def _is_protected(path: str) -> bool:
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in PROTECTED_FILES)


def load_source(source: Path, out: Path | None = None) -> Source:
    """Read a site folder or a response file into writes. Raises :class:`InputError` for anything else."""
    source = Path(source).resolve()
    if not source.exists():
        raise InputError(f"{source} does not exist", "check the path")
    if source.is_dir():
        return _load_folder(source, Path(out).resolve() if out is not None else None)
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


def _load_folder(folder: Path, out: Path | None) -> Source:
    if out is not None and out == folder:
        raise InputError(f"--out {out} is the input folder", "choose another output folder")
    if (folder / "observation.json").is_file() and (folder / "site").is_dir():
        raise InputError(f"{folder} is a `webgen render` output folder", f"render {folder / 'site'} instead")
    writes = _folder_writes(folder, exclude=out if out is not None and out.is_relative_to(folder) else None)
    if not any(Path(w.path).suffix in SOURCE_SUFFIXES and not _is_protected(w.path) for w in writes):
        names = ", ".join(sorted(SOURCE_SUFFIXES))
        raise InputError(f"{folder} has no source files webgen can use ({names})")
    return Source(folder, list(writes), None)


def prepare_site(
    source: Path | Source, env: SiteEnvironment, out: Path
) -> tuple[Path, ApplyReport, ParsedResponse | None]:
    """Copy a folder's sources, or a response's files, onto a fresh scaffold site under `out/site`."""
    out = Path(out).resolve()
    loaded = source if isinstance(source, Source) else load_source(source, out)  # read before `site` is removed
    site = out / "site"
    if site.exists():
        shutil.rmtree(site)
    env.new_site(site)
    writes = loaded.writes
    if loaded.parsed is None:
        writes = [w for w in writes if not _is_scaffold_copy(w, env)]
    return site, workspace_for(site).apply(writes), loaded.parsed


def _is_scaffold_copy(write: WriteLike, env: SiteEnvironment) -> bool:
    """A folder's own copy of a scaffold-owned config is expected; only a changed one is worth a rejection."""
    original = env.scaffold.source / write.path
    return original.is_file() and original.read_text() == write.content


def render(source: Path | Source, env: SiteEnvironment, out: Path) -> RenderResult:
    """Render a folder or response (a path, or a :func:`load_source` result); save observation and report."""
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
