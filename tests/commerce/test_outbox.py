"""The outbox: every consumer gets every event once, in order; concurrent workers never share one."""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session, sessionmaker

from commerce.db import transaction
from commerce.outbox import claim_events
from commerce.states import EventKind
from tests.commerce.helpers import checkout, run_at_once


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
