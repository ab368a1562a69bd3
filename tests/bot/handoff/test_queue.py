"""The queue and assignment, as operations on the database: oldest first, least loaded then idle longest,
limits, agents going offline, claims, transfers, and the transition table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.handoff.errors import AgentUnavailable, HandoffNotFound, IllegalHandoffMove
from bot.handoff.models import (
    HANDOFF_TRANSITIONS,
    AgentStatus,
    EventKind,
    Handoff,
    HandoffEvent,
    HandoffReason,
    HandoffState,
    Resolution,
    RoutingAgent,
)
from bot.handoff.operations import (
    Actor,
    assign_next,
    claim,
    hand_off,
    queue_place,
    resolve,
    transfer_to_agent,
    transfer_to_group,
)
from bot.handoff.roster import sync_agent
from bot.models import Channel, Customer
from storage.db import transaction

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def customer(session: Session, openid: str) -> int:
    row = Customer(channel=Channel.OA, openid=openid, created_at=NOW)
    session.add(row)
    session.flush()
    return row.id


def queue(factory: sessionmaker[Session], openid: str, group: str = "售前", at: datetime = NOW) -> int:
    with transaction(factory) as session:
        handoff, new = hand_off(session, customer_id=customer(session, openid), reason=HandoffReason.ASKED,
                                group=group, summary={}, now=at)
        assert new
        return handoff.id


def agent(factory: sessionmaker[Session], staff_id: int, *, groups: tuple[str, ...] = ("售前",), max_chats: int = 2,
          status: AgentStatus = AgentStatus.ONLINE, at: datetime = NOW) -> list[int]:
    with transaction(factory) as session:
        return sync_agent(session, staff_id=staff_id, display_name=f"agent{staff_id}", groups=groups, status=status,
                          max_chats=max_chats, now=at, actor=Actor(f"agent{staff_id}", staff_id))


def assign_all(factory: sessionmaker[Session], group: str = "售前", at: datetime = NOW) -> list[tuple[int, int]]:
    done = []
    while True:
        with transaction(factory) as session:
            got = assign_next(session, group=group, now=at)
        if got is None:
            return done
        done.append((got.handoff_id, got.agent_id))


def state(factory: sessionmaker[Session], handoff_id: int) -> tuple[str, int | None]:
    with factory() as session:
        row = session.get_one(Handoff, handoff_id)
        return row.state, row.agent_id


def load(factory: sessionmaker[Session], staff_id: int) -> int:
    with factory() as session:
        return session.get_one(RoutingAgent, staff_id).active_chats


def test_oldest_first_to_the_least_loaded_then_idle_longest(factory: sessionmaker[Session]) -> None:
    # Given three customers waiting, the newest queued first in time order of their arrival
    first = queue(factory, "o_1", at=NOW)
    second = queue(factory, "o_2", at=NOW + timedelta(seconds=1))
    third = queue(factory, "o_3", at=NOW + timedelta(seconds=2))
    with factory() as session:
        assert [queue_place(session, session.get_one(Handoff, h)) for h in (first, second, third)] == [0, 1, 2]
    # and two agents, 7 idle longer than 8
    agent(factory, 7, at=NOW - timedelta(minutes=5))
    agent(factory, 8, at=NOW - timedelta(minutes=1))
    # When the queue is assigned
    done = assign_all(factory, at=NOW + timedelta(seconds=5))
    # Then the oldest goes to the one idle longest, the next to the other (least loaded), the third to 7 again
    assert done == [(first, 7), (second, 8), (third, 7)]
    assert (load(factory, 7), load(factory, 8)) == (2, 1)


def test_nobody_is_given_more_than_their_limit(factory: sessionmaker[Session]) -> None:
    ids = [queue(factory, f"o_{n}", at=NOW + timedelta(seconds=n)) for n in range(4)]
    agent(factory, 7, max_chats=1)
    agent(factory, 8, max_chats=2)
    assert len(assign_all(factory)) == 3
    assert state(factory, ids[3]) == (HandoffState.QUEUED, None)
    assert (load(factory, 7), load(factory, 8)) == (1, 2)


def test_an_agent_going_offline_puts_their_chats_back_at_their_places(factory: sessionmaker[Session]) -> None:
    # Given 7 holding the two oldest conversations and a third waiting
    agent(factory, 7, max_chats=2)
    ids = [queue(factory, f"o_{n}", at=NOW + timedelta(seconds=n)) for n in range(3)]
    assign_all(factory)
    # When 7 goes offline
    requeued = agent(factory, 7, max_chats=2, status=AgentStatus.OFFLINE)
    # Then both are queued again, ahead of the third, and 7 holds nothing
    assert sorted(requeued) == ids[:2]
    with factory() as session:
        places = [queue_place(session, session.get_one(Handoff, h)) for h in ids]
    assert places == [0, 1, 2]
    assert load(factory, 7) == 0
    # and when 8 comes online the oldest goes first
    agent(factory, 8, max_chats=1)
    assert assign_all(factory) == [(ids[0], 8)]


def test_a_customer_has_one_open_handoff(factory: sessionmaker[Session]) -> None:
    first = queue(factory, "o_again")
    with transaction(factory) as session:
        cid = session.scalar(select(Customer.id).where(Customer.openid == "o_again"))
        assert cid is not None
        again, new = hand_off(session, customer_id=cid, reason=HandoffReason.COMPLAINT, group="售后", summary={},
                              now=NOW)
    assert (again.id, new) == (first, False)


def test_claim_transfer_and_resolve_write_an_event_each(factory: sessionmaker[Session]) -> None:
    handoff_id = queue(factory, "o_claim")
    agent(factory, 7)
    agent(factory, 8, groups=("售前", "售后"))
    wang = Actor("wang", 7, ("售前",))
    with transaction(factory) as session:
        claim(session, handoff_id=handoff_id, actor=wang, now=NOW)
    with transaction(factory) as session:
        transfer_to_agent(session, handoff_id=handoff_id, to_staff_id=8, actor=wang, now=NOW)
    assert (load(factory, 7), load(factory, 8)) == (0, 1)
    li = Actor("li", 8, ("售前", "售后"))
    with transaction(factory) as session:
        transfer_to_group(session, handoff_id=handoff_id, group="售后", actor=li, now=NOW)
    assert state(factory, handoff_id) == (HandoffState.QUEUED, None) and load(factory, 8) == 0
    with transaction(factory) as session:
        handoff = session.get_one(Handoff, handoff_id)
        resolve(session, handoff=handoff, resolution=Resolution.AGENT, actor=li, now=NOW)
    with factory() as session:
        events = session.scalars(select(HandoffEvent).where(HandoffEvent.handoff_id == handoff_id)
                                 .order_by(HandoffEvent.id)).all()
        trail = [(e.kind, e.from_state, e.to_state, e.actor) for e in events]
    assert trail == [
        (EventKind.QUEUED, None, HandoffState.QUEUED, "bot"),
        (EventKind.CLAIMED, HandoffState.QUEUED, HandoffState.ASSIGNED, "wang"),
        (EventKind.TRANSFERRED, HandoffState.ASSIGNED, HandoffState.ASSIGNED, "wang"),
        (EventKind.TRANSFERRED, HandoffState.ASSIGNED, HandoffState.QUEUED, "li"),
        (EventKind.RESOLVED, HandoffState.QUEUED, HandoffState.RESOLVED, "li"),
    ]
    # a resolved handoff moves no more
    with transaction(factory) as session, pytest.raises(IllegalHandoffMove):
        resolve(session, handoff=session.get_one(Handoff, handoff_id), resolution=Resolution.AGENT, actor=li, now=NOW)


def test_agents_see_only_their_groups(factory: sessionmaker[Session]) -> None:
    handoff_id = queue(factory, "o_private", group="VIP")
    agent(factory, 7)
    with transaction(factory) as session, pytest.raises(HandoffNotFound):
        claim(session, handoff_id=handoff_id, actor=Actor("wang", 7, ("售前",)), now=NOW)
    # a supervisor sees it, but cannot claim past their own limit (not online: no capacity)
    agent(factory, 9, status=AgentStatus.AWAY)
    with transaction(factory) as session, pytest.raises(AgentUnavailable):
        claim(session, handoff_id=handoff_id, actor=Actor("boss", 9, (), all_groups=True), now=NOW)


def test_the_transition_table() -> None:
    assert HANDOFF_TRANSITIONS[HandoffState.RESOLVED] == frozenset()
    assert HandoffState.ASSIGNED in HANDOFF_TRANSITIONS[HandoffState.QUEUED]
    assert HandoffState.QUEUED in HANDOFF_TRANSITIONS[HandoffState.ASSIGNED]
