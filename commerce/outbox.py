"""Domain events: written in the transaction that caused them, claimed by consumers after commit.

Each consumer (the bot's messenger, the scheduler ...) sees every event exactly once: claiming
inserts a receipt row per (event, consumer), and a unique key makes a second claim of the same
event a no-op, so concurrent workers of one consumer never handle an event twice. A consumer that
claims and handles inside one transaction gets at-most-once-per-commit semantics for free.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from .db import insert_ignoring_conflicts, utcnow
from .models import OutboxEvent, OutboxReceipt
from .states import EventKind


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
) -> list[OutboxEvent]:
    """Claim up to `limit` events this consumer has not handled, oldest first.

    Commit the session after handling them; a rollback un-claims them. Events a concurrent worker of
    the same consumer claimed first are skipped.
    """
    if not consumer or len(consumer) > 40:
        raise ValueError("consumer must be a name of 1-40 characters")
    handled = exists().where(OutboxReceipt.event_id == OutboxEvent.id, OutboxReceipt.consumer == consumer)
    query = select(OutboxEvent).where(~handled)
    if kinds is not None:
        query = query.where(OutboxEvent.kind.in_([k.value for k in kinds]))
    candidates = list(session.scalars(query.order_by(OutboxEvent.id).limit(limit)))
    claimed_at = now or utcnow()
    claimed: list[OutboxEvent] = []
    for event in candidates:
        insert = insert_ignoring_conflicts(session, OutboxReceipt.__table__).values(  # type: ignore[arg-type]
            event_id=event.id, consumer=consumer, claimed_at=claimed_at
        ).returning(OutboxReceipt.event_id)
        if session.execute(insert).first() is not None:
            claimed.append(event)
    return claimed


def events_for_order(session: Session, order_no: str) -> list[OutboxEvent]:
    return list(session.scalars(select(OutboxEvent).where(OutboxEvent.order_no == order_no).order_by(OutboxEvent.id)))
