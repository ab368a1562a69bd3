"""Handoff operations: each takes a Session inside the caller's transaction and changes state only as the
transition table allows, writing one event row per change.

Concurrency: a customer has one open handoff (a partial unique index); a group's queue is assigned one
conversation at a time (its lock row, `FOR UPDATE`); an agent's load rises only by a conditional update
that checks their limit, and a handoff leaves `queued` only by a conditional update that checks it is
still queued. So with any number of processes no conversation is assigned twice and no agent holds more
than their limit. Locks are taken in one order: group lock, then agent row, then handoff row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.handoff.errors import (
    AgentUnavailable,
    HandoffNotFound,
    IllegalHandoffMove,
    InvalidHandoffInput,
    NotYourConversation,
)
from bot.handoff.models import (
    HANDOFF_TRANSITIONS,
    OPEN_STATES,
    AgentStatus,
    EventKind,
    Handoff,
    HandoffEvent,
    HandoffNote,
    HandoffReason,
    HandoffState,
    Resolution,
    RoutingAgent,
    RoutingGroupLock,
)
from bot.live import LiveEvent, LiveKind, publish
from storage.sql import dialect_name, insert_ignoring_conflicts

MAX_NOTE_CHARS = 2000
GROUP_LOCKS = cast(Table, RoutingGroupLock.__table__)


@dataclass(frozen=True)
class Actor:
    """Who acts on a handoff: a staff member (with the groups they work in) or the system."""

    name: str  # a username, or "routing", "customer", "timeouts", "bot"
    staff_id: int | None = None
    groups: tuple[str, ...] = ()
    all_groups: bool = False  # supervisors and admins see and act on every group

    def may_see(self, handoff: Handoff) -> bool:
        return self.all_groups or handoff.group in self.groups or (
            self.staff_id is not None and handoff.agent_id == self.staff_id)


SYSTEM = Actor("routing")


@dataclass(frozen=True)
class Assignment:
    handoff_id: int
    customer_id: int
    agent_id: int
    agent_name: str
    group: str


def move(
    session: Session, handoff: Handoff, to: HandoffState, *, kind: EventKind, actor: Actor, now: datetime,
    detail: str = "",
) -> None:
    """Change a handoff's state as the table allows, and record it."""
    current = HandoffState(handoff.state)
    if to not in HANDOFF_TRANSITIONS[current]:
        raise IllegalHandoffMove(f"conversation {handoff.id} is {current.value}: it cannot become {to.value}",
                                 state=current.value)
    handoff.state = to
    record_event(session, handoff, kind, actor=actor, now=now, from_state=current, detail=detail)


def record_event(
    session: Session, handoff: Handoff, kind: EventKind, *, actor: Actor, now: datetime,
    from_state: HandoffState | None = None, detail: str = "",
) -> None:
    session.add(HandoffEvent(handoff_id=handoff.id, kind=kind, from_state=from_state,
                             to_state=HandoffState(handoff.state), group=handoff.group, agent_id=handoff.agent_id,
                             actor=actor.name[:64], detail=detail[:255], at=now))
    publish(session, LiveEvent(LiveKind.HANDOFF, {
        "handoff_id": handoff.id, "customer_id": handoff.customer_id, "group": handoff.group,
        "state": HandoffState(handoff.state), "agent_id": handoff.agent_id, "kind": kind, "actor": actor.name,
        "detail": detail, "at": now,
    }, now, group=handoff.group, agent_id=handoff.agent_id, handoff_id=handoff.id))


# -- opening ----------------------------------------------------------------------------------------


def open_handoff_of(session: Session, customer_id: int) -> Handoff | None:
    return session.scalar(select(Handoff).where(Handoff.customer_id == customer_id, Handoff.state.in_(OPEN_STATES)))


def hand_off(
    session: Session, *, customer_id: int, reason: HandoffReason, group: str, summary: dict[str, Any], now: datetime,
    actor: Actor = Actor("bot"),
) -> tuple[Handoff, bool]:
    """Put the customer in `group`'s queue; (the handoff, whether it is new). A customer already waiting or
    served keeps the handoff they have."""
    existing = open_handoff_of(session, customer_id)
    if existing is not None:
        return existing, False
    handoff = Handoff(customer_id=customer_id, state=HandoffState.QUEUED, group=group, reason=reason,
                      opened_at=now, queued_at=now, last_customer_at=now, awaiting_since=now, summary=summary)
    try:
        with session.begin_nested():  # another process may open one for the same customer at this moment
            session.add(handoff)
            session.flush()
    except IntegrityError:
        raced = open_handoff_of(session, customer_id)
        if raced is None:
            raise
        return raced, False
    record_event(session, handoff, EventKind.QUEUED, actor=actor, now=now, detail=reason.value)
    return handoff, True


def queue_place(session: Session, handoff: Handoff) -> int:
    """How many conversations of its group wait ahead of it (0: it is next)."""
    ahead = select(func.count()).select_from(Handoff).where(
        Handoff.group == handoff.group, Handoff.state == HandoffState.QUEUED,
        (Handoff.queued_at < handoff.queued_at) | and_(Handoff.queued_at == handoff.queued_at, Handoff.id < handoff.id),
    )
    return int(session.scalar(ahead) or 0)


