"""Alembic environment: one MetaData for every package's tables."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from chatshop.database import all_metadata

config = context.config


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=all_metadata(),
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through chatshop.database.upgrade_database")
run_migrations(connection)
