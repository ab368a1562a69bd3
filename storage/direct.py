"""Hot-path statements run straight on the driver's cursor, inside SQLAlchemy's transaction.

The webhook writes about eight rows' worth of statements per message through the group-commit writer.
Measured there, SQLAlchemy's execution machinery (cache lookup, execution context, event dispatch,
result set-up) cost several times what SQLite spent running the SQL. A `DirectStatement` is a Core
statement compiled once per dialect, with its parameter names fixed up front; running it converts
each value with the column type's own bind processor (so `UTCDateTime`, sealed columns and JSON are
stored exactly as through SQLAlchemy) and calls the DBAPI cursor of the connection's transaction.

Only what the hot path needs: single-row parameters, rowcount, and rows of RETURNING or SELECT
converted by their columns' result processors. A statement SQLAlchemy would have to complete at run
time (Python-side column defaults, IN lists expanded per call) is refused when it is compiled.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import Delete, Insert, Select, Update
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any]


class DirectStatementError(RuntimeError):
    """A statement cannot run directly (it needs SQLAlchemy at run time); the message says why."""


@dataclass(frozen=True)
class _Compiled:
    sql: str
    order: tuple[str, ...] | None  # positional drivers (SQLite's qmark): parameter names in SQL order
    fixed: Mapping[str, Any]  # values bound in the statement itself (e.g. `state == 'processing'`)
    binders: tuple[tuple[str, Processor], ...]  # parameters whose type converts the value
    readers: tuple[Processor | None, ...]  # one per returned column


class DirectStatement:
    """One Core statement, run with exactly the parameters named in `params`."""

    def __init__(self, statement: Insert | Update | Delete | Select[Any], params: Sequence[str]) -> None:
        self._statement = statement
        self._params = tuple(params)
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def execute(self, connection: Connection | Session, params: Mapping[str, Any]) -> DirectResult:
        if isinstance(connection, Session):
            connection = connection.connection()
        compiled = self._compiled.get(connection.dialect.name) or self._compile(connection.dialect)
        values = dict(compiled.fixed)
        values.update(params)
        for name, convert in compiled.binders:
            value = values[name]
            if value is not None:
                values[name] = convert(value)
        cursor = connection.connection.cursor()
        try:
            if compiled.order is None:
                cursor.execute(compiled.sql, values)
            else:
                cursor.execute(compiled.sql, tuple(values[name] for name in compiled.order))
            fetched = cursor.fetchall() if cursor.description is not None else []
            rowcount = cursor.rowcount
        finally:
            cursor.close()
        readers = compiled.readers
        rows = [_read(row, readers) for row in fetched] if readers else [tuple(row) for row in fetched]
        return DirectResult(rows, rowcount)

    def _compile(self, dialect: Dialect) -> _Compiled:
        with self._lock:
            compiled = self._compiled.get(dialect.name)
            if compiled is None:
                compiled = self._compiled[dialect.name] = _compile(self._statement, self._params, dialect)
            return compiled


@dataclass(frozen=True)
class DirectResult:
    rows: list[tuple[Any, ...]]
    rowcount: int  # rows an UPDATE or DELETE matched (-1 where the driver cannot tell)

    def first(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None


def _read(row: Sequence[Any], readers: tuple[Processor | None, ...]) -> tuple[Any, ...]:
    return tuple(value if read is None or value is None else read(value)
                 for value, read in zip(row, readers, strict=True))


def _compile(statement: Insert | Update | Delete | Select[Any], params: tuple[str, ...], dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect, column_keys=list(params))
    assert isinstance(compiled, SQLCompiler)
    if compiled.insert_prefetch or compiled.update_prefetch:
        names = [column.name for column in (*compiled.insert_prefetch, *compiled.update_prefetch)]
        raise DirectStatementError(f"columns {names} take Python-side defaults: pass them as parameters")
    if compiled.literal_execute_params or compiled.post_compile_params:
        raise DirectStatementError("parameters expanded at run time (IN lists) are not supported")
    if compiled.escaped_bind_names:
        raise DirectStatementError("parameter names the driver needs escaped are not supported")
    binds = {compiled.bind_names[bind]: bind for bind in compiled.bind_names}
    missing = set(params) - set(binds)
    if missing:
        raise DirectStatementError(f"the statement takes no parameters named {sorted(missing)}")
    fixed = {name: bind.effective_value for name, bind in binds.items() if name not in params}
    binders = tuple(
        (name, convert) for name, bind in binds.items()
        if (convert := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
    )
    # A SELECT's columns, or an INSERT/UPDATE's RETURNING (none without it).
    readers = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None)
                    for column in statement.exported_columns)
    if all(read is None for read in readers):
        readers = ()  # the driver's values are the column's values
    order = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup is not None else None
    return _Compiled(compiled.string, order, fixed, binders, readers)