# -- assignment -------------------------------------------------------------------------------------


def lock_group(session: Session, group: str) -> None:
    """Hold the group's lock row until the transaction ends (SQLite: the write lock already serialises)."""
    session.execute(insert_ignoring_conflicts(dialect_name(session), GROUP_LOCKS), {"name": group})
    session.execute(select(RoutingGroupLock.name).where(RoutingGroupLock.name == group).with_for_update())


def assign_next(session: Session, *, group: str, now: datetime) -> Assignment | None:
    """Give the group's oldest queued conversation to its least-loaded online agent (then the one idle
    longest); None when the queue is empty or nobody can take it."""
    lock_group(session, group)
    oldest = session.scalar(
        select(Handoff).where(Handoff.group == group, Handoff.state == HandoffState.QUEUED)
        .order_by(Handoff.queued_at, Handoff.id).limit(1)
    )
    if oldest is None:
        return None
    for agent in candidates(session, group):
        if take_capacity(session, agent.staff_id, now):
            return _give(session, oldest, agent, EventKind.ASSIGNED, SYSTEM, now)
    return None


def candidates(session: Session, group: str) -> list[RoutingAgent]:
    """Online agents of the group below their limit: least loaded (for their limit) first, then idle longest."""
    online = session.scalars(
        select(RoutingAgent).where(RoutingAgent.status == AgentStatus.ONLINE,
                                   RoutingAgent.active_chats < RoutingAgent.max_chats)
    ).all()
    members = [agent for agent in online if group in agent.groups]
    return sorted(members, key=lambda a: (a.active_chats / a.max_chats, a.idle_since, a.staff_id))


def take_capacity(session: Session, staff_id: int, now: datetime) -> bool:
    """One more conversation for the agent, if they are online and below their limit (one conditional update)."""
    taken = session.execute(
        update(RoutingAgent)
        .where(RoutingAgent.staff_id == staff_id, RoutingAgent.status == AgentStatus.ONLINE,
               RoutingAgent.active_chats < RoutingAgent.max_chats)
        .values(active_chats=RoutingAgent.active_chats + 1, idle_since=now)
        .execution_options(synchronize_session=False)
    )
    return _updated_one(taken)


def release_capacity(session: Session, staff_id: int) -> None:
    session.execute(update(RoutingAgent).where(RoutingAgent.staff_id == staff_id, RoutingAgent.active_chats > 0)
                    .values(active_chats=RoutingAgent.active_chats - 1).execution_options(synchronize_session=False))


def _give(
    session: Session, handoff: Handoff, agent: RoutingAgent, kind: EventKind, actor: Actor, now: datetime,
    detail: str = "",
) -> Assignment:
    """Make the agent (whose capacity is already taken) the owner; refused when someone else got there first."""
    previous = HandoffState(handoff.state)
    moved = session.execute(
        update(Handoff).where(Handoff.id == handoff.id, Handoff.state == previous,
                              _same_agent(handoff.agent_id))
        .values(state=HandoffState.ASSIGNED, agent_id=agent.staff_id, assigned_at=now, awaiting_since=now,
                reminded_at=None, first_assigned_at=func.coalesce(Handoff.first_assigned_at, now))
        .execution_options(synchronize_session=False)
    )
    if not _updated_one(moved):
        raise IllegalHandoffMove(f"conversation {handoff.id} changed meanwhile; look again")
    session.refresh(handoff)
    record_event(session, handoff, kind, actor=actor, now=now, from_state=previous, detail=detail)
    return Assignment(handoff.id, handoff.customer_id, agent.staff_id, agent.display_name, handoff.group)


def _same_agent(agent_id: int | None) -> Any:
    return Handoff.agent_id.is_(None) if agent_id is None else Handoff.agent_id == agent_id


# -- staff moves --------------------------------------------------------------------------------------


def visible_handoff(session: Session, handoff_id: int, actor: Actor, *, lock: bool = False) -> Handoff:
    """The handoff, if the actor may see it; one they may not see is as missing as one that is not there."""
    query = select(Handoff).where(Handoff.id == handoff_id)
    handoff = session.scalar(query.with_for_update() if lock else query)
    if handoff is None or not actor.may_see(handoff):
        raise HandoffNotFound(f"no conversation {handoff_id}")
    return handoff


def claim(session: Session, *, handoff_id: int, actor: Actor, now: datetime) -> Assignment:
    """An agent takes a queued conversation of their group themselves (within their limit)."""
    assert actor.staff_id is not None
    lock_group(session, _group_of(session, handoff_id))
    handoff = visible_handoff(session, handoff_id, actor)
    if handoff.state != HandoffState.QUEUED:
        raise IllegalHandoffMove(f"conversation {handoff_id} is {handoff.state}, not queued", state=handoff.state)
    agent = _agent(session, actor.staff_id)
    if not take_capacity(session, agent.staff_id, now):
        raise AgentUnavailable("go online, or resolve a conversation first: you hold as many as you may take",
                               active_chats=agent.active_chats, max_chats=agent.max_chats)
    return _give(session, handoff, agent, EventKind.CLAIMED, actor, now)


