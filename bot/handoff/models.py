"""Tables of the human side of a conversation: handoffs (a customer's time with a person), their event
rows and internal notes, the routing roster of agents, and one lock row per skill group.

A handoff is one stretch of a customer's conversation that a person owns, from the moment the bot hands
it over to its resolution. A customer has at most one open handoff (queued or assigned): a partial
unique index says so, so two processes handing off the same customer at once cannot both succeed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, UTCDateTime
from storage.sealing import SealedJSON, SealedText


class HandoffState(StrEnum):
    QUEUED = "queued"  # waiting in its group's queue for an agent (oldest first)
    ASSIGNED = "assigned"  # an agent owns it; the bot is silent
    RESOLVED = "resolved"  # over: the customer has the bot back


# The only moves a handoff may make. Assigned → assigned is a transfer to another agent; assigned →
# queued a re-queue (agent offline, unanswered too long, transferred to a group).
HANDOFF_TRANSITIONS: dict[HandoffState, frozenset[HandoffState]] = {
    HandoffState.QUEUED: frozenset({HandoffState.ASSIGNED, HandoffState.QUEUED, HandoffState.RESOLVED}),
    HandoffState.ASSIGNED: frozenset({HandoffState.ASSIGNED, HandoffState.QUEUED, HandoffState.RESOLVED}),
    HandoffState.RESOLVED: frozenset(),
}

OPEN_STATES = (HandoffState.QUEUED, HandoffState.ASSIGNED)
# The partial indexes' predicate, spelled the same everywhere so SQLite's planner uses them.
OPEN_PREDICATE = "state IN ('queued', 'assigned')"


class HandoffReason(StrEnum):
    ASKED = "asked"  # the customer asked for a person
    COMPLAINT = "complaint"  # the customer complained
    FALLBACK = "fallback"  # the bot failed to understand twice (or the customer took its offer)
    RULE = "rule"  # a tag rule says this customer goes to a person
    STAFF = "staff"  # a staff member opened it


class EventKind(StrEnum):
    """What happened to a handoff; every state transition is one of these, and a few are not."""

    QUEUED = "queued"  # entered a group's queue (new, or re-queued)
    ASSIGNED = "assigned"  # routing gave it to an agent
    CLAIMED = "claimed"  # an agent took it from the queue themselves
    TRANSFERRED = "transferred"  # moved to another agent or group
    RESOLVED = "resolved"
    ESCALATED = "escalated"  # queued too long: raised to supervisors (no state change)
    REMINDED = "reminded"  # the agent left the customer unanswered too long (no state change)


class Resolution(StrEnum):
    AGENT = "agent"  # resolved by staff
    CUSTOMER_ENDED = "customer_ended"  # the customer said 不用了 / 结束
    CUSTOMER_SILENT = "customer_silent"  # the customer stopped answering


class Handoff(Base):
    __tablename__ = "handoffs"
    __table_args__ = (
        Index("uq_handoffs_open_customer", "customer_id", unique=True,
              sqlite_where=text(OPEN_PREDICATE), postgresql_where=text(OPEN_PREDICATE)),
        Index("ix_handoffs_queue", "group", "state", "queued_at"),
        Index("ix_handoffs_agent", "agent_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    state: Mapped[HandoffState] = mapped_column(String(16))
    group: Mapped[str] = mapped_column(String(40))
    reason: Mapped[HandoffReason] = mapped_column(String(16))
    # The staff id of the owning agent (the routing roster's; no foreign key: staff is a driver above).
    agent_id: Mapped[int | None] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Its place in the queue: the first time it queued, kept when it is re-queued.
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution: Mapped[Resolution | None] = mapped_column(String(24))
    last_customer_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_agent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Since when the customer waits for an agent's answer (None: the agent spoke last).
    awaiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why, what the bot understood, the unanswered question, the last messages, tags, cart, orders.
    summary: Mapped[dict[str, Any]] = mapped_column(SealedJSON("handoffs.summary"))  # sealed: the last messages
    first_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # for response-time figures
    first_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # an agent's first answer
    csat_score: Mapped[int | None] = mapped_column(Integer)  # the customer's 1-5 rating after resolution
    csat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class HandoffEvent(Base):
    """One row per thing that happened to a handoff: its audit trail and the console's timeline."""

    __tablename__ = "handoff_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), index=True)
    kind: Mapped[EventKind] = mapped_column(String(16))
    from_state: Mapped[HandoffState | None] = mapped_column(String(16))
    to_state: Mapped[HandoffState] = mapped_column(String(16))
    group: Mapped[str] = mapped_column(String(40))
    agent_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(64))  # "routing", "bot", "customer", "timeouts" or a username
    detail: Mapped[str] = mapped_column(String(255), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class HandoffNote(Base):
    """An internal note staff leave on a handoff; never sent to the customer."""

    __tablename__ = "handoff_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), index=True)
    staff_id: Mapped[int] = mapped_column(Integer)
    author: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(SealedText("handoff_notes.text"))  # sealed: notes name customers' details
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class AgentStatus(StrEnum):
    ONLINE = "online"  # takes new conversations up to max_chats
    AWAY = "away"  # keeps what they hold, takes nothing new
    OFFLINE = "offline"  # holds nothing: their conversations went back to the queue


class RoutingAgent(Base):
    """The routing roster: who can take conversations of which groups, and how many they hold.

    Staff accounts keep it in step in the transaction that changes an account (`sync_agent`).
    `active_chats` changes only by conditional updates, so no agent ever holds more than `max_chats`.
    """

    __tablename__ = "routing_agents"

    staff_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    display_name: Mapped[str] = mapped_column(String(80))
    groups: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[AgentStatus] = mapped_column(String(16))
    max_chats: Mapped[int] = mapped_column(Integer)
    active_chats: Mapped[int] = mapped_column(Integer, default=0)
    # When they last got a conversation (or came online): the idle-longest tie-break.
    idle_since: Mapped[datetime] = mapped_column(UTCDateTime)


class RoutingGroupLock(Base):
    """One row per skill group, locked while its queue is assigned: a group's assignments happen one
    at a time across processes, so its queue is handed out strictly oldest first."""

    __tablename__ = "routing_group_locks"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
