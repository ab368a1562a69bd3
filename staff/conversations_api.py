"""Conversations with a person, under /staff/api/: the queue and my conversations, one conversation in full,
and the moves an agent makes (claim, reply, transfer, resolve, internal notes); the skill groups and the
agents roster for the console's transfer picker.

Handlers parse, call one `HandoffDesk` operation or `bot.handoff.views` query, and serialize. Agents see
the conversations of their groups and those assigned to them; supervisors see all; marketers none (403).
A conversation the caller may not see answers 404, the same as one that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.handoff.desk import HandoffDesk
from bot.handoff.models import AgentStatus, HandoffReason, HandoffState, Resolution
from bot.handoff.roster import agents_of
from bot.handoff.views import (
    HandoffItem,
    group_loads,
    handoff_customer,
    handoff_detail,
    handoff_item,
    list_handoffs,
    tab_counts,
)
from bot.models import Channel, Delivery
from staff.accounts import get_staff, list_staff
from staff.models import StaffMember
from staff.personal_data import masked_for
from staff.roles import CHAT_ROLES, Principal, Role, RoleCheck, actor_of
from storage.clock import utcnow
from web.errors import ApiError
from web.schemas import MAX_INT, StrictBody


class StaffBackend(Protocol):
    """What these routes use of the StaffApi (declared here: staff_api imports this module)."""

    @property
    def factory(self) -> sessionmaker[Session]: ...

    @property
    def handoff(self) -> HandoffDesk | None: ...



CONVERSATION_ID = Path(ge=1, le=MAX_INT, description="the conversation's (handoff's) id")


class HandoffUnavailable(ApiError):
    """This service runs without chatshop's own handoff queue."""

    code = "HANDOFF_UNAVAILABLE"
    status = 503


# ----- bodies -----------------------------------------------------------------------------------------


class ReplyIn(StrictBody):
    text: str | None = Field(None, min_length=1, max_length=2000, description="a text reply")
    product_id: str | None = Field(None, min_length=1, max_length=64, description="or a product card")
    client_key: str | None = Field(None, min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.:-]+$",
                                   description="idempotency key: a retry with the same key sends nothing again")


class TransferIn(StrictBody):
    group: str | None = Field(None, min_length=1, max_length=40, description="a skill group's queue")
    agent: str | None = Field(None, min_length=1, max_length=64, description="or an agent, by username")


class NoteIn(StrictBody):
    text: str = Field(min_length=1, max_length=2000, description="internal: never sent to the customer")


# ----- answers ----------------------------------------------------------------------------------------


class AgentRefOut(BaseModel):
    id: int
    username: str | None
    display_name: str | None


class ConversationOut(BaseModel):
    id: int
    state: HandoffState
    group: str
    reason: HandoffReason
    customer_id: int
    channel: Channel
    openid: str
    agent: AgentRefOut | None
    opened_at: datetime
    queued_at: datetime = Field(description="its place in the queue: the first time it queued")
    assigned_at: datetime | None
    resolved_at: datetime | None
    resolution: Resolution | None
    last_customer_at: datetime | None
    last_agent_at: datetime | None
    awaiting_since: datetime | None = Field(description="since when the customer waits for an answer")
    summary: dict[str, Any] = Field(description="why, what the bot understood, the question, the last messages, "
                                                "tags, cart and orders, as at the handoff")
    last_message_id: int | None = Field(None, description="the conversation's newest message (unread markers)")
    last_message_at: datetime | None = None
    csat_score: int | None = Field(None, description="the customer's 1-5 rating after resolution")


class ConversationPage(BaseModel):
    conversations: list[ConversationOut]
    total: int
    limit: int
    offset: int


class ChannelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    customer_id: int
    channel: Channel
    openid: str
    subscribed: bool


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    channel: Channel
    direction: str = Field(description="in: from the customer; out: to them")
    kind: str
    text: str = Field(description="one readable line for any kind")
    body: dict[str, Any]
    delivery: Delivery
    error_code: int | None
    sent_by: str | None = Field(description="the staff member who wrote it (None: the bot or the customer)")
    created_at: datetime


class NoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    author: str
    text: str
    at: datetime


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    from_state: str | None
    to_state: str
    group: str
    agent_id: int | None
    actor: str
    detail: str
    at: datetime


