"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

from webgen.feedback.site.environment import SiteEnvironment
from webgen.feedback.site.scaffold import workspace_for
from webgen.feedback.site.workspace import FileWrite

EXAMPLES = Path(__file__).resolve().parents[1] / "webgen" / "examples"


def make_site(env: SiteEnvironment, root: Path, files: dict[str, str]) -> Path:
    """A scaffold site with `files` written through the Workspace (which must accept them all)."""
    site = env.new_site(root / "site")
    report = workspace_for(site).apply([FileWrite(path=p, content=c) for p, c in files.items()])
    assert not report.rejected, report.rejected
    return site


def descendants(pid: int) -> set[int]:
    """Live descendant processes of `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def own_processes(before: set[int]) -> set[int]:
    """Processes started by this test process since `before` (new direct children and their trees).

    Processes that long-lived session fixtures spawn meanwhile (a browser's helpers) are not counted.
    """
    me = os.getpid()
    roots = {pid for pid in descendants(me) if _parent(pid) == me} - before
    found = set(roots)
    for root in roots:
        found |= descendants(root)
    return found


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


POSTGRES_URL = os.environ.get(
    "WEBGEN_TEST_POSTGRES_URL", "postgresql+psycopg://webgen:webgen@127.0.0.1:5432/webgen_test"
)


def require_postgres() -> str:
    """An empty test database on the PostgreSQL server, or skip (fail under CI, which starts one) saying why."""
    import pytest
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    except Exception as exc:
        message = f"no PostgreSQL at {POSTGRES_URL} ({str(exc).splitlines()[0]}); start one with scripts/postgres.sh"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs and starts it: a missing server there is a failure
        pytest.skip(message)
    return POSTGRES_URL
