"""Migrations build the schema from nothing, idempotently, even when several processes start at once."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from chatshop.database import all_metadata, open_engine, upgrade_database


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
    assert [process.returncode for process in processes] == [0, 0, 0, 0], outputs
    engine = open_engine(fresh_database_url)
    try:
        upgrade_database(engine)  # and once more: nothing left to do
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {table.name for table in all_metadata().sorted_tables} <= tables
    assert "alembic_version" in tables
