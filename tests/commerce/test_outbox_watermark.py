"""Outbox watermarks: a claim looks only above the events its consumer has settled, and the watermark
never passes an event that may still commit below one already handled."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from commerce.outbox import claim_events, record_event, watermark
from commerce.states import EventKind
from storage.db import transaction
from storage.sql import dialect_name
from tests.support.commerce import run_at_once

# With no settle window, the newest id the previous claim saw may be passed at once: a claim then
# moves the watermark over everything handled before it, which is what these tests look at.
SETTLED = timedelta(0)


def given_event(factory: sessionmaker[Session], kind: EventKind = EventKind.ORDER_PLACED, *,
                event_id: int | None = None) -> int:
    """Record one event; an explicit id stands for where the sequence placed it."""
    with transaction(factory) as session:
        event = record_event(session, kind)
        event.id = event_id  # type: ignore[assignment]  # None: the database's own next id
        session.flush()
        return event.id


def claim(factory: sessionmaker[Session], consumer: str = "bot", **options: object) -> list[int]:
    with transaction(factory) as session:
        return [event.id for event in claim_events(session, consumer=consumer, **options)]  # type: ignore[arg-type]


def watermark_of(factory: sessionmaker[Session], consumer: str = "bot") -> int:
    with factory() as session:
        return watermark(session, consumer)


def test_once_settled_the_watermark_is_the_last_handled_event(factory: sessionmaker[Session]) -> None:
    # Given five events the bot has handled
    ids = [given_event(factory) for _ in range(5)]
    assert claim(factory) == ids
    # Then the watermark stays put while they are recent, and reaches the last one once settled
    assert watermark_of(factory) == 0
    assert claim(factory, settle=SETTLED) == []
    assert watermark_of(factory) == ids[-1]


def test_a_claim_does_not_look_below_the_watermark(factory: sessionmaker[Session]) -> None:
    # Given events 10 and 20 handled and settled
    given_event(factory, event_id=10)
    given_event(factory, event_id=20)
    assert claim(factory) == [10, 20]
    claim(factory, settle=SETTLED)
    assert watermark_of(factory) == 20
    # When events without a receipt appear below the watermark and above it
    given_event(factory, event_id=15)
    given_event(factory, event_id=25)
    # Then a claim finds only the one above: it never walks the settled events again
    assert claim(factory) == [25]


def test_an_event_appearing_below_a_handled_one_is_claimed_within_the_settle_window(
    factory: sessionmaker[Session],
) -> None:
    # Given events 10 and 30 handled
    given_event(factory, event_id=10)
    given_event(factory, event_id=30)
    assert claim(factory) == [10, 30]
    # When event 20 becomes visible only now, as a transaction that took its id before 30 and
    # committed after it would make it
    given_event(factory, event_id=20)
    # Then the next claim gets it, and the watermark passes it only once it is handled
    assert claim(factory) == [20]
    assert watermark_of(factory) == 0
    assert claim(factory, settle=SETTLED) == []
    assert watermark_of(factory) == 30


def test_an_event_committed_late_is_claimed_after_a_higher_one_was_handled(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        backend = dialect_name(session)
    if backend == "sqlite":
        _an_event_written_meanwhile_waits_for_the_first_commit(factory)
        return
    # Given a transaction that has recorded an event but not committed
    with factory() as late:
        late.begin()
        slow = record_event(late, EventKind.ORDER_PAID)
        late.flush()
        # and a later event, committed and handled, once and again
        quick = given_event(factory)
        assert quick > slow.id
        assert claim(factory) == [quick]
        assert claim(factory) == []
        # When the first transaction commits
        late.commit()
    # Then its event is claimed, and afterwards the watermark settles above both
    assert claim(factory) == [slow.id]
    claim(factory, settle=SETTLED)
    assert watermark_of(factory) == quick


def _an_event_written_meanwhile_waits_for_the_first_commit(factory: sessionmaker[Session]) -> None:
    # SQLite runs one writing transaction at a time: a second writer waits for the first to commit,
    # so ids follow commit order and no event can become visible below one already handled.
    written: list[int] = []
    with factory() as late:
        late.begin()
        slow = record_event(late, EventKind.ORDER_PAID)
        late.flush()
        writer = threading.Thread(target=lambda: written.append(given_event(factory)))
        writer.start()
        late.commit()
        slow_id = slow.id
    writer.join()
    assert written[0] > slow_id
    assert claim(factory) == [slow_id, written[0]]
    claim(factory, settle=SETTLED)
    assert watermark_of(factory) == written[0]


def test_a_consumer_of_some_kinds_settles_past_events_of_other_kinds(factory: sessionmaker[Session]) -> None:
    # Given a placed, a paid and another placed order event
    placed, paid, placed_again = (given_event(factory, kind)
                                  for kind in (EventKind.ORDER_PLACED, EventKind.ORDER_PAID, EventKind.ORDER_PLACED))
    # When a consumer of paid events only claims, and again once settled
    assert claim(factory, "scheduler", kinds=[EventKind.ORDER_PAID]) == [paid]
    assert claim(factory, "scheduler", kinds=[EventKind.ORDER_PAID], settle=SETTLED) == []
    # Then its watermark passed the placed events it never claims
    assert watermark_of(factory, "scheduler") == placed_again
    # And when it is given every kind, it looks through every event again and gets the placed ones
    assert claim(factory, "scheduler") == [placed, placed_again]
    assert watermark_of(factory, "scheduler") == 0


def test_concurrent_workers_moving_the_watermark_still_handle_each_event_once(
    factory: sessionmaker[Session],
) -> None:
    # Given twelve events and three workers of one consumer, each claiming two at a time and moving
    # the watermark on every claim while the others hold claims not yet committed
    ids = [given_event(factory) for _ in range(12)]
    claimed: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        while batch := claim(factory, "messenger", limit=2, settle=SETTLED):
            with lock:
                claimed.extend(batch)

    run_at_once(work, 3)
    # Then every event was handled exactly once, and the watermark settles on the last
    assert sorted(claimed) == ids
    assert claim(factory, "messenger", settle=SETTLED) == []
    assert watermark_of(factory, "messenger") == ids[-1]


def test_bad_claims_are_refused_and_change_nothing(factory: sessionmaker[Session]) -> None:
    event = given_event(factory)
    with pytest.raises(ValueError, match="settle"):
        claim(factory, settle=timedelta(seconds=-1))
    with pytest.raises(ValueError, match="unknown event kinds"):
        claim(factory, kinds=["order_misplaced"])
    assert watermark_of(factory) == 0
    assert claim(factory) == [event]