def transfer_to_agent(
    session: Session, *, handoff_id: int, to_staff_id: int, actor: Actor, now: datetime
) -> Assignment:
    """Give an open conversation to a named online agent of its group (supervisors: of any group)."""
    lock_group(session, _group_of(session, handoff_id))
    handoff = visible_handoff(session, handoff_id, actor)
    _require_open(handoff)
    agent = _agent(session, to_staff_id)
    if handoff.group not in agent.groups and not actor.all_groups:
        raise AgentUnavailable(f"{agent.display_name} is not in the group {handoff.group}", group=handoff.group)
    if handoff.agent_id == to_staff_id:
        raise IllegalHandoffMove("the conversation is already theirs")
    if not take_capacity(session, to_staff_id, now):
        raise AgentUnavailable(f"{agent.display_name} is not online or holds as many conversations as they may")
    if handoff.agent_id is not None:
        release_capacity(session, handoff.agent_id)
    return _give(session, handoff, agent, EventKind.TRANSFERRED, actor, now, detail=f"to {agent.display_name}")


def transfer_to_group(session: Session, *, handoff_id: int, group: str, actor: Actor, now: datetime) -> Handoff:
    """Send an open conversation to another group's queue, keeping its place (its first queueing time)."""
    handoff = visible_handoff(session, handoff_id, actor, lock=True)
    _require_open(handoff)
    if handoff.group == group and handoff.state == HandoffState.QUEUED:
        raise IllegalHandoffMove(f"the conversation is already waiting in {group}")
    previous_group = handoff.group
    requeue(session, handoff, actor=actor, now=now, kind=EventKind.TRANSFERRED, detail=f"from {previous_group}",
            group=group)
    return handoff


def requeue(
    session: Session, handoff: Handoff, *, actor: Actor, now: datetime, kind: EventKind = EventKind.QUEUED,
    detail: str = "", group: str | None = None,
) -> None:
    """Back to the queue at its original place; the agent it leaves gets the capacity back."""
    if handoff.agent_id is not None:
        release_capacity(session, handoff.agent_id)
    handoff.agent_id, handoff.assigned_at, handoff.reminded_at = None, None, None
    if group is not None:
        handoff.group = group
    move(session, handoff, HandoffState.QUEUED, kind=kind, actor=actor, now=now, detail=detail)


def resolve(session: Session, *, handoff: Handoff, resolution: Resolution, actor: Actor, now: datetime) -> None:
    """End the handoff: the customer has the bot back and the agent a free place."""
    _require_open(handoff)
    if handoff.agent_id is not None:
        release_capacity(session, handoff.agent_id)
    handoff.resolved_at, handoff.resolution, handoff.awaiting_since = now, resolution, None
    move(session, handoff, HandoffState.RESOLVED, kind=EventKind.RESOLVED, actor=actor, now=now,
         detail=resolution.value)


def require_owner(handoff: Handoff, actor: Actor) -> None:
    """Only the owning agent (or a supervisor) speaks for an assigned conversation."""
    _require_open(handoff)
    if actor.all_groups:
        return
    if handoff.agent_id != actor.staff_id:
        raise NotYourConversation("claim the conversation first" if handoff.agent_id is None
                                  else "the conversation is another agent's")


def note_agent_reply(session: Session, handoff: Handoff, now: datetime) -> None:
    handoff.last_agent_at, handoff.awaiting_since, handoff.reminded_at = now, None, None
    handoff.first_reply_at = handoff.first_reply_at or now


def add_note(session: Session, *, handoff_id: int, actor: Actor, text: str, now: datetime) -> HandoffNote:
    handoff = visible_handoff(session, handoff_id, actor)
    body = text.strip()
    if not body or len(body) > MAX_NOTE_CHARS:
        raise InvalidHandoffInput(f"a note is 1 to {MAX_NOTE_CHARS} characters", field="text")
    assert actor.staff_id is not None
    note = HandoffNote(handoff_id=handoff.id, staff_id=actor.staff_id, author=actor.name, text=body, at=now)
    session.add(note)
    session.flush()
    return note


def _require_open(handoff: Handoff) -> None:
    if handoff.state not in OPEN_STATES:
        raise IllegalHandoffMove(f"conversation {handoff.id} is resolved", state=handoff.state)


def _group_of(session: Session, handoff_id: int) -> str:
    group = session.scalar(select(Handoff.group).where(Handoff.id == handoff_id))
    if group is None:
        raise HandoffNotFound(f"no conversation {handoff_id}")
    return group


def _agent(session: Session, staff_id: int) -> RoutingAgent:
    agent = session.get(RoutingAgent, staff_id, populate_existing=True)
    if agent is None:
        raise AgentUnavailable("no such agent in the routing roster")
    return agent


def _updated_one(result: Any) -> bool:
    return int(cast(CursorResult[Any], result).rowcount) == 1
