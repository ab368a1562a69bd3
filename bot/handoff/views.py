"""Read-only views of handoffs for the staff API: the queue and the conversations an actor may see (paged
and counted in one query), one conversation in full, a customer's recent handoffs, and each group's load.

Visibility is `Actor.may_see` spelled in SQL: an agent sees the handoffs of their groups and those
assigned to them; supervisors and admins see all. A handoff the actor may not see is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select, true
from sqlalchemy.orm import Session

from bot.customers.people import customer_conversations
from bot.customers.tag_models import CustomerTag
from bot.customers.tags import is_live
from bot.handoff.models import (
    AgentStatus,
    Handoff,
    HandoffEvent,
    HandoffNote,
    HandoffState,
    RoutingAgent,
)
from bot.handoff.operations import Actor, visible_handoff
from bot.handoff.summary import customer_context, message_text
from bot.models import ConversationMessage, Customer, ReplyWindow
from bot.windows import reply_window
from storage.clock import utcnow

MAX_PAGE = 200
MAX_MESSAGES = 500

# WeChat's answers to a customer-service send outside the window, and past its quota.
WINDOW_CLOSED_ERRCODE = 45015
QUOTA_SPENT_ERRCODE = 45047


@dataclass(frozen=True)
class HandoffItem:
    """One handoff as the console lists it."""

    id: int
    state: HandoffState
    group: str
    reason: str
    customer_id: int
    channel: str
    openid: str
    agent_id: int | None
    agent_name: str | None
    opened_at: datetime
    queued_at: datetime
    assigned_at: datetime | None
    resolved_at: datetime | None
    resolution: str | None
    last_customer_at: datetime | None
    last_agent_at: datetime | None
    awaiting_since: datetime | None
    summary: dict[str, Any]
    last_message_id: int | None = None  # the newest message of the conversation, for unread markers
    last_message_at: datetime | None = None
    csat_score: int | None = None


@dataclass(frozen=True)
class ChannelRow:
    """One customer row of a person: who they are on one channel."""

    customer_id: int
    channel: str
    openid: str
    subscribed: bool


@dataclass(frozen=True)
class MessageView:
    id: int
    customer_id: int
    channel: str
    direction: str
    kind: str
    text: str
    body: dict[str, Any]
    delivery: str
    error_code: int | None
    sent_by: str | None
    created_at: datetime


@dataclass(frozen=True)
class NoteView:
    id: int
    author: str
    text: str
    at: datetime


@dataclass(frozen=True)
class EventView:
    id: int
    kind: str
    from_state: str | None
    to_state: str
    group: str
    agent_id: int | None
    actor: str
    detail: str
    at: datetime


@dataclass(frozen=True)
class ReplyRefusalView:
    wechat_errcode: int
    message: str


@dataclass(frozen=True)
class ReplyWindowView:
    """Whether an agent's reply would go out now, and for how long and how many more."""

    window_ends_at: datetime | None
    quota_left: int | None  # None: unlimited
    can_reply: bool
    reply_refusal: ReplyRefusalView | None


@dataclass(frozen=True)
class HandoffDetail:
    handoff: HandoffItem
    customer: ChannelRow
    other_channels: list[ChannelRow]
    messages: list[MessageView]  # every channel of the person, oldest first
    more_messages: bool  # older messages exist: ask again with before_message_id
    notes: list[NoteView]
    events: list[EventView]
    context: dict[str, Any]  # live tags, cart, latest orders (bot.handoff.summary.customer_context)
    reply_window: ReplyWindowView


@dataclass(frozen=True)
class GroupLoad:
    queued: int
    online_agents: int
    oldest_queued_at: datetime | None = None  # the longest-waiting conversation's place in the queue


# -- lists --------------------------------------------------------------------------------------------


def visible_to(actor: Actor) -> ColumnElement[bool]:
    """`Actor.may_see` as a condition on handoffs."""
    if actor.all_groups:
        return true()
    own = Handoff.agent_id == actor.staff_id if actor.staff_id is not None else false()
    return or_(Handoff.group.in_(actor.groups), own) if actor.groups else own


def list_handoffs(
    session: Session, *, actor: Actor, state: HandoffState | None = None, group: str | None = None,
    mine: bool = False, tag: str | None = None, limit: int = 50, offset: int = 0,
) -> tuple[list[HandoffItem], int]:
    """A page of the handoffs the actor may see, oldest in the queue first, and how many match in all
    (one query: a window count; only a page past the end asks for the count alone)."""
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise ValueError(f"limit must be 1-{MAX_PAGE} and offset not negative")
    conditions = _filters(actor, group=group, tag=tag, now=utcnow())
    if state is not None:
        conditions.append(Handoff.state == state)
    if mine:
        conditions.append(_mine(actor))
    query = _items_query().add_columns(func.count().over().label("total")).where(*conditions)
    rows = session.execute(query.order_by(Handoff.queued_at, Handoff.id).limit(limit).offset(offset)).all()
    if rows:
        return [_item(row) for row in rows], int(rows[0].total)
    if not offset:
        return [], 0
    total = session.scalar(select(func.count()).select_from(Handoff).where(*conditions))
    return [], int(total or 0)


