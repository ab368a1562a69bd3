"""The routing roster: staff accounts tell routing who works which groups, how many chats they take, and
whether they are there.

Staff accounts live in `staff/`, a driver above this package, so routing keeps its own roster, and the
staff operations keep it in step in the same transaction that changes an account (`sync_agent`). An
agent going offline (or disabled) hands their conversations back to the queue at their original places.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.handoff.models import AgentStatus, EventKind, Handoff, HandoffState, RoutingAgent
from bot.handoff.operations import Actor, lock_group, requeue
from bot.live import LiveEvent, LiveKind, publish


def sync_agent(
    session: Session, *, staff_id: int, display_name: str, groups: Sequence[str], status: AgentStatus,
    max_chats: int, now: datetime, actor: Actor,
) -> list[int]:
    """Bring the roster row in line with the account; the ids of handoffs it re-queued (going offline).

    The groups' locks come first, as in every assignment (group, then agent row), so that an agent going
    offline and a queue being assigned to them cannot wait on each other."""
    _lock_groups_of(session, staff_id, groups)
    agent = session.get(RoutingAgent, staff_id, with_for_update=True, populate_existing=True)
    if agent is None:
        agent = RoutingAgent(staff_id=staff_id, active_chats=0, idle_since=now)
        session.add(agent)
    came_online = status is AgentStatus.ONLINE and agent.status != AgentStatus.ONLINE
    agent.display_name, agent.groups, agent.max_chats = display_name, sorted(set(groups)), max_chats
    agent.status = status
    if came_online:
        agent.idle_since = now  # idle from the moment they are there, not since they last worked
    session.flush()
    requeued = requeue_agent(session, staff_id=staff_id, actor=actor, now=now) if status is AgentStatus.OFFLINE else []
    session.refresh(agent)
    publish(session, LiveEvent(LiveKind.AGENT, {
        "staff_id": staff_id, "username": actor.name if actor.staff_id == staff_id else None,
        "display_name": agent.display_name, "groups": agent.groups, "status": agent.status,
        "max_chats": agent.max_chats, "active_chats": agent.active_chats,
    }, now, agent_id=staff_id))
    return requeued


def _lock_groups_of(session: Session, staff_id: int, new_groups: Sequence[str]) -> None:
    old_groups = session.scalar(select(RoutingAgent.groups).where(RoutingAgent.staff_id == staff_id)) or []
    held = session.scalars(select(Handoff.group).where(Handoff.agent_id == staff_id,
                                                       Handoff.state == HandoffState.ASSIGNED)).all()
    for group in sorted({*old_groups, *new_groups, *held}):
        lock_group(session, group)


def requeue_agent(session: Session, *, staff_id: int, actor: Actor, now: datetime) -> list[int]:
    """Every conversation the agent holds back to its group's queue, at its original place."""
    held = session.scalars(
        select(Handoff).where(Handoff.agent_id == staff_id, Handoff.state == HandoffState.ASSIGNED)
        .order_by(Handoff.id)
    ).all()
    for group in sorted({handoff.group for handoff in held}):  # locks in one order: groups by name
        lock_group(session, group)  # already held when called from sync_agent; taking it again is free
    for handoff in held:
        requeue(session, handoff, actor=actor, now=now, kind=EventKind.QUEUED, detail="agent went offline")
    return [handoff.id for handoff in held]


def agents_of(session: Session) -> list[RoutingAgent]:
    return list(session.scalars(select(RoutingAgent).order_by(RoutingAgent.staff_id)))
