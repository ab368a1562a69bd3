"""Domain events: written in the transaction that caused them, claimed by consumers after commit.

Each consumer (the bot's messenger, the scheduler ...) sees every event exactly once: claiming
inserts a receipt row per (event, consumer), and a unique key makes a second claim of the same
event a no-op, so concurrent workers of one consumer never handle an event twice. A consumer that
claims and handles inside one transaction gets at-most-once-per-commit semantics for free.

A claim looks only above the consumer's watermark (`outbox_watermarks`): an event id below which the
consumer has handled every event of its kinds. Without it every claim would walk past all the events
the consumer ever handled, and a store keeps millions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import ColumnElement, Integer, Row, exists, func, insert, literal, select, true, update
from sqlalchemy.orm import Session

from storage.clock import utcnow
from storage.sql import dialect_name, insert_ignoring_conflicts

from .models import OutboxEvent, OutboxReceipt, OutboxWatermark
from .states import EventKind

log = logging.getLogger(__name__)

# A consumer's outbox_watermarks row: event_id, kinds, seen_event_id, updated_at.
Mark = Row[int, str | None, int, datetime]

# PostgreSQL hands out an event's id when the row is inserted, not when its transaction commits, so an
# event can become visible below one a consumer has already handled; the watermark must never pass it.
# The rule: a claim notes the newest event id it can see (`seen_event_id`, at `updated_at`), and the
# watermark may move up to that id only once this window has passed. The sequence hands ids out in
# order, so any event with a lower id had its id before the note was taken; by the time the window has
# passed it is visible, unless its transaction has stayed open for the whole window, which none does:
# every transaction that records an event is short and calls nothing outside the database. (The
# workers' clocks must agree to well within the window.) Event timestamps can't serve instead: jobs
# stamp events with the time the job started, which can be minutes before the row is inserted. Above
# the watermark a claim looks at every event, so one that commits late is claimed once it commits.
SETTLE_WINDOW = timedelta(minutes=5)

# PostgreSQL: the transaction moving a consumer's watermark holds the advisory lock (this class,
# hashtext(consumer)) until it ends. Other workers of that consumer skip the move rather than queue
# behind a claim still being handled; the one holding it, or the next claim, moves it.
WATERMARK_LOCK_CLASS = 0x6F627778

# A claim inserts its receipts with one statement per this many events: each row binds 3 parameters,
# and PostgreSQL takes at most 65,535 in a statement (SQLite 32,766).
RECEIPTS_PER_INSERT = 1000


def record_event(
    session: Session,
    kind: EventKind,
    *,
    order_no: str | None = None,
    openid: str | None = None,
    payload: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> OutboxEvent:
    event = OutboxEvent(
        kind=kind.value, order_no=order_no, openid=openid, payload=payload or {}, created_at=now or utcnow()
    )
    session.add(event)
    return event


def claim_events(
    session: Session,
    *,
    consumer: str,
    kinds: Iterable[EventKind] | None = None,
    limit: int = 100,
    now: datetime | None = None,
    settle: timedelta = SETTLE_WINDOW,
) -> list[OutboxEvent]:
    """Claim up to `limit` events this consumer has not handled, oldest first.

    Commit the session after handling them; a rollback un-claims them. Events a concurrent worker of
    the same consumer claimed first are skipped. A consumer is one subscription: give it the same
    `kinds` on every call (another set makes its next claim look through every event again).
    `now` stamps the receipts; the watermark goes by the real clock and `settle` (see SETTLE_WINDOW).
    """
    if not consumer or len(consumer) > 40:
        _refuse("consumer must be a name of 1-40 characters")
    if settle < timedelta(0):
        _refuse("settle must not be negative")
    interest = _kinds_key(kinds)
    mark = _watermark_row(session, consumer)
    # A watermark computed for other kinds says nothing about these: look from the first event.
    floor = mark.event_id if mark is not None and mark.kinds == interest else 0
    claimed = _claim_above(session, consumer, interest, floor, limit, now or utcnow())
    if _may_move(mark, interest, settle) and _lock_watermark(session, consumer):
        _move_watermark(session, consumer, interest, settle)
    return claimed


def watermark(session: Session, consumer: str) -> int:
    """The event id up to which `consumer` has handled every event of its kinds (0: none yet)."""
    found = session.scalar(select(OutboxWatermark.event_id).where(OutboxWatermark.consumer == consumer))
    return found or 0


def events_for_order(session: Session, order_no: str) -> list[OutboxEvent]:
    return list(session.scalars(select(OutboxEvent).where(OutboxEvent.order_no == order_no).order_by(OutboxEvent.id)))


def _refuse(reason: str) -> NoReturn:
    log.warning("outbox claim refused: %s", reason)
    raise ValueError(reason)


def _kinds_key(kinds: Iterable[EventKind] | None) -> str | None:
    """The kinds as stored beside a watermark: sorted, comma-separated; None for every kind."""
    if kinds is None:
        return None
    values = {str(kind) for kind in kinds}
    unknown = values - {kind.value for kind in EventKind}
    if unknown:
        _refuse(f"unknown event kinds {sorted(unknown)}")
    return ",".join(sorted(values))


def _of_interest(interest: str | None) -> ColumnElement[bool]:
    if interest is None:
        return true()
    return OutboxEvent.kind.in_(interest.split(",") if interest else [])


def _unhandled(consumer: str, above: int) -> ColumnElement[bool]:
    # The receipts' own bound is implied by the join, but without it PostgreSQL may merge-join against
    # every receipt the consumer ever wrote.
    return ~exists().where(OutboxReceipt.event_id == OutboxEvent.id, OutboxReceipt.consumer == consumer,
                           OutboxReceipt.event_id > above)


def _watermark_row(session: Session, consumer: str) -> Mark | None:
    return session.execute(
        select(OutboxWatermark.event_id, OutboxWatermark.kinds, OutboxWatermark.seen_event_id,
               OutboxWatermark.updated_at).where(OutboxWatermark.consumer == consumer)
    ).first()


def _may_move(mark: Mark | None, interest: str | None, settle: timedelta) -> bool:
    """No watermark yet, one for other kinds, or one whose noted id is `settle` old."""
    return mark is None or mark.kinds != interest or mark.updated_at <= utcnow() - settle


def _claim_above(
    session: Session, consumer: str, interest: str | None, floor: int, limit: int, claimed_at: datetime
) -> list[OutboxEvent]:
    query = select(OutboxEvent).where(OutboxEvent.id > floor, _of_interest(interest), _unhandled(consumer, floor))
    candidates = list(session.scalars(query.order_by(OutboxEvent.id).limit(limit)))
    inserted: set[int] = set()
    for start in range(0, len(candidates), RECEIPTS_PER_INSERT):
        batch = candidates[start:start + RECEIPTS_PER_INSERT]
        inserted.update(_insert_receipts(session, consumer, [event.id for event in batch], claimed_at))
    return [event for event in candidates if event.id in inserted]


def _insert_receipts(session: Session, consumer: str, event_ids: list[int], claimed_at: datetime) -> list[int]:
    """Insert the receipts in one statement; the ids of those it inserted.

    RETURNING reports only the rows inserted, so an event whose receipt a concurrent worker of this
    consumer wrote first is left out (PostgreSQL waits for that worker's transaction to end to know).
    Rows go in ascending id order, as in every claim, so of two claims after the same events one waits
    for the other rather than each holding a receipt the other needs.
    """
    rows = [{"event_id": event_id, "consumer": consumer, "claimed_at": claimed_at} for event_id in event_ids]
    insert_receipts = insert_ignoring_conflicts(session, OutboxReceipt.__table__).values(rows)  # type: ignore[arg-type]
    return list(session.scalars(insert_receipts.returning(OutboxReceipt.event_id)))


def _lock_watermark(session: Session, consumer: str) -> bool:
    """Whether this transaction may move the watermark: no other is moving it (PostgreSQL)."""
    if dialect_name(session) != "postgresql":
        return True  # SQLite runs one writing transaction at a time (BEGIN IMMEDIATE)
    lock = func.pg_try_advisory_xact_lock(literal(WATERMARK_LOCK_CLASS, Integer), func.hashtext(consumer))
    return bool(session.scalar(select(lock)))


def _move_watermark(session: Session, consumer: str, interest: str | None, settle: timedelta) -> None:
    """Move the watermark over the handled events up to the id noted `settle` ago, and note a new one.

    Receipts this transaction has just inserted count: if it rolls back, so does the move. A concurrent
    worker's uncommitted receipts don't, so the watermark stops below an event it is still handling.
    """
    mark = _watermark_row(session, consumer)  # again, under the lock: another worker may have moved it
    if not _may_move(mark, interest, settle):
        return
    if mark is None or mark.kinds != interest:
        if mark is not None:
            log.warning("outbox consumer %s now claims kinds %s (was %s): looking through every event again",
                        consumer, interest if interest is not None else "all", mark.kinds or "all")
        _note_watermark(session, consumer, interest, 0, update_row=mark is not None)
    else:
        settled = _handled_up_to(session, consumer, interest, mark.event_id, mark.seen_event_id)
        _note_watermark(session, consumer, interest, settled, update_row=True)


def _handled_up_to(session: Session, consumer: str, interest: str | None, floor: int, seen: int) -> int:
    """The highest id, at most `seen`, below which every event of interest above `floor` has a receipt."""
    first_unhandled = session.scalar(
        select(func.min(OutboxEvent.id)).where(
            OutboxEvent.id > floor, OutboxEvent.id <= seen, _of_interest(interest), _unhandled(consumer, floor)
        )
    )
    return max(floor, seen if first_unhandled is None else first_unhandled - 1)


def _note_watermark(session: Session, consumer: str, interest: str | None, settled: int, *, update_row: bool) -> None:
    seen = session.scalar(select(func.max(OutboxEvent.id))) or 0
    # The clock is read after the newest id, so the note is never older than what it saw.
    values = {"event_id": settled, "kinds": interest, "seen_event_id": seen, "updated_at": utcnow()}
    if update_row:
        session.execute(update(OutboxWatermark).where(OutboxWatermark.consumer == consumer).values(**values))
    else:
        session.execute(insert(OutboxWatermark).values(consumer=consumer, **values))
