"""Dialect helpers: what SQLite and PostgreSQL both offer, spelt once for either."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Float, Insert, Result, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


def dialect_name(connection: Connection | Session) -> str:
    return connection.get_bind().dialect.name if isinstance(connection, Session) else connection.dialect.name


def dialect_insert(connection: Connection | Session | str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The backend's own INSERT, which has ON CONFLICT (ignore or upsert) on both SQLite and PostgreSQL."""
    dialect = connection if isinstance(connection, str) else dialect_name(connection)
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no ON CONFLICT insert for {dialect}")


def insert_ignoring_conflicts(connection: Connection | Session | str, table: Table) -> Insert:
    """INSERT that skips rows violating a unique key; add RETURNING to learn whether it inserted."""
    return dialect_insert(connection, table).on_conflict_do_nothing()


def affected_rows(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched (execute() is typed as Result; DML returns a CursorResult)."""
    return int(cast(CursorResult[Any], result).rowcount)


class EpochSeconds(FunctionElement[float]):
    """A timestamp as seconds since 1970 (UTC), a number a query can add seconds to and compare.

    PostgreSQL and SQLite share no date arithmetic: SQLite keeps timestamps as text.
    """

    type = Float()
    name = "epoch_seconds"
    inherit_cache = True


@compiles(EpochSeconds, "postgresql")
def _epoch_seconds_postgresql(element: EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})"


@compiles(EpochSeconds, "sqlite")
def _epoch_seconds_sqlite(element: EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    # julianday() reads the text SQLAlchemy stores; 2440587.5 is 1970-01-01 00:00 UTC as a Julian day.
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"
