"""The migrations and the models agree: autogenerate against a migrated database finds nothing to do."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table

from webgen.storage.db import make_engine, upgrade
from webgen.storage.schema import ALL_METADATA, owns_table


def test_autogenerate_sees_every_table_and_finds_no_change(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    with engine.begin() as conn:
        # a table of someone else in the same database (LangGraph's checkpoints share a Postgres database)
        Table("checkpoints", MetaData(), Column("id", Integer, primary_key=True)).create(conn)
        context = MigrationContext.configure(
            conn, opts={"include_name": lambda name, kind, _p: kind != "table" or owns_table(name)}
        )
        assert compare_metadata(context, ALL_METADATA) == []
    names = {name for metadata in ALL_METADATA for name in metadata.tables}
    assert {"runs", "steps", "collection_runs", "evals", "eval_sites", "eval_cases"} <= names


def test_a_model_change_without_a_migration_is_seen(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    extra = MetaData()
    Table("eval_notes", extra, Column("id", Integer, primary_key=True))
    with engine.begin() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), [*ALL_METADATA, extra])
    assert [d[0] for d in diff if d[0] == "add_table"] == ["add_table"]