class TagBriefOut(BaseModel):
    name: str
    group: str


class CartLineOut(BaseModel):
    sku_id: str
    title: str
    specs: dict[str, str]
    price_fen: int
    quantity: int
    available: bool


class CartOut(BaseModel):
    lines: list[CartLineOut]
    total_fen: int


class OrderBriefOut(BaseModel):
    order_no: str
    status: str
    amount_fen: int
    created_at: datetime


class CustomerContextOut(BaseModel):
    """The customer as they are now: live tags, cart, latest orders (money in fen)."""

    tags: list[TagBriefOut]
    cart: CartOut
    orders: list[OrderBriefOut]


class ReplyRefusalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    wechat_errcode: int = Field(description="45015: the window is closed; 45047: its quota is spent")
    message: str


class ReplyWindowOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    window_ends_at: datetime | None
    quota_left: int | None = Field(description="messages left in the window; None: unlimited")
    can_reply: bool
    reply_refusal: ReplyRefusalOut | None = Field(description="what WeChat would answer a reply now")


class ConversationDetailOut(BaseModel):
    conversation: ConversationOut
    customer: ChannelOut
    other_channels: list[ChannelOut] = Field(description="the same person's rows on the other channel")
    messages: list[MessageOut] = Field(description="every channel of the person, oldest first")
    more_messages: bool = Field(description="older messages exist: ask with before_message_id")
    notes: list[NoteOut]
    events: list[EventOut] = Field(description="the timeline: queued, assigned, claimed, transferred, resolved ...")
    context: CustomerContextOut
    reply_window: ReplyWindowOut


class ReplyOut(BaseModel):
    message_id: int
    delivery: Delivery = Field(description="sent, or pending while WeChat is retried")


class GroupOut(BaseModel):
    name: str
    intents: list[str]
    tags: list[str]
    open_now: bool
    next_opening: datetime | None = Field(description="when it opens next (store time); None while open")
    queued: int
    online_agents: int
    oldest_queued_at: datetime | None = Field(None, description="the place of the longest-waiting conversation")


class TabCountsOut(BaseModel):
    queued: int = Field(description="waiting in the queue")
    mine: int = Field(description="open and assigned to me")
    all: int = Field(description="open (queued or assigned)")
    resolved: int


class AgentOut(BaseModel):
    username: str
    display_name: str
    role: Role
    groups: list[str]
    status: AgentStatus
    active_chats: int
    max_chats: int


# ----- routes -----------------------------------------------------------------------------------------


def add_conversation_routes(router: APIRouter, api: StaffBackend, auth: RoleCheck) -> None:
    chat_staff = auth.requiring(Role.AGENT, Role.SUPERVISOR)
    _add_reading_routes(router, api, chat_staff)
    _add_move_routes(router, api, chat_staff)
    _add_directory_routes(router, api, chat_staff)


