"""Personal data sealed at rest: AES-256-GCM per value, a key id kept with each value, a keyed hash to search by.

A sealed value is stored as text that says how to open it: ``v1:<key id>:<base64(nonce | ciphertext | tag)>``,
with a fresh random 96-bit nonce per value. The column's name (``table.column``) is the associated data, so
a value copied into another column does not open there. Several keys may be known at once: the current one
seals, every one opens, which is what rotation needs (re-sealing everything under the current key, in
batches, is ``reseal_batch`` here and ``chatshop keys rotate`` above).

The column types (`SealedText`, `SealedJSON`) seal on the way in and open on the way out, with the one
`Sealer` installed for the process at start-up. A process-wide sealer rather than one per engine or per
session: a TypeDecorator is handed only the dialect, never the engine or session, and a deployment has one
set of keys, so threading a sealer through every query, Core insert and group-commit job would add nothing
but places to forget it. Nothing installed and a sealed column touched: `NoSealer`, never plaintext.

A blind index makes a sealed value findable by equality without opening anything: HMAC-SHA256 under an
index key kept apart from the sealing keys (rotating those leaves every index valid).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Connection,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

VERSION = "v1"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96 bits, GCM's own size
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class SealingError(Exception):
    """A value cannot be sealed or opened; the message never holds a key or a plaintext."""


class NoSealer(SealingError):
    """A sealed column was used before any data key was installed in this process."""


class UnknownKey(SealingError):
    """The value was sealed under a key id this process does not have."""


class TamperedValue(SealingError):
    """The value is not what was sealed for this column: altered, truncated, or from another column."""


class BadKeys(SealingError):
    """The configured keys are malformed (the message says which part, never the key)."""


class Sealer:
    """Seals under the current key, opens under any known key, and computes blind indexes."""

    def __init__(self, keys: Mapping[str, bytes], *, current: str, index_key: bytes) -> None:
        if current not in keys:
            raise BadKeys(f"the current key id {current!r} is not among the keys")
        for key_id, key in keys.items():
            _check_key(key_id, key)
        if len(index_key) != KEY_BYTES:
            raise BadKeys(f"the index key must be {KEY_BYTES} bytes")
        self.current = current
        self.key_ids = tuple(keys)
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._index_key = index_key

    def __repr__(self) -> str:  # keys never print
        return f"Sealer(current={self.current!r}, key_ids={self.key_ids!r})"

    def seal(self, plaintext: bytes, *, label: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._ciphers[self.current].encrypt(nonce, plaintext, label.encode())
        return f"{VERSION}:{self.current}:{base64.b64encode(nonce + sealed).decode('ascii')}"

    def open(self, token: str, *, label: str) -> bytes:
        key_id, blob = _split(token)
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownKey(f"{label}: sealed under key {key_id!r}, which is not configured")
        try:
            return cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], label.encode())
        except InvalidTag:
            raise TamperedValue(f"{label}: the sealed value does not open (altered, or not this column's)") from None

    def blind_index(self, value: str, *, purpose: str) -> str:
        """The keyed hash of `value` (hex); `purpose` keeps hashes of different kinds of value apart."""
        return hmac.new(self._index_key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()


def key_id_of(token: str) -> str:
    """The key a stored value was sealed under (read from the value; nothing is opened)."""
    return _split(token)[0]


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(VERSION + ":") and value.count(":") >= 2


def _split(token: str) -> tuple[str, bytes]:
    version, _, rest = token.partition(":")
    key_id, _, encoded = rest.partition(":")
    if version != VERSION or not KEY_ID.match(key_id):
        raise TamperedValue("not a sealed value")
    try:
        blob = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise TamperedValue("a sealed value's body is not base64") from None
    if len(blob) < NONCE_BYTES + 16:  # the nonce and the 16-byte tag at the least
        raise TamperedValue("a sealed value is truncated")
    return key_id, blob


def _check_key(key_id: str, key: bytes) -> None:
    if not KEY_ID.match(key_id):
        raise BadKeys(f"key id {key_id!r} must be 1-32 letters, digits, - or _")
    if len(key) != KEY_BYTES:
        raise BadKeys(f"key {key_id!r} must be {KEY_BYTES} bytes (base64 of 32 random bytes)")


# ----- keys as configured ---------------------------------------------------------------------------------


def parse_keys(text: str) -> tuple[dict[str, bytes], str]:
    """``"k2:<base64>,k1:<base64>"`` → ({key id: key}, the current (first) key id)."""
    keys: dict[str, bytes] = {}
    for index, part in enumerate(p.strip() for p in text.split(",")):
        key_id, colon, encoded = part.partition(":")
        if not colon:
            raise BadKeys(f"entry {index + 1} must be <key id>:<base64 key>")
        if key_id in keys:
            raise BadKeys(f"key id {key_id!r} is given twice")
        keys[key_id] = decode_key(encoded, what=f"key {key_id!r}")
        _check_key(key_id, keys[key_id])
    if not keys:
        raise BadKeys("no keys")
    return keys, next(iter(keys))


def decode_key(encoded: str, *, what: str) -> bytes:
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BadKeys(f"{what} is not base64") from None
    if len(key) != KEY_BYTES:
        raise BadKeys(f"{what} must be {KEY_BYTES} bytes (base64 of 32 random bytes), not {len(key)}")
    return key


def new_key_text() -> str:
    """A fresh random key, base64 (what goes after ``<key id>:`` in the keys setting)."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


