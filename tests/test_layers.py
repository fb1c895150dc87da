"""The import contracts of pyproject.toml ([tool.importlinter]) hold, and a wrong import breaks them.

`lint-imports` runs as a subprocess over the view of :mod:`webgen.scripts.lint_layers` (links shaped like the
import names, since grimp does not follow [tool.setuptools] package-dir); a wrong import is a file added to a
fresh view, so the real tree is never touched.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from webgen.scripts.lint_layers import build_view, lint, package_dirs


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def test_the_layers_hold(tmp_path: Path) -> None:
    result = lint(build_view(tmp_path))
    assert result.returncode == 0, _output(result)
    assert re.search(r"Contracts: \d+ kept, 0 broken", result.stdout), _output(result)
    # Every module of every mapped folder is in the graph (none silently left out of the view).
    sources = {p.resolve() for folder in package_dirs().values() for p in folder.rglob("*.py")}
    sources = {p for p in sources if "__pycache__" not in p.parts}
    analysed = re.search(r"Analyzed (\d+) files", result.stdout)
    assert analysed and int(analysed.group(1)) == len(sources), _output(result)


WRONG = [
    pytest.param(
        {"webgen/core/zz_wrong.py": "from webgen.graph import state\n"},
        ["webgen.core is not allowed to import webgen.graph", "webgen.core.zz_wrong -> webgen.graph.state (l.1)"],
        id="core-imports-graph",
    ),
    pytest.param(
        {"webgen/storage/zz_wrong.py": "\n\ndef f():\n    import webgen.feedback.site.workspace\n"},
        [
            "webgen.storage is not allowed to import webgen.feedback",
            "webgen.storage.zz_wrong -> webgen.feedback.site.workspace (l.4)",
        ],
        id="sibling-imports-sibling-lazily",
    ),
    pytest.param(
        {"webgen/cli/zz_a.py": "from webgen.cli import zz_b\n", "webgen/cli/zz_b.py": "from webgen.cli import zz_a\n"},
        ["No cycles are allowed in webgen.cli", re.compile(r"- \.zz_[ab] -> \.zz_[ab] \(1 import\)")],
        id="cycle-in-cli",
    ),
    pytest.param(
        {"webgen/feedback/judge/zz_wrong.py": "from webgen.feedback.gui import grading\n"},
        ["No cycles are allowed in webgen.feedback", re.compile(r"- \.(gui|judge) -> \.(gui|judge) \(\d+ imports?\)")],
        id="cycle-between-feedback-rooms",
    ),
]


@pytest.mark.parametrize(("extra", "named"), WRONG)
def test_a_wrong_import_breaks_the_contract(
    tmp_path: Path, extra: dict[str, str], named: list[str | re.Pattern[str]]
) -> None:
    result = lint(build_view(tmp_path, extra))
    assert result.returncode == 1, _output(result)
    for text in named:
        found = text.search(result.stdout) if isinstance(text, re.Pattern) else text in result.stdout
        assert found, f"{text!r} missing in:\n{_output(result)}"
