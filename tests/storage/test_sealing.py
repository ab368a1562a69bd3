"""Sealing at rest: values round-trip through the column types, the stored text is AES-256-GCM under a named
key, and anything altered, moved to another column or sealed under an unknown key is refused."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Table, create_engine, insert, select, update
from sqlalchemy.exc import StatementError

from storage.sealing import (
    BadKeys,
    NoSealer,
    SealedJSON,
    SealedText,
    Sealer,
    TamperedValue,
    UnknownKey,
    count_stale,
    install_sealer,
    key_id_of,
    parse_keys,
    reseal_batch,
)

KEY_A, KEY_B, INDEX = b"A" * 32, b"B" * 32, b"I" * 32
DOCUMENT = {"name": "张三", "phone": "13812345678", "detail": "体育西路 100 号"}

metadata = MetaData()
notes = Table("notes", metadata, Column("id", Integer, primary_key=True), Column("doc", SealedJSON("notes.doc")),
              Column("memo", SealedText("notes.memo")), Column("other", SealedText("notes.other")))


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sealed_with() -> Iterator[Any]:
    """Install a sealer for the test (the tests' own is put back afterwards)."""
    previous = install_sealer(None)

    def install(keys: dict[str, bytes], current: str, index_key: bytes = INDEX) -> Sealer:
        sealer = Sealer(keys, current=current, index_key=index_key)
        install_sealer(sealer)
        return sealer

    yield install
    install_sealer(previous)


def raw(engine: Engine, column: str, row_id: int = 1) -> str:
    with engine.connect() as connection:
        return str(connection.exec_driver_sql(f"SELECT {column} FROM notes WHERE id = {row_id}").scalar_one())


def test_values_round_trip_and_are_stored_sealed_under_the_current_key(engine: Engine, sealed_with: Any) -> None:
    sealed_with({"a": KEY_A}, "a")
    with engine.begin() as connection:
        connection.execute(insert(notes), [{"id": 1, "doc": DOCUMENT, "memo": "请放门口 13812345678"},
                                           {"id": 2, "doc": None, "memo": None}])
    with engine.connect() as connection:
        rows = connection.execute(select(notes.c.doc, notes.c.memo).order_by(notes.c.id)).all()
    assert [tuple(row) for row in rows] == [(DOCUMENT, "请放门口 13812345678"), (None, None)]
    # Stored: v1:<key id>:<base64>, nothing of the plaintext, a JSON string in the JSON column
    stored_doc, stored_memo = raw(engine, "doc"), raw(engine, "memo")
    assert stored_doc.startswith('"v1:a:') and stored_memo.startswith("v1:a:")
    assert not any(s in stored_doc + stored_memo for s in ("13812345678", "张三", "体育西路"))
    # A fresh nonce each time: the same value seals to a different text
    with engine.begin() as connection:
        connection.execute(update(notes).where(notes.c.id == 2).values(memo="请放门口 13812345678"))
    assert raw(engine, "memo", 2) != stored_memo


def test_an_altered_value_or_one_moved_to_another_column_is_refused(engine: Engine, sealed_with: Any) -> None:
    sealed_with({"a": KEY_A}, "a")
    with engine.begin() as connection:
        connection.execute(insert(notes), {"id": 1, "memo": "secret", "other": "x"})
    stored = raw(engine, "memo")
    head, body = stored.rsplit(":", 1)
    blob = bytearray(base64.b64decode(body))
    blob[-1] ^= 1  # one bit of the tag
    flipped = f"{head}:{base64.b64encode(bytes(blob)).decode()}"
    for column, value in (("memo", flipped), ("memo", stored[:-8]), ("other", stored)):
        with engine.begin() as connection:
            connection.exec_driver_sql(f"UPDATE notes SET {column} = ? WHERE id = 1", (value,))
        with engine.connect() as connection, pytest.raises(TamperedValue) as refused:
            connection.execute(select(notes.c[column])).all()
        assert "secret" not in str(refused.value)
        with engine.begin() as connection:  # put it back for the next case
            connection.exec_driver_sql("UPDATE notes SET memo = ?, other = NULL WHERE id = 1", (stored,))


def test_a_value_under_an_unknown_key_or_with_no_keys_installed_is_refused(engine: Engine, sealed_with: Any) -> None:
    sealed_with({"a": KEY_A}, "a")
    with engine.begin() as connection:
        connection.execute(insert(notes), {"id": 1, "memo": "secret"})
    sealed_with({"b": KEY_B}, "b")
    with engine.connect() as connection, pytest.raises(UnknownKey, match="'a'"):
        connection.execute(select(notes.c.memo)).all()
    # Old keys kept beside the new one: it opens
    sealed_with({"b": KEY_B, "a": KEY_A}, "b")
    with engine.connect() as connection:
        assert connection.execute(select(notes.c.memo)).scalar_one() == "secret"
    install_sealer(None)
    with engine.begin() as connection, pytest.raises(StatementError) as refused:
        connection.execute(insert(notes), {"id": 2, "memo": "secret"})
    assert isinstance(refused.value.orig, NoSealer)


def test_rotation_reseals_only_stale_rows_in_batches_and_resumes(engine: Engine, sealed_with: Any) -> None:
    sealed_with({"a": KEY_A}, "a")
    with engine.begin() as connection:
        connection.execute(insert(notes), [{"id": i, "doc": {"n": i}, "memo": f"m{i}"} for i in range(1, 8)])
    sealed_with({"b": KEY_B, "a": KEY_A}, "b")
    with engine.begin() as connection:
        connection.execute(insert(notes), {"id": 8, "memo": "already under b"})
        assert count_stale(connection, notes, "b") == 7
        # One batch of 3, then stop (as a killed run would)
        assert reseal_batch(connection, notes, current="b", after=None, batch=3) == (3, 3)
    with engine.begin() as connection:
        assert count_stale(connection, notes, "b") == 4
        # Carry on from the start: only what is still stale is read
        done, after = 0, None
        while True:
            count, after = reseal_batch(connection, notes, current="b", after=after, batch=3)
            if not count:
                break
            done += count
        assert done == 4 and count_stale(connection, notes, "b") == 0
    sealed_with({"b": KEY_B}, "b")  # the old key dropped: everything still opens
    with engine.connect() as connection:
        rows = connection.execute(select(notes.c.id, notes.c.doc, notes.c.memo).order_by(notes.c.id)).all()
    assert [(r.doc, r.memo) for r in rows[:7]] == [({"n": i}, f"m{i}") for i in range(1, 8)]
    assert {key_id_of(raw(engine, "memo", i)) for i in range(1, 9)} == {"b"}


def test_the_blind_index_is_keyed_and_kept_apart_by_purpose() -> None:
    one = Sealer({"a": KEY_A}, current="a", index_key=INDEX)
    same_index_other_keys = Sealer({"b": KEY_B}, current="b", index_key=INDEX)
    other_index = Sealer({"a": KEY_A}, current="a", index_key=b"J" * 32)
    value = one.blind_index("13812345678", purpose="phone")
    assert value == same_index_other_keys.blind_index("13812345678", purpose="phone")  # rotation keeps it valid
    assert len(value) == 64 and "13812345678" not in value
    assert value != other_index.blind_index("13812345678", purpose="phone")
    assert value != one.blind_index("13812345678", purpose="name")


@pytest.mark.parametrize(("text", "message"), [
    ("k1", "entry 1 must be <key id>:<base64 key>"),
    ("k1:not base64!", "key 'k1' is not base64"),
    ("k1:" + base64.b64encode(b"short").decode(), "must be 32 bytes"),
    ("k1:" + base64.b64encode(KEY_A).decode() + ",k1:" + base64.b64encode(KEY_B).decode(), "given twice"),
    ("bad id:" + base64.b64encode(KEY_A).decode(), "key id 'bad id'"),
])
def test_malformed_keys_are_refused_without_showing_them(text: str, message: str) -> None:
    with pytest.raises(BadKeys, match=message) as refused:
        parse_keys(text)
    assert base64.b64encode(KEY_A).decode() not in str(refused.value)


def test_the_first_key_is_current() -> None:
    keys, current = parse_keys(f"k2:{base64.b64encode(KEY_B).decode()}, k1:{base64.b64encode(KEY_A).decode()}")
    assert current == "k2" and keys == {"k2": KEY_B, "k1": KEY_A}
    assert "BBBB" not in repr(Sealer(keys, current=current, index_key=INDEX))
