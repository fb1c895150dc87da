"""Every table the store owns, in one place: the ORM models' and the Core tables of collections and evals."""

from __future__ import annotations

from sqlalchemy import MetaData

from webgen.storage import collections, evals  # noqa: F401 - importing them puts their tables in Base.metadata
from webgen.storage.models import Base

#: What Alembic compares the database against (`migrations/env.py`, `alembic revision --autogenerate`).
ALL_METADATA: list[MetaData] = [Base.metadata]


def owns_table(name: str) -> bool:
    """Whether `name` is one of the store's tables (others sharing the database are left alone)."""
    return any(name in metadata.tables for metadata in ALL_METADATA)
