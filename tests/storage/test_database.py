"""Migrations build the schema from nothing, idempotently, even when several processes start at once."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

from chatshop.database import alembic_config, all_metadata, upgrade_database
from storage.db import open_engine


@pytest.fixture
def fresh_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A brand-new empty database on the same server as the test database."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"chatshop_fresh_{uuid.uuid4().hex[:8]}"
    admin = open_engine(database_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_concurrent_start_ups_migrate_once_and_agree(fresh_database_url: str) -> None:
    # Given four service processes starting at once against an empty database
    environ = {**os.environ, "CHATSHOP__DATABASE__URL": fresh_database_url}
    command = [sys.executable, "-m", "chatshop.cli", "db", "upgrade"]
    processes = [subprocess.Popen(command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                 for _ in range(4)]
    outputs = [process.communicate(timeout=120)[0].decode() for process in processes]
    # Then every one of them succeeds, and the schema is whole
    failed = [output[-4000:] for process, output in zip(processes, outputs, strict=True) if process.returncode]
    assert [process.returncode for process in processes] == [0, 0, 0, 0], failed
    engine = open_engine(fresh_database_url)
    try:
        upgrade_database(engine)  # and once more: nothing left to do
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {table.name for table in all_metadata().sorted_tables} <= tables
    assert "alembic_version" in tables


def schema_differences(engine: Engine) -> list[object]:
    """What autogenerate would add or drop to make the migrated schema match the models."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, all_metadata()))


def newest_revision_first() -> list[str]:
    return [script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()]


def migrate_to(engine: Engine, revision: str, *, down: bool = False) -> None:
    config = alembic_config()
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)
        connection.commit()


def test_migrations_build_the_schema_the_models_declare(fresh_database_url: str) -> None:
    # Given an empty database migrated to the newest revision
    engine = open_engine(fresh_database_url)
    try:
        upgrade_database(engine)
        # Then its tables, columns and indexes are exactly the models'
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


def test_every_migration_downgrades_cleanly_and_applies_again(fresh_database_url: str) -> None:
    # Given a database migrated to the newest revision
    engine = open_engine(fresh_database_url)
    try:
        upgrade_database(engine)
        # When each migration, newest first, is undone, applied again and undone again
        for revision in newest_revision_first():
            migrate_to(engine, "-1", down=True)
            migrate_to(engine, revision)  # fails if the downgrade left something of it behind
            migrate_to(engine, "-1", down=True)
        # Then nothing is left, and migrating again builds the models' schema once more
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade_database(engine)
        assert schema_differences(engine) == []
    finally:
        engine.dispose()
