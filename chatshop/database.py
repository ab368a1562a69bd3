"""Database wiring for the whole service: engine, metadata of every package, migrations."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, MetaData, text
from sqlalchemy.orm import Session, sessionmaker

from storage.db import Base, ensure_sqlite_directory, make_session_factory, open_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def all_metadata() -> MetaData:
    """The shared MetaData, after every package has registered its tables on it."""
    import bot.analytics.models  # noqa: F401
    import commerce.models  # noqa: F401
    import scheduler.models  # noqa: F401
    import staff.models  # noqa: F401
    import wechat.tokens  # noqa: F401

    return Base.metadata


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


# Any constant works: it names the lock that keeps two starting processes from migrating at once.
MIGRATION_LOCK_ID = 0x63687368


def upgrade_database(engine: Engine) -> None:
    """Apply every migration not yet applied (idempotent; safe on every start, from many processes)."""
    ensure_sqlite_directory(str(engine.url))
    config = alembic_config()
    # The file lock comes first: opening a SQLite connection already writes (the switch to WAL), and
    # on a brand-new file that can meet another process's migration half-way.
    with _sqlite_file_lock(engine), engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()
        try:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()
        finally:
            if postgres:
                connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
                connection.commit()


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """Hold an exclusive lock on a file beside a SQLite database while migrating it.

    SQLite's own write lock is not enough: Python's sqlite3 driver runs DDL outside a transaction,
    so each CREATE TABLE commits alone and a second process starting at the same moment can read
    the version table between two of them and try to create a table that already exists.
    """
    database = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        yield


@contextmanager
def migrated_database(url: str) -> Iterator[sessionmaker[Session]]:
    """A session factory on the database at `url`, migrated first: what each CLI command works on."""
    engine = open_engine(url)
    try:
        upgrade_database(engine)
        yield make_session_factory(engine)
    finally:
        engine.dispose()
