"""The outbox: every consumer gets every event once, in order; concurrent workers never share one."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
from sqlalchemy import insert, text
from sqlalchemy.orm import Session, sessionmaker

from commerce import outbox
from commerce.models import OutboxReceipt
from commerce.outbox import claim_events, record_event
from commerce.states import EventKind
from storage.clock import utcnow
from storage.db import transaction
from storage.sql import dialect_name
from tests.support.commerce import checkout, run_at_once
from tests.support.sandbox_client import wait_until


def test_each_consumer_sees_each_event_once_in_order(store: sessionmaker[Session]) -> None:
    first = checkout(store, "o_out_1", {"shirt-test-white-L": 1})
    second = checkout(store, "o_out_2", {"shirt-test-white-L": 1})
    with transaction(store) as session:
        bot = [(e.kind, e.order_no, e.openid) for e in claim_events(session, consumer="bot")]
    with transaction(store) as session:
        again = claim_events(session, consumer="bot")
        scheduler = claim_events(session, consumer="scheduler", kinds=[EventKind.ORDER_PLACED], limit=1)
    assert bot == [("order_placed", first, "o_out_1"), ("order_placed", second, "o_out_2")]
    assert again == [] and [e.order_no for e in scheduler] == [first]


def test_a_rolled_back_claim_is_claimed_again(store: sessionmaker[Session]) -> None:
    checkout(store, "o_out_3", {"shirt-test-white-L": 1})
    try:
        with transaction(store) as session:
            assert len(claim_events(session, consumer="bot")) == 1
            raise RuntimeError("the consumer failed while handling it")
    except RuntimeError:
        pass
    with transaction(store) as session:
        assert len(claim_events(session, consumer="bot")) == 1


def test_concurrent_workers_of_one_consumer_split_the_events(store: sessionmaker[Session]) -> None:
    for i in range(6):
        checkout(store, f"o_out_c{i}", {"shirt-test-white-L": 1})
    claimed: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        with transaction(store) as session:
            ids = [e.id for e in claim_events(session, consumer="messenger")]
        with lock:
            claimed.extend(ids)

    run_at_once(work, 3)
    assert len(claimed) == 6 and len(set(claimed)) == 6


# A claim of more events than one insert takes writes its receipts in several.
@pytest.mark.parametrize("receipts_per_insert", [outbox.RECEIPTS_PER_INSERT, 7])
def test_a_claim_gets_exactly_the_events_another_worker_has_not_claimed(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, receipts_per_insert: int,
) -> None:
    monkeypatch.setattr(outbox, "RECEIPTS_PER_INSERT", receipts_per_insert)
    # Given thirty events, every third of them claimed by another worker of the messenger
    ids = given_events(factory, 30)
    held = ids[::3]
    # When the messenger claims them all
    claimed = claim_while_another_worker_holds(factory, "messenger", held)
    # Then it gets exactly the others, oldest first
    assert claimed == [event_id for event_id in ids if event_id not in held]


def given_events(factory: sessionmaker[Session], count: int) -> list[int]:
    with transaction(factory) as session:
        events = [record_event(session, EventKind.ORDER_PAID) for _ in range(count)]
        session.flush()
        return [event.id for event in events]


def claim_while_another_worker_holds(factory: sessionmaker[Session], consumer: str, held: Sequence[int]) -> list[int]:
    """Claim every event while another worker of `consumer` holds receipts for `held`.

    On PostgreSQL the other worker commits only once the claim's receipt insert waits for it: the
    claim chose its events before those receipts were visible, so only the insert can tell it they
    are taken. SQLite runs one writing transaction at a time, so there the other worker commits first.
    """
    claimed: list[list[int]] = []

    def claim() -> None:
        with transaction(factory) as session:
            claimed.append([event.id for event in claim_events(session, consumer=consumer)])

    with factory() as other:
        other.begin()
        other.execute(insert(OutboxReceipt), [{"event_id": event_id, "consumer": consumer, "claimed_at": utcnow()}
                                              for event_id in held])
        if dialect_name(other) == "sqlite":
            other.commit()
            claim()
            return claimed[0]
        worker = threading.Thread(target=claim)
        worker.start()
        waiting = wait_until(lambda: _receipt_inserts_waiting(factory), lambda count: count > 0)
        assert waiting == 1, "the claim did not wait for the other worker's receipts"
        other.commit()
    worker.join(timeout=60)
    assert claimed, "the claim did not finish"
    return claimed[0]


def _receipt_inserts_waiting(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(session.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO outbox_receipts%'"
        )).scalar_one())
