"""The group-commit writer: jobs gathered into one transaction, a failing job isolated."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Connection, func, insert, select

from storage.db import open_engine
from storage.group_commit import GroupCommitWriter
from wechat.tokens import CacheEntry


def write(key: str) -> object:
    def job(connection: Connection) -> str:
        connection.execute(insert(CacheEntry).values(key=key, value="v"))
        return key
    return job


def test_a_failing_job_does_not_take_its_batch_with_it(empty_database: str) -> None:
    engine = open_engine(empty_database)
    writer = GroupCommitWriter(engine)
    gate = threading.Event()
    try:
        # Hold the writer busy so the next jobs gather into one batch
        blocker = writer.submit(lambda _connection: gate.wait(5))
        good = [writer.submit(write(f"k{n}")) for n in range(5)]  # type: ignore[arg-type]
        duplicate = writer.submit(write("k0"))  # type: ignore[arg-type]  # violates the primary key
        gate.set()
        blocker.result(timeout=10)
        assert [future.result(timeout=10) for future in good] == [f"k{n}" for n in range(5)]
        with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
            duplicate.result(timeout=10)
        with engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(CacheEntry)).scalar() == 5
    finally:
        writer.close()
        engine.dispose()


def test_an_unawaited_write_that_fails_is_logged(empty_database: str, caplog: pytest.LogCaptureFixture) -> None:
    engine = open_engine(empty_database)
    writer = GroupCommitWriter(engine)
    try:
        writer.run(write("taken"))  # type: ignore[arg-type]
        writer.submit_unawaited(write("taken"), what="saving a test row")  # type: ignore[arg-type]
        writer.run(lambda _connection: None)  # queued after it: the failure has been settled by now
        assert any("saving a test row failed" in record.getMessage() for record in caplog.records)
    finally:
        writer.close()
        engine.dispose()


def test_a_connection_lost_in_a_batch_is_replaced_for_the_next(empty_database: str) -> None:
    engine = open_engine(empty_database)
    writer = GroupCommitWriter(engine)
    try:
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
        with engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(CacheEntry)).scalar() == 2
    finally:
        writer.close()
        engine.dispose()


def test_the_writer_holds_no_transaction_between_batches(empty_database: str) -> None:
    engine = open_engine(empty_database)
    writer = GroupCommitWriter(engine)
    try:
        writer.run(write("first"))  # type: ignore[arg-type]
        # Another connection can take the write lock (SQLite) while the writer is idle
        with engine.begin() as connection:
            connection.execute(insert(CacheEntry).values(key="elsewhere", value="v"))
        assert writer.run(write("second")) == "second"  # type: ignore[arg-type]
    finally:
        writer.close()
        engine.dispose()
