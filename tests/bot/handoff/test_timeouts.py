"""Timeouts of the human side, run at chosen times: a queue nobody takes is told again and raised to
supervisors once (only while the group is open), an unanswered customer gets the agent reminded and then
the conversation re-queued, and a silent customer is handed back to the bot with a closing line."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.handoff.config import HandoffConfig, Interval, RoutingConfig, SkillGroup
from bot.handoff.models import EventKind, Handoff, HandoffEvent, HandoffState, Resolution
from bot.handoff.operations import note_agent_reply
from bot.handoff.timeouts import apply_timeouts
from storage.db import transaction
from tests.bot.handoff.test_queue import NOW, agent, assign_all, queue

CONFIG = HandoffConfig(queue_timeout_s=600, agent_reply_timeout_s=300, customer_silence_s=1800)
OPEN = RoutingConfig(groups=(SkillGroup("售前"),))


class Told:
    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []

    def __call__(self, customer_id: int, text: str, *, key: str) -> None:
        self.lines.append((customer_id, text))


def run(factory: sessionmaker[Session], at: datetime, routing: RoutingConfig = OPEN) -> tuple[dict[str, int], Told]:
    told = Told()
    return apply_timeouts(factory, config=CONFIG, routing=routing, now=at, tell=told), told


def handoff(factory: sessionmaker[Session], handoff_id: int) -> Handoff:
    with factory() as session:
        row = session.get_one(Handoff, handoff_id)
        session.expunge(row)
        return row


def kinds(factory: sessionmaker[Session], handoff_id: int) -> list[Any]:
    with factory() as session:
        return list(session.scalars(select(HandoffEvent.kind).where(HandoffEvent.handoff_id == handoff_id)
                                    .order_by(HandoffEvent.id)))


def test_a_queue_nobody_takes_is_told_again_and_escalated_once(factory: sessionmaker[Session]) -> None:
    waiting = queue(factory, "o_waiting")
    assert run(factory, NOW + timedelta(minutes=9))[0]["escalated"] == 0
    counts, told = run(factory, NOW + timedelta(minutes=11))
    assert counts["escalated"] == 1 and "久等" in told.lines[0][1]
    assert handoff(factory, waiting).escalated_at is not None
    assert run(factory, NOW + timedelta(minutes=30))[0]["escalated"] == 0  # once
    assert kinds(factory, waiting) == [EventKind.QUEUED, EventKind.ESCALATED]


def test_waiting_overnight_is_not_escalated(factory: sessionmaker[Session]) -> None:
    queue(factory, "o_overnight")
    closed_today = RoutingConfig(groups=(SkillGroup("售前", hours={d: (Interval(time(9), time(18)),) for d in range(7)},
                                                    closed_dates=frozenset({date(2026, 12, 4)})),))
    assert run(factory, NOW + timedelta(hours=2), closed_today)[0]["escalated"] == 0


def test_an_unanswered_customer_reminds_the_agent_then_goes_back_to_the_queue(factory: sessionmaker[Session]) -> None:
    agent(factory, 7)
    held = queue(factory, "o_unanswered")
    assign_all(factory)
    assert run(factory, NOW + timedelta(minutes=4))[0]["reminded"] == 0
    assert run(factory, NOW + timedelta(minutes=6))[0]["reminded"] == 1
    assert handoff(factory, held).state == HandoffState.ASSIGNED
    counts, _ = run(factory, NOW + timedelta(minutes=12))
    assert counts["requeued"] == 1
    back = handoff(factory, held)
    assert (back.state, back.agent_id, back.queued_at) == (HandoffState.QUEUED, None, NOW)  # at its old place
    assert kinds(factory, held) == [EventKind.QUEUED, EventKind.ASSIGNED, EventKind.REMINDED, EventKind.QUEUED]


def test_an_answered_customer_who_falls_silent_gets_the_bot_back(factory: sessionmaker[Session]) -> None:
    agent(factory, 7)
    held = queue(factory, "o_silent")
    assign_all(factory)
    with transaction(factory) as session:
        note_agent_reply(session, session.get_one(Handoff, held), NOW + timedelta(minutes=1))
    assert run(factory, NOW + timedelta(minutes=20))[0]["resolved"] == 0
    counts, told = run(factory, NOW + timedelta(minutes=32))
    assert counts["resolved"] == 1 and "结束" in told.lines[0][1]
    done = handoff(factory, held)
    assert (done.state, done.resolution) == (HandoffState.RESOLVED, Resolution.CUSTOMER_SILENT)