# ----- the process's sealer ---------------------------------------------------------------------------------

_installed: Sealer | None = None


def install_sealer(sealer: Sealer | None) -> Sealer | None:
    """Make `sealer` the one the sealed column types use; returns the one it replaces."""
    global _installed
    previous, _installed = _installed, sealer
    return previous


def installed_sealer() -> Sealer:
    if _installed is None:
        raise NoSealer("no data key is installed: personal data can be neither sealed nor opened")
    return _installed


def has_sealer() -> bool:
    return _installed is not None


# ----- column types ---------------------------------------------------------------------------------------


class SealedText(TypeDecorator[str]):
    """Text sealed at rest. `label` names the column (``table.column``): the value's associated data."""

    impl = Text
    cache_ok = True

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else installed_sealer().seal(value.encode(), label=self.label)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else installed_sealer().open(value, label=self.label).decode()


class SealedJSON(TypeDecorator[Any]):
    """A JSON document sealed at rest. The column stays JSON (the sealed text is a JSON string), so sealing
    existing columns changes their values, never their type (no table rebuilt on SQLite)."""

    impl = JSON(none_as_null=True)
    cache_ok = True

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return installed_sealer().seal(dump_json(value), label=self.label)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):  # a document still in clear: the sealing migration has not run
            raise TamperedValue(f"{self.label}: a value is not sealed")
        return json.loads(installed_sealer().open(value, label=self.label))


def dump_json(value: Any) -> bytes:
    # Compact UTF-8 JSON, as json.dumps(ensure_ascii=False) writes it, by orjson: a dialogue state's events
    # (rewritten every turn) took 0.46 ms through json.dumps and 0.03 ms here.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def sealed_columns(table: Table) -> list[Column[Any]]:
    return [column for column in table.columns if isinstance(column.type, SealedText | SealedJSON)]


# ----- re-sealing under the current key ---------------------------------------------------------------------


def stale_rows(columns: Sequence[Column[Any]], current: str) -> ColumnElement[bool]:
    """Rows with a value in `columns` not sealed under `current`, told from the stored text (nothing opened)."""
    clauses = []
    for column in columns:
        prefix = f"{VERSION}:{current}:"
        if isinstance(column.type, SealedJSON):
            prefix = '"' + prefix  # a JSON string, as stored
        stored = cast(column, Text)  # typed as Text: neither the column nor the prefix goes through the sealer
        clauses.append(and_(column.isnot(None), func.substr(stored, 1, len(prefix)) != prefix))
    return or_(*clauses)


def count_stale(connection: Connection, table: Table, current: str) -> int:
    return int(connection.scalar(select(func.count()).select_from(table)
                                 .where(stale_rows(sealed_columns(table), current))) or 0)


def reseal_batch(connection: Connection, table: Table, *, current: str, after: Any, batch: int) -> tuple[int, Any]:
    """Open and seal again under `current` the next `batch` stale rows past primary key `after` (None: from
    the start); returns how many, and the last key (the next call's `after`).

    Only stale rows are read, so a run stopped half-way and started again carries on where it stopped.
    """
    (key,) = table.primary_key.columns
    columns = sealed_columns(table)
    query = select(key, *columns).where(stale_rows(columns, current)).order_by(key).limit(batch)
    if after is not None:
        query = query.where(key > after)
    rows = connection.execute(query).all()
    if not rows:
        return 0, after
    statement = update(table).where(key == bindparam("row_key")).values(
        {column.name: bindparam(f"new_{column.name}", type_=column.type) for column in columns})
    connection.execute(statement, [
        {"row_key": row[0], **{f"new_{column.name}": value for column, value in zip(columns, row[1:], strict=True)}}
        for row in rows
    ])
    return len(rows), rows[-1][0]