def tab_counts(session: Session, *, actor: Actor, group: str | None = None, tag: str | None = None) -> dict[str, int]:
    """How many conversations each console tab holds (queued, mine open, all open, resolved), in one query."""
    conditions = _filters(actor, group=group, tag=tag, now=utcnow())
    open_ = Handoff.state.in_((HandoffState.QUEUED, HandoffState.ASSIGNED))
    row = session.execute(select(
        func.count().filter(Handoff.state == HandoffState.QUEUED),
        func.count().filter(open_, _mine(actor)),
        func.count().filter(open_),
        func.count().filter(Handoff.state == HandoffState.RESOLVED),
    ).select_from(Handoff).where(*conditions)).one()
    return {"queued": int(row[0]), "mine": int(row[1]), "all": int(row[2]), "resolved": int(row[3])}


def _filters(actor: Actor, *, group: str | None, tag: str | None, now: datetime) -> list[ColumnElement[bool]]:
    conditions = [visible_to(actor)]
    if group:
        conditions.append(Handoff.group == group)
    if tag:
        conditions.append(exists().where(CustomerTag.customer_id == Handoff.customer_id, CustomerTag.name == tag,
                                         is_live(now)))
    return conditions


def _mine(actor: Actor) -> ColumnElement[bool]:
    return Handoff.agent_id == actor.staff_id if actor.staff_id is not None else false()


def handoff_item(session: Session, handoff_id: int) -> HandoffItem:
    """One handoff as listed, without a visibility check: for answering a move the actor just made
    (a transfer may take it out of their sight)."""
    row = session.execute(_items_query().where(Handoff.id == handoff_id)).one()
    return _item(row)


def customer_handoffs(
    session: Session, *, actor: Actor, customer_ids: Sequence[int], limit: int = 10
) -> list[HandoffItem]:
    """The latest handoffs of these customer rows that the actor may see, newest first."""
    query = _items_query().where(Handoff.customer_id.in_(customer_ids), visible_to(actor))
    rows = session.execute(query.order_by(Handoff.opened_at.desc(), Handoff.id.desc()).limit(limit)).all()
    return [_item(row) for row in rows]


def group_loads(session: Session) -> dict[str, GroupLoad]:
    """Per skill group: how many wait in its queue, and how many of its agents are online."""
    waiting = session.execute(
        select(Handoff.group, func.count(), func.min(Handoff.queued_at))
        .where(Handoff.state == HandoffState.QUEUED).group_by(Handoff.group)
    ).all()
    queued = {name: count for name, count, _ in waiting}
    oldest = {name: first for name, _, first in waiting}
    online: dict[str, int] = {}
    # The roster is one row per agent, and groups are a JSON list: counted here, not in SQL.
    for groups in session.scalars(select(RoutingAgent.groups).where(RoutingAgent.status == AgentStatus.ONLINE)):
        for name in groups:
            online[name] = online.get(name, 0) + 1
    return {name: GroupLoad(int(queued.get(name, 0)), online.get(name, 0), oldest.get(name))
            for name in {*queued, *online}}


def _items_query() -> Select[Any]:
    return (
        select(Handoff, Customer.channel, Customer.openid, RoutingAgent.display_name.label("agent_name"),
               _newest(ConversationMessage.id).label("last_message_id"),
               _newest(ConversationMessage.created_at).label("last_message_at"))
        .join(Customer, Customer.id == Handoff.customer_id)
        .outerjoin(RoutingAgent, RoutingAgent.staff_id == Handoff.agent_id)
    )


def _newest(column: Any) -> Any:
    """A column of the customer row's newest message: one probe of the (customer_id, created_at) index
    per listed item (SQLite has no LATERAL join to fetch both at once)."""
    return (select(column).where(ConversationMessage.customer_id == Handoff.customer_id)
            .order_by(ConversationMessage.created_at.desc(), ConversationMessage.id.desc()).limit(1)
            .correlate(Handoff).scalar_subquery())


def _item(row: Any) -> HandoffItem:
    handoff: Handoff = row[0]
    return HandoffItem(
        id=handoff.id, state=HandoffState(handoff.state), group=handoff.group, reason=handoff.reason,
        customer_id=handoff.customer_id, channel=row.channel, openid=row.openid, agent_id=handoff.agent_id,
        agent_name=row.agent_name if handoff.agent_id is not None else None, opened_at=handoff.opened_at,
        queued_at=handoff.queued_at, assigned_at=handoff.assigned_at, resolved_at=handoff.resolved_at,
        resolution=handoff.resolution, last_customer_at=handoff.last_customer_at,
        last_agent_at=handoff.last_agent_at, awaiting_since=handoff.awaiting_since, summary=dict(handoff.summary),
        last_message_id=row.last_message_id, last_message_at=row.last_message_at, csat_score=handoff.csat_score,
    )


