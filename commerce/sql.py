"""Small SQL helpers of the commerce core."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Float, Result
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


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
