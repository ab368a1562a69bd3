"""The keys that seal customers' personal data.

    chatshop keys new [--id ID] [--index]   a fresh key line for CHATSHOP__DATA__KEYS (or an index key)
    chatshop keys status                    how many values each key sealed, per column
    chatshop keys rotate [--batch 500]      seal again, under the current key, every value sealed under another

Rotating: put the new key first in CHATSHOP__DATA__KEYS, keep the old ones after it, restart the service
(new values are sealed under the new key from then on), run `chatshop keys rotate`, then drop the old keys.
Each batch is its own transaction and only values not yet under the current key are read, so a rotation
stopped half-way (Ctrl-C, a crash) carries on where it stopped when run again.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table, Text, case, cast, func, select

from chatshop.data_keys import new_key_id
from chatshop.database import all_metadata, upgrade_database
from chatshop.settings import Settings
from storage.db import open_engine
from storage.sealing import (
    KEY_ID,
    VERSION,
    SealedJSON,
    count_stale,
    installed_sealer,
    new_key_text,
    reseal_batch,
    sealed_columns,
)

DEFAULT_BATCH = 500


def add_keys_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register `chatshop keys ...` on the `chatshop` parser."""
    keys = commands.add_parser("keys", parents=[common], help="the keys sealing customers' personal data")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    new = keys_commands.add_parser("new", parents=[common], help="print a fresh key for CHATSHOP__DATA__KEYS")
    new.add_argument("--id", dest="key_id", help="the key's id (default: k<today>, e.g. k20261205)")
    new.add_argument("--index", action="store_true", help="a key for CHATSHOP__DATA__INDEX_KEY instead")
    new.set_defaults(run=_new, needs_data_keys=False)
    keys_commands.add_parser("status", parents=[common], help="values sealed under each key, per column"
                             ).set_defaults(run=_status)
    rotate = keys_commands.add_parser("rotate", parents=[common],
                                      help="seal every value again under the current key (resumable)")
    rotate.add_argument("--batch", type=int, default=DEFAULT_BATCH, help=f"rows per transaction ({DEFAULT_BATCH})")
    rotate.set_defaults(run=_rotate)


def _new(_settings: Settings, args: argparse.Namespace) -> int:
    if args.index:
        print(new_key_text())
        print("# CHATSHOP__DATA__INDEX_KEY, set once: phone search hashes depend on it, it is not rotated",
              file=sys.stderr)
        return 0
    key_id = args.key_id or new_key_id()
    if not KEY_ID.match(key_id):
        print("chatshop: a key id is 1-32 letters, digits, - or _", file=sys.stderr)
        return 2
    print(f"{key_id}:{new_key_text()}")
    print("# put it first in CHATSHOP__DATA__KEYS, keep the keys there now after it, restart, then run "
          "`chatshop keys rotate`", file=sys.stderr)
    return 0


def sealed_tables() -> list[Table]:
    return [table for table in all_metadata().sorted_tables if sealed_columns(table)]


def _status(settings: Settings, _args: argparse.Namespace) -> int:
    sealer = installed_sealer()
    print(f"current key: {sealer.current} (configured: {', '.join(sealer.key_ids)})")
    with _engine(settings) as engine, engine.connect() as connection:
        for table in sealed_tables():
            for column in sealed_columns(table):
                counts = connection.execute(select(*_key_counts(column, sealer.key_ids))).one()
                *per_key, total = (int(n or 0) for n in counts)
                shown = [f"{key_id} {n}" for key_id, n in zip(sealer.key_ids, per_key, strict=True)]
                other = total - sum(per_key)
                if other:
                    shown.append(f"other keys {other}")
                print(f"{table.name}.{column.name}: {', '.join(shown)}")
    return 0


def _key_counts(column: Any, key_ids: tuple[str, ...]) -> list[Any]:
    stored = cast(column, Text)
    quote = '"' if isinstance(column.type, SealedJSON) else ""
    counts = []
    for key_id in key_ids:
        prefix = f"{quote}{VERSION}:{key_id}:"
        counts.append(func.sum(case((func.substr(stored, 1, len(prefix)) == prefix, 1), else_=0)))
    return [*counts, func.count(column)]


@dataclass(frozen=True)
class Progress:
    table: str
    done: int
    total: int


def rotate(engine: Engine, *, batch: int, report: Callable[[Progress], None]) -> int:
    """Seal again under the current key every value sealed under another, table by table, `batch` rows per
    transaction; `report` hears after each committed batch. Returns how many rows were sealed again."""
    current = installed_sealer().current
    resealed = 0
    for table in sealed_tables():
        with engine.connect() as connection:
            total = count_stale(connection, table, current)
        done, after = 0, None
        report(Progress(table.name, done, total))
        while done < total or after is not None:  # rows sealed meanwhile under an old key are caught too
            with engine.begin() as connection:
                count, after = reseal_batch(connection, table, current=current, after=after, batch=batch)
            if not count:
                break
            done += count
            resealed += count
            report(Progress(table.name, done, total))
    return resealed


def _rotate(settings: Settings, args: argparse.Namespace) -> int:
    if not 1 <= args.batch <= 10_000:
        print("chatshop: --batch must be 1-10000", file=sys.stderr)
        return 2
    print(f"sealing every value under {installed_sealer().current}")

    def report(progress: Progress) -> None:
        print(f"{progress.table}: {progress.done}/{progress.total}", flush=True)

    with _engine(settings) as engine:
        try:
            resealed = rotate(engine, batch=args.batch, report=report)
        except KeyboardInterrupt:
            print("stopped; run `chatshop keys rotate` again to carry on", file=sys.stderr)
            return 130
    print(f"done: {resealed} rows sealed again; keys other than {installed_sealer().current} may now be dropped")
    return 0


@contextmanager
def _engine(settings: Settings) -> Iterator[Engine]:
    """The migrated database's engine for the length of a command."""
    engine = open_engine(settings.database.url)
    try:
        upgrade_database(engine)
        yield engine
    finally:
        engine.dispose()