# -- one conversation ---------------------------------------------------------------------------------


def handoff_customer(session: Session, *, actor: Actor, handoff_id: int) -> ChannelRow:
    """The customer row a visible handoff is with (HandoffNotFound otherwise)."""
    customer = session.get_one(Customer, visible_handoff(session, handoff_id, actor).customer_id)
    return _channel_row(customer)


def handoff_detail(
    session: Session, *, actor: Actor, handoff_id: int, buyer_openids: Sequence[str], now: datetime,
    before_message_id: int | None = None, limit: int = 100,
) -> HandoffDetail:
    """Everything an agent reads about one conversation; HandoffNotFound when the actor may not see it."""
    if not 1 <= limit <= MAX_MESSAGES:
        raise ValueError(f"limit must be 1-{MAX_MESSAGES}")
    handoff = visible_handoff(session, handoff_id, actor)
    people = customer_conversations(session, handoff.customer_id)
    messages, more = _messages(session, people, before_message_id, limit)
    customer = next(row for row in people if row.id == handoff.customer_id)
    return HandoffDetail(
        handoff=handoff_item(session, handoff.id),
        customer=_channel_row(customer),
        other_channels=[_channel_row(row) for row in people if row.id != customer.id],
        messages=messages,
        more_messages=more,
        notes=_notes(session, handoff.id),
        events=_events(session, handoff.id),
        context=customer_context(session, customer_id=customer.id, buyer_openids=buyer_openids, now=now),
        reply_window=reply_window_view(reply_window(session, customer.id), now),
    )


def reply_window_view(window: ReplyWindow | None, now: datetime) -> ReplyWindowView:
    """What WeChat would answer a customer-service send now, from the window as stored."""
    if window is None or window.expires_at <= now:
        refusal = ReplyRefusalView(WINDOW_CLOSED_ERRCODE, "WeChat's reply window is closed: the customer must "
                                                          "write first")
        return ReplyWindowView(window.expires_at if window else None, 0, False, refusal)
    if window.quota is None:
        return ReplyWindowView(window.expires_at, None, True, None)
    left = max(window.quota - window.used, 0)
    if left == 0:
        refusal = ReplyRefusalView(QUOTA_SPENT_ERRCODE, f"all {window.quota} messages of this window are used: "
                                                        "the customer must write first")
        return ReplyWindowView(window.expires_at, 0, False, refusal)
    return ReplyWindowView(window.expires_at, left, True, None)


def _messages(
    session: Session, people: Sequence[Customer], before_message_id: int | None, limit: int
) -> tuple[list[MessageView], bool]:
    channels = {row.id: str(row.channel) for row in people}
    query = select(ConversationMessage).where(ConversationMessage.customer_id.in_(channels))
    if before_message_id is not None:
        cursor = session.get(ConversationMessage, before_message_id)
        if cursor is not None and cursor.customer_id in channels:
            query = query.where(or_(
                ConversationMessage.created_at < cursor.created_at,
                and_(ConversationMessage.created_at == cursor.created_at, ConversationMessage.id < cursor.id),
            ))
    newest = session.scalars(
        query.order_by(ConversationMessage.created_at.desc(), ConversationMessage.id.desc()).limit(limit + 1)
    ).all()
    page = list(reversed(newest[:limit]))
    return [_message(row, channels[row.customer_id]) for row in page], len(newest) > limit


def _message(row: ConversationMessage, channel: str) -> MessageView:
    return MessageView(id=row.id, customer_id=row.customer_id, channel=channel, direction=str(row.direction),
                       kind=row.kind, text=message_text(row.kind, row.body), body=dict(row.body),
                       delivery=str(row.delivery), error_code=row.error_code, sent_by=row.sent_by,
                       created_at=row.created_at)


def _notes(session: Session, handoff_id: int) -> list[NoteView]:
    rows = session.scalars(select(HandoffNote).where(HandoffNote.handoff_id == handoff_id).order_by(HandoffNote.id))
    return [NoteView(row.id, row.author, row.text, row.at) for row in rows]


def _events(session: Session, handoff_id: int) -> list[EventView]:
    rows = session.scalars(select(HandoffEvent).where(HandoffEvent.handoff_id == handoff_id)
                           .order_by(HandoffEvent.id))
    return [EventView(row.id, str(row.kind), str(row.from_state) if row.from_state else None, str(row.to_state),
                      row.group, row.agent_id, row.actor, row.detail, row.at) for row in rows]


def _channel_row(customer: Customer) -> ChannelRow:
    return ChannelRow(customer.id, str(customer.channel), customer.openid, bool(customer.subscribed))
