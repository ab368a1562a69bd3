"""Statements run on the driver's cursor store and read values exactly as SQLAlchemy does (UTC timestamps,
sealed JSON, enums), report rowcounts, and refuse what would need SQLAlchemy at run time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from sqlalchemy import Engine, Table, bindparam, insert, select, update

from bot.models import Channel, ConversationMessage, Customer, Delivery, Direction
from storage.db import open_engine
from storage.direct import DirectStatement, DirectStatementError

CUSTOMERS = cast(Table, Customer.__table__)
MESSAGES = cast(Table, ConversationMessage.__table__)
WHEN = datetime(2026, 12, 5, 1, 2, 3, 456789, tzinfo=UTC)

LOG = DirectStatement(insert(MESSAGES).returning(MESSAGES.c.id),
                      ("customer_id", "direction", "kind", "body", "delivery", "created_at", "attempts"))
FIND = DirectStatement(select(MESSAGES.c.body, MESSAGES.c.created_at).where(MESSAGES.c.id == bindparam("id")),
                       ("id",))
MARK_SENT = DirectStatement(update(MESSAGES).where(MESSAGES.c.id == bindparam("message"), MESSAGES.c.sent_at.is_(None))
                            .values(sent_at=bindparam("at")), ("message", "at"))


@pytest.fixture
def engine(empty_database: str) -> Iterator[Engine]:
    engine = open_engine(empty_database)
    yield engine
    engine.dispose()


def _customer(engine: Engine) -> int:
    with engine.begin() as connection:
        row = {"channel": Channel.OA, "openid": "oDirect", "subscribed": False, "created_at": WHEN}
        return int(connection.execute(insert(CUSTOMERS).returning(CUSTOMERS.c.id), row).scalar_one())


def test_a_row_written_directly_reads_back_through_sqlalchemy_unchanged(engine: Engine) -> None:
    customer = _customer(engine)
    body = {"content": "几点发货", "menu_id": "faq:7"}
    with engine.begin() as connection:
        message_id = LOG.execute(connection, {
            "customer_id": customer, "direction": Direction.IN, "kind": "text", "body": body,
            "delivery": Delivery.RECEIVED, "created_at": WHEN, "attempts": 0,
        }).scalar()
    with engine.connect() as connection:
        stored = connection.execute(select(MESSAGES).where(MESSAGES.c.id == message_id)).one()
        read_directly = FIND.execute(connection, {"id": message_id}).first()
    assert (stored.body, stored.created_at, stored.direction) == (body, WHEN, "in")
    assert read_directly == (body, WHEN)


def test_rowcount_tells_whether_a_conditional_update_matched(engine: Engine) -> None:
    customer = _customer(engine)
    with engine.begin() as connection:
        message_id = LOG.execute(connection, {
            "customer_id": customer, "direction": Direction.OUT, "kind": "text", "body": {"content": "hi"},
            "delivery": Delivery.PENDING, "created_at": WHEN, "attempts": 0,
        }).scalar()
        assert MARK_SENT.execute(connection, {"message": message_id, "at": WHEN + timedelta(seconds=1)}).rowcount == 1
        assert MARK_SENT.execute(connection, {"message": message_id, "at": WHEN + timedelta(seconds=2)}).rowcount == 0


def test_a_statement_that_needs_python_side_defaults_is_refused(engine: Engine) -> None:
    # created_at and attempts have Python-side defaults: SQLAlchemy would fill them in, this cannot.
    partial = DirectStatement(insert(MESSAGES), ("customer_id", "direction", "kind", "body", "delivery"))
    with engine.begin() as connection, pytest.raises(DirectStatementError, match="created_at"):
        partial.execute(connection, {"customer_id": 1, "direction": Direction.IN, "kind": "text", "body": {},
                                     "delivery": Delivery.RECEIVED})