def _add_reading_routes(router: APIRouter, api: StaffBackend, chat_staff: Any) -> None:
    @router.get("/conversations", response_model=ConversationPage,
                summary="Conversations I may see, oldest in the queue first, with the total")
    def conversations(
        state: HandoffState | None = None,
        group: str | None = Query(None, max_length=40),
        mine: bool = Query(False, description="1: only those assigned to me"),
        tag: str | None = Query(None, max_length=30, description="only customers with this live tag"),
        limit: int = Query(50, ge=1, le=200),
        offset: int = Query(0, ge=0, le=MAX_INT),
        principal: Principal = chat_staff,
    ) -> ConversationPage:
        with api.factory() as session:
            items, total = list_handoffs(session, actor=actor_of(principal), state=state, group=group, mine=mine,
                                         tag=tag, limit=limit, offset=offset)
            out = conversation_views(session, items)
        page = ConversationPage(conversations=out, total=total, limit=limit, offset=offset)
        return ConversationPage.model_validate(masked_for(principal, page.model_dump()))

    @router.get("/conversations/counts", response_model=TabCountsOut,
                summary="How many conversations each console tab holds (one query)")
    def counts(
        group: str | None = Query(None, max_length=40), tag: str | None = Query(None, max_length=30),
        principal: Principal = chat_staff,
    ) -> TabCountsOut:
        with api.factory() as session:
            return TabCountsOut(**tab_counts(session, actor=actor_of(principal), group=group, tag=tag))

    @router.get("/conversations/{handoff_id}", response_model=ConversationDetailOut,
                summary="One conversation: messages of every channel, notes, timeline, the customer, the window")
    def conversation(
        handoff_id: int = CONVERSATION_ID,
        before_message_id: int | None = Query(None, ge=1, le=MAX_INT,
                                              description="page back: messages before this one"),
        limit: int = Query(100, ge=1, le=500, description="how many messages"),
        principal: Principal = chat_staff,
    ) -> ConversationDetailOut:
        actor = actor_of(principal)
        with api.factory() as session:
            customer = handoff_customer(session, actor=actor, handoff_id=handoff_id)
        buyers = buyers_of(api, Channel(customer.channel), customer.openid)  # may ask WeChat: outside a session
        with api.factory() as session:
            detail = handoff_detail(session, actor=actor, handoff_id=handoff_id, buyer_openids=buyers, now=utcnow(),
                                    before_message_id=before_message_id, limit=limit)
            item = conversation_views(session, [detail.handoff])[0]
        return ConversationDetailOut.model_validate(masked_for(principal, ConversationDetailOut(
            conversation=item,
            customer=ChannelOut.model_validate(detail.customer),
            other_channels=[ChannelOut.model_validate(row) for row in detail.other_channels],
            messages=[MessageOut.model_validate(row) for row in detail.messages],
            more_messages=detail.more_messages,
            notes=[NoteOut.model_validate(row) for row in detail.notes],
            events=[EventOut.model_validate(row) for row in detail.events],
            context=CustomerContextOut.model_validate(detail.context),
            reply_window=ReplyWindowOut.model_validate(detail.reply_window),
        ).model_dump()))


def _add_move_routes(router: APIRouter, api: StaffBackend, chat_staff: Any) -> None:
    @router.post("/conversations/{handoff_id}/claim", response_model=ConversationOut,
                 summary="Take a queued conversation of my group (within my limit)")
    def claim(handoff_id: int = CONVERSATION_ID, principal: Principal = chat_staff) -> ConversationOut:
        _desk(api).claim(actor_of(principal), handoff_id)
        return _conversation_now(api, handoff_id)

    @router.post("/conversations/{handoff_id}/reply", response_model=ReplyOut, status_code=201,
                 summary="Send my text or a product card to the customer",
                 description="Refused with 409 REPLY_REFUSED (`wechat_errcode` 45015 and `window_closed_at`, or "
                             "45047) before any call to WeChat when WeChat would refuse it. A retry with the same "
                             "`client_key` answers the first send and sends nothing.")
    def reply(body: ReplyIn, handoff_id: int = CONVERSATION_ID, principal: Principal = chat_staff) -> ReplyOut:
        message_id, delivery = _desk(api).reply(actor_of(principal), handoff_id, text=body.text,
                                                product_id=body.product_id, client_key=body.client_key)
        return ReplyOut(message_id=message_id, delivery=delivery)

    @router.post("/conversations/{handoff_id}/transfer", response_model=ConversationOut,
                 summary="Hand the conversation to another group's queue or to a named agent")
    def transfer(body: TransferIn, handoff_id: int = CONVERSATION_ID,
                 principal: Principal = chat_staff) -> ConversationOut:
        agent_id = None
        if body.agent is not None:
            with api.factory() as session:
                member = get_staff(session, username=body.agent)
                assert member is not None  # get_staff refused an unknown one
                agent_id = member.id
        _desk(api).transfer(actor_of(principal), handoff_id, group=body.group, agent_id=agent_id)
        return _conversation_now(api, handoff_id)

    @router.post("/conversations/{handoff_id}/resolve", response_model=ConversationOut,
                 summary="End the conversation: the customer is told and has the bot back")
    def resolve(handoff_id: int = CONVERSATION_ID, principal: Principal = chat_staff) -> ConversationOut:
        _desk(api).resolve(actor_of(principal), handoff_id)
        return _conversation_now(api, handoff_id)

    @router.post("/conversations/{handoff_id}/notes", response_model=NoteOut, status_code=201,
                 summary="Leave an internal note (never sent to the customer)")
    def note(body: NoteIn, handoff_id: int = CONVERSATION_ID, principal: Principal = chat_staff) -> NoteOut:
        saved = _desk(api).add_note(actor_of(principal), handoff_id, body.text)
        return NoteOut.model_validate(saved)


