"""The group-commit writer: jobs gathered into one transaction, a failing job isolated."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, func, insert, select

from storage.db import open_engine
from storage.group_commit import GroupCommitWriter
from wechat.tokens import CacheEntry


@pytest.fixture
def engine(empty_database: str) -> Iterator[Engine]:
    engine = open_engine(empty_database)
    yield engine
    engine.dispose()


@pytest.fixture
def writer(engine: Engine) -> Iterator[GroupCommitWriter]:
    writer = GroupCommitWriter(engine)
    yield writer
    writer.close()


def write(key: str) -> object:
    def job(connection: Connection) -> str:
        connection.execute(insert(CacheEntry).values(key=key, value="v"))
        return key
    return job


def rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(CacheEntry)).scalar_one())


def test_a_failing_job_does_not_take_its_batch_with_it(engine: Engine, writer: GroupCommitWriter) -> None:
    gate = threading.Event()
    # Hold the writer busy so the next jobs gather into one batch
    blocker = writer.submit(lambda _connection: gate.wait(5))
    good = [writer.submit(write(f"k{n}")) for n in range(5)]  # type: ignore[arg-type]
    duplicate = writer.submit(write("k0"))  # type: ignore[arg-type]  # violates the primary key
    gate.set()
    blocker.result(timeout=10)
    assert [future.result(timeout=10) for future in good] == [f"k{n}" for n in range(5)]
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        duplicate.result(timeout=10)
    assert rows(engine) == 5


def test_an_unawaited_write_that_fails_is_logged(writer: GroupCommitWriter, caplog: pytest.LogCaptureFixture) -> None:
    writer.run(write("taken"))  # type: ignore[arg-type]
    writer.submit_unawaited(write("taken"), what="saving a test row")  # type: ignore[arg-type]
    writer.run(lambda _connection: None)  # queued after it: the failure has been settled by now
    assert any("saving a test row failed" in record.getMessage() for record in caplog.records)


def test_a_connection_lost_in_a_batch_is_replaced_for_the_next(engine: Engine, writer: GroupCommitWriter) -> None:
    # Given a writer whose connection served a batch
    writer.run(write("before"))  # type: ignore[arg-type]

    def lose_the_connection(connection: Connection) -> None:
        connection.invalidate()  # as a database restart would leave it
        raise ConnectionError("the database went away")

    # When a batch loses it
    with pytest.raises(ConnectionError):
        writer.run(lose_the_connection)
    # Then the next batch commits on another
    assert writer.run(write("after")) == "after"  # type: ignore[arg-type]
    assert rows(engine) == 2


def test_the_writer_holds_no_transaction_between_batches(engine: Engine, writer: GroupCommitWriter) -> None:
    writer.run(write("first"))  # type: ignore[arg-type]
    # Another connection can take the write lock (SQLite) while the writer is idle
    with engine.begin() as connection:
        connection.execute(insert(CacheEntry).values(key="elsewhere", value="v"))
    assert writer.run(write("second")) == "second"  # type: ignore[arg-type]
    assert rows(engine) == 3
