"""Check the import contracts of pyproject.toml ([tool.importlinter]) with import-linter; exits as it does.

Import-linter (grimp) finds a package by walking the one folder its root package lives in, but webgen's
subpackages live in top folders mapped by [tool.setuptools] package-dir (agent/ -> webgen.agent, ...), so
a plain `lint-imports` at the repository root sees only webgen/core and webgen/cli. This script lays out a
temporary view of symbolic links shaped like the import names (view/webgen/agent -> agent/, ...) and runs
`lint-imports` from there, which puts the view first on its path. Extra arguments go to `lint-imports`.

Usage: .venv/bin/python scripts/lint_layers.py [--verbose] [--contract ID]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SKIP = {"__pycache__"}


def package_dirs(repo: Path = REPO) -> dict[str, Path]:
    """Package name -> its source folder, from [tool.setuptools] package-dir."""
    pyproject = tomllib.loads((repo / "pyproject.toml").read_text())
    mapping = pyproject["tool"]["setuptools"]["package-dir"]
    return {name: repo / folder for name, folder in mapping.items()}


def _materialise(directory: Path) -> None:
    """Turn a link to a folder into a real folder of links to its entries (to add files inside it)."""
    if not directory.is_symlink():
        return
    source = directory.resolve()
    directory.unlink()
    directory.mkdir()
    for entry in source.iterdir():
        if entry.name not in SKIP:
            (directory / entry.name).symlink_to(entry)


def build_view(dest: Path, extra: dict[str, str] | None = None, repo: Path = REPO) -> Path:
    """Lay out `dest/webgen/...` as links to the source folders; `extra` adds files (path -> text) to it."""
    for name, folder in sorted(package_dirs(repo).items(), key=lambda item: item[0].count(".")):
        target = dest.joinpath(*name.split("."))
        if name.count(".") == 0:
            target.mkdir(parents=True)
            for entry in folder.iterdir():
                if entry.name not in SKIP:
                    (target / entry.name).symlink_to(entry)
        else:
            _materialise(target.parent)
            if target.is_symlink():
                target.unlink()
            target.symlink_to(folder)
    for relative, text in (extra or {}).items():
        path = dest / relative
        current = dest
        for part in Path(relative).parent.parts:
            current = current / part
            _materialise(current)
        if path.is_symlink():
            path.unlink()  # replace the link, never write through it into the source tree
        path.write_text(text)
    return dest


def lint(view: Path, *args: str, repo: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run `lint-imports` (next to this interpreter) over a view with the contracts of repo/pyproject.toml."""
    command = [str(Path(sys.executable).parent / "lint-imports"), str(repo / "pyproject.toml"), "--no-logo"]
    return subprocess.run([*command, "--no-cache", *args], cwd=view, capture_output=True, text=True, check=False)


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="webgen-layers-") as tmp:
        result = lint(build_view(Path(tmp)), *argv)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