def _add_directory_routes(router: APIRouter, api: StaffBackend, chat_staff: Any) -> None:
    @router.get("/groups", response_model=list[GroupOut],
                summary="Skill groups: what routes there, whether open, queue length, agents online")
    def groups(principal: Principal = chat_staff) -> list[GroupOut]:
        desk = _desk(api)
        now, zone = utcnow(), desk.routing.zone
        with api.factory() as session:
            loads = group_loads(session)
        out = []
        for group in desk.routing.groups:
            load = loads.get(group.name)
            out.append(GroupOut(name=group.name, intents=list(group.intents), tags=list(group.tags),
                                open_now=group.is_open(now, zone), next_opening=group.next_opening(now, zone),
                                queued=load.queued if load else 0, online_agents=load.online_agents if load else 0,
                                oldest_queued_at=load.oldest_queued_at if load else None))
        return out

    @router.get("/agents", response_model=list[AgentOut],
                summary="The agents roster: groups, availability, conversations held (for transfers)")
    def agents(group: str | None = Query(None, max_length=40), principal: Principal = chat_staff) -> list[AgentOut]:
        with api.factory() as session:
            members = {m.id: m for m in list_staff(session, include_disabled=False) if Role(m.role) in CHAT_ROLES}
            roster = agents_of(session)
        return [
            AgentOut(username=members[a.staff_id].username, display_name=a.display_name,
                     role=Role(members[a.staff_id].role), groups=list(a.groups), status=AgentStatus(a.status),
                     active_chats=a.active_chats, max_chats=a.max_chats)
            for a in roster if a.staff_id in members and (group is None or group in a.groups)
        ]


# ----- helpers ----------------------------------------------------------------------------------------


def conversation_views(session: Session, items: Sequence[HandoffItem]) -> list[ConversationOut]:
    """The items as answered, each agent named by username too (one query for the page)."""
    names = _usernames(session, {item.agent_id for item in items if item.agent_id is not None})
    return [_conversation_out(item, names) for item in items]


def _conversation_out(item: HandoffItem, usernames: dict[int, str]) -> ConversationOut:
    agent = None if item.agent_id is None else AgentRefOut(id=item.agent_id, username=usernames.get(item.agent_id),
                                                           display_name=item.agent_name)
    return ConversationOut(
        id=item.id, state=item.state, group=item.group, reason=HandoffReason(item.reason),
        customer_id=item.customer_id, channel=Channel(item.channel), openid=item.openid, agent=agent,
        opened_at=item.opened_at, queued_at=item.queued_at, assigned_at=item.assigned_at,
        resolved_at=item.resolved_at, resolution=Resolution(item.resolution) if item.resolution else None,
        last_customer_at=item.last_customer_at, last_agent_at=item.last_agent_at,
        awaiting_since=item.awaiting_since, summary=item.summary, last_message_id=item.last_message_id,
        last_message_at=item.last_message_at, csat_score=item.csat_score,
    )


def _usernames(session: Session, staff_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(staff_ids))
    if not ids:
        return {}
    rows = session.execute(select(StaffMember.id, StaffMember.username).where(StaffMember.id.in_(ids)))
    return {int(staff_id): str(username) for staff_id, username in rows.tuples()}


def _conversation_now(api: StaffBackend, handoff_id: int) -> ConversationOut:
    # Read after the move without a visibility check: a transfer may take it out of the caller's sight.
    with api.factory() as session:
        return conversation_views(session, [handoff_item(session, handoff_id)])[0]


def _desk(api: StaffBackend) -> HandoffDesk:
    desk = api.handoff
    if desk is None:
        raise HandoffUnavailable("conversations with a person are not set up on this service")
    return desk


def buyers_of(api: StaffBackend, channel: Channel, openid: str) -> list[str]:
    """The mini-program openids whose carts and orders are this customer's, as the desk finds them
    (asking WeChat who a follower is when it must); without a desk, a buyer is their own openid."""
    if api.handoff is None:
        return [openid] if channel is Channel.MP else []
    return api.handoff.buyer_openids(channel, openid)
