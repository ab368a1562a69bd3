"""Timeouts of the human side, checked by a scheduler job:

- queued and untaken for `queue_timeout_s` while its group is open: the customer is told again and the
  handoff is raised to supervisors (an `escalated` event; once per handoff);
- assigned and the customer unanswered for `agent_reply_timeout_s`: the agent is reminded (a `reminded`
  event); unanswered for as long again: back to the queue at its original place;
- the agent answered and the customer has been silent for `customer_silence_s`: resolved, the bot back,
  with a closing line.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.handoff.config import HandoffConfig, RoutingConfig
from bot.handoff.models import EventKind, Handoff, HandoffState, Resolution
from bot.handoff.operations import Actor, lock_group, record_event, requeue, resolve
from storage.db import transaction

TIMEOUTS = Actor("timeouts")
BATCH = 100

Tell = Callable[..., None]  # (customer_id, text, *, key)


def apply_timeouts(
    factory: sessionmaker[Session], *, config: HandoffConfig, routing: RoutingConfig, now: datetime, tell: Tell
) -> dict[str, int]:
    counts = {"escalated": 0, "reminded": 0, "requeued": 0, "resolved": 0}
    for handoff_id in _due(factory, _queued_too_long(config, now)):
        if _escalate(factory, handoff_id, routing, now, tell, config):
            counts["escalated"] += 1
    for handoff_id in _due(factory, _unanswered(config, now, reminded=False)):
        counts["reminded"] += _change(factory, handoff_id, now, _remind)
    for handoff_id in _due(factory, _unanswered(config, now, reminded=True)):
        counts["requeued"] += _change(factory, handoff_id, now, _requeue_unanswered)
    for handoff_id in _due(factory, _customer_silent(config, now)):
        if _change(factory, handoff_id, now, _resolve_silent):
            counts["resolved"] += 1
            customer_id = _customer_of(factory, handoff_id)
            tell(customer_id, config.texts.silent, key=f"handoff:{handoff_id}:silent")
    return counts


def _queued_too_long(config: HandoffConfig, now: datetime) -> object:
    return select(Handoff.id).where(
        Handoff.state == HandoffState.QUEUED, Handoff.escalated_at.is_(None),
        Handoff.queued_at <= now - timedelta(seconds=config.queue_timeout_s),
    )


def _unanswered(config: HandoffConfig, now: datetime, *, reminded: bool) -> object:
    limit = timedelta(seconds=config.agent_reply_timeout_s)
    query = select(Handoff.id).where(Handoff.state == HandoffState.ASSIGNED, Handoff.awaiting_since.is_not(None))
    if reminded:  # reminded, and unanswered for as long again since
        return query.where(Handoff.reminded_at.is_not(None), Handoff.reminded_at <= now - limit)
    return query.where(Handoff.reminded_at.is_(None), Handoff.awaiting_since <= now - limit)


def _customer_silent(config: HandoffConfig, now: datetime) -> object:
    return select(Handoff.id).where(
        Handoff.state == HandoffState.ASSIGNED, Handoff.awaiting_since.is_(None), Handoff.last_agent_at.is_not(None),
        Handoff.last_agent_at <= now - timedelta(seconds=config.customer_silence_s),
        (Handoff.last_customer_at.is_(None)) | (Handoff.last_customer_at <= Handoff.last_agent_at),
    )


def _due(factory: sessionmaker[Session], query: object) -> list[int]:
    with factory() as session:
        return list(session.scalars(query.order_by(Handoff.id).limit(BATCH)))  # type: ignore[attr-defined]


def _escalate(factory: sessionmaker[Session], handoff_id: int, routing: RoutingConfig, now: datetime, tell: Tell,
              config: HandoffConfig) -> bool:
    with transaction(factory) as session:
        handoff = session.get_one(Handoff, handoff_id, with_for_update=True)
        group = routing.group(handoff.group)
        waiting_in_hours = group is None or group.is_open(now, routing.zone)  # waiting overnight is expected
        if handoff.state != HandoffState.QUEUED or handoff.escalated_at is not None or not waiting_in_hours:
            return False
        handoff.escalated_at = now
        record_event(session, handoff, EventKind.ESCALATED, actor=TIMEOUTS, now=now, detail="queued too long")
        customer_id = handoff.customer_id
    tell(customer_id, config.texts.still_waiting, key=f"handoff:{handoff_id}:escalated")
    return True


def _change(factory: sessionmaker[Session], handoff_id: int, now: datetime,
            change: Callable[[Session, Handoff, datetime], bool]) -> int:
    with transaction(factory) as session:
        group = session.scalar(select(Handoff.group).where(Handoff.id == handoff_id))
        if group is None:
            return 0
        lock_group(session, group)  # as every move of an assigned handoff: group, then agent, then handoff
        handoff = session.get_one(Handoff, handoff_id, with_for_update=True, populate_existing=True)
        return int(change(session, handoff, now))


def _remind(session: Session, handoff: Handoff, now: datetime) -> bool:
    if handoff.state != HandoffState.ASSIGNED or handoff.awaiting_since is None or handoff.reminded_at is not None:
        return False
    handoff.reminded_at = now
    record_event(session, handoff, EventKind.REMINDED, actor=TIMEOUTS, now=now, detail="customer unanswered")
    return True


def _requeue_unanswered(session: Session, handoff: Handoff, now: datetime) -> bool:
    if handoff.state != HandoffState.ASSIGNED or handoff.awaiting_since is None or handoff.reminded_at is None:
        return False
    requeue(session, handoff, actor=TIMEOUTS, now=now, detail="customer left unanswered")
    return True


def _resolve_silent(session: Session, handoff: Handoff, now: datetime) -> bool:
    if handoff.state != HandoffState.ASSIGNED or handoff.awaiting_since is not None:
        return False
    resolve(session, handoff=handoff, resolution=Resolution.CUSTOMER_SILENT, actor=TIMEOUTS, now=now)
    return True


def _customer_of(factory: sessionmaker[Session], handoff_id: int) -> int:
    with factory() as session:
        return int(session.get_one(Handoff, handoff_id).customer_id)
