"""Alembic environment: runs on the connection handed over by storage.db.upgrade (or the configured URL).

`target_metadata` is every table the store owns: the ORM's (runs, steps, ...) and the Core tables of collections
and evaluations, so `alembic revision --autogenerate` sees them all. Tables of others in the same database
(LangGraph's checkpoints when they share a Postgres database) are not compared.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from webgen.storage.schema import ALL_METADATA, owns_table

config = context.config
target_metadata = ALL_METADATA


def _configure(connection) -> None:  # noqa: ANN001 - a SQLAlchemy Connection
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        include_name=lambda name, kind, _parent: kind != "table" or owns_table(name),
    )


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()


run()
