"""One `store` fixture per backend: SQLite in a temp folder, and a real PostgreSQL server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from webgen.storage.store import TrajectoryStore

POSTGRES_URL = os.environ.get(
    "WEBGEN_TEST_POSTGRES_URL", "postgresql+psycopg://webgen:webgen@127.0.0.1:5432/webgen_test"
)


def _reset_postgres(url: str) -> str | None:
    """Empty the test database; return why not if no server answers."""
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    except Exception as exc:
        return str(exc).splitlines()[0]
    return None


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    problem = _reset_postgres(POSTGRES_URL)
    if problem:
        message = f"no PostgreSQL at {POSTGRES_URL} ({problem}); start one with scripts/postgres.sh"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs and starts it: a missing server there is a failure
        pytest.skip(message)
    return POSTGRES_URL


@pytest.fixture
def store(store_url: str) -> Iterator[TrajectoryStore]:
    with TrajectoryStore(store_url) as opened:
        yield opened
