"""One `store` fixture per backend: SQLite in a temp folder, and a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import require_postgres
from webgen.storage.store import TrajectoryStore


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return require_postgres()


@pytest.fixture
def store(store_url: str) -> Iterator[TrajectoryStore]:
    with TrajectoryStore(store_url) as opened:
        yield opened
