"""Customers and their tags, under /staff/api/: customers by tag expression (paged, with the total), one
customer across channels (tags, cart, orders, recent conversations), and tags set and taken off by staff.

Every tag change goes through `bot.customers.tags`, which writes the audit row (source `staff`, set by
`staff:<username>`). Agents, supervisors and marketers may use these routes (admins pass every check).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Path, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from bot.customers.errors import UnknownCustomer
from bot.customers.people import customer_conversations
from bot.customers.tag_expressions import MAX_EXPRESSION_CHARS, customers_by_tags
from bot.customers.tag_models import TagSource
from bot.customers.tags import customer_tags, tag_customer, untag_customer
from bot.handoff.summary import customer_context
from bot.handoff.views import customer_handoffs
from bot.models import Channel, Customer
from bot.outreach.consent import ledger_of
from bot.outreach.models import OptOut
from staff.conversations_api import (
    ChannelOut,
    ConversationOut,
    CustomerContextOut,
    RoleCheck,
    StaffBackend,
    buyers_of,
    conversation_views,
)
from staff.personal_data import masked_for
from staff.roles import Principal, Role, actor_of
from storage.clock import utcnow
from storage.db import transaction
from web.errors import ApiError
from web.schemas import MAX_INT, StrictBody

CUSTOMER_ID = Path(ge=1, le=MAX_INT, description="a customer row's id (one channel of a person)")
RECENT_CONVERSATIONS = 10


class InvalidTagInput(ApiError):
    code = "INVALID_INPUT"
    status = 422


class TagIn(StrictBody):
    name: str = Field(min_length=1, max_length=30, description="at most 30 bytes of UTF-8 (WeChat's limit)")
    group: str = Field("", max_length=16, description="意向, 已购, 售后, VIP ...")
    expires_at: AwareDatetime | None = Field(None, description="when it stops counting; omit: never")


class TagOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    group: str
    source: TagSource
    set_by: str
    set_at: datetime
    expires_at: datetime | None


class CustomerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    channel: Channel
    openid: str
    subscribed: bool
    created_at: datetime


class CustomerPage(BaseModel):
    customers: list[CustomerOut]
    total: int
    limit: int
    offset: int


class CreditOut(BaseModel):
    customer_id: int = Field(description="the customer row (channel) the consent was given on")
    template_id: str
    credits: int = Field(description="subscribe messages the store may still send with this template")
    last_result: str = Field(description="the latest consent answer or change: accept, reject, used, zeroed ...")
    updated_at: datetime


class CustomerDetailOut(CustomerOut):
    channels: list[ChannelOut] = Field(description="every customer row of the person, this one included")
    tags: list[TagOut]
    subscriptions: list[CreditOut] = Field(description="subscribe-message credits per template, every channel")
    opted_out: bool = Field(description="replied 退订: no cart reminders or campaigns")
    context: CustomerContextOut
    conversations: list[ConversationOut] = Field(description="their latest conversations with a person that I "
                                                             "may see, newest first")


def add_customer_routes(router: APIRouter, api: StaffBackend, auth: RoleCheck) -> None:
    customer_staff = auth.requiring(Role.AGENT, Role.SUPERVISOR, Role.MARKETER)

    @router.get("/customers", response_model=CustomerPage,
                summary="Customers by tag expression, with the total",
                description="`tags`: e.g. `意向客户-连衣裙 AND NOT 已购-连衣裙`, `VIP OR 售后`, with parentheses; a "
                            "name with spaces in double quotes. 422 INVALID_TAG_EXPRESSION gives `position`.")
    def customers(
        tags: str = Query(min_length=1, max_length=MAX_EXPRESSION_CHARS, description="a tag expression"),
        limit: int = Query(50, ge=1, le=500),
        offset: int = Query(0, ge=0, le=MAX_INT),
        principal: Principal = customer_staff,
    ) -> CustomerPage:
        with api.factory() as session:
            rows, total = customers_by_tags(session, tags, limit, offset)
            found = [CustomerOut.model_validate(row) for row in rows]
        return CustomerPage(customers=found, total=total, limit=limit, offset=offset)

    @router.get("/customers/{customer_id}", response_model=CustomerDetailOut,
                summary="One customer: their channels, tags, cart, orders and recent conversations")
    def customer(customer_id: int = CUSTOMER_ID, principal: Principal = customer_staff) -> CustomerDetailOut:
        with api.factory() as session:
            row = _customer(session, customer_id)
            channel, openid = Channel(row.channel), row.openid
        buyers = buyers_of(api, channel, openid)  # may ask WeChat: outside a session
        now = utcnow()
        with api.factory() as session:
            row = _customer(session, customer_id)
            people = customer_conversations(session, customer_id)
            handoffs = customer_handoffs(session, actor=actor_of(principal), customer_ids=[p.id for p in people],
                                         limit=RECENT_CONVERSATIONS)
            detail = CustomerDetailOut(
                **CustomerOut.model_validate(row).model_dump(),
                channels=[ChannelOut(customer_id=p.id, channel=Channel(p.channel), openid=p.openid,
                                     subscribed=bool(p.subscribed)) for p in people],
                tags=_tags(session, customer_id, now),
                subscriptions=[CreditOut(customer_id=p.id, template_id=t, credits=c, last_result=r, updated_at=u)
                               for p in people for t, c, r, u in ledger_of(session, p.id)],
                opted_out=any(session.get(OptOut, p.id) is not None for p in people),
                context=CustomerContextOut.model_validate(
                    customer_context(session, customer_id=customer_id, buyer_openids=buyers, now=now)),
                conversations=conversation_views(session, handoffs),
            )
        return CustomerDetailOut.model_validate(masked_for(principal, detail.model_dump()))

    @router.get("/customers/{customer_id}/tags", response_model=list[TagOut], summary="A customer's live tags")
    def tags_of(customer_id: int = CUSTOMER_ID, principal: Principal = customer_staff) -> list[TagOut]:
        with api.factory() as session:
            _customer(session, customer_id)
            return _tags(session, customer_id, utcnow())

    @router.post("/customers/{customer_id}/tags", response_model=list[TagOut], status_code=201,
                 summary="Tag a customer (every channel of the person); answers their tags")
    def add_tag(body: TagIn, customer_id: int = CUSTOMER_ID, principal: Principal = customer_staff) -> list[TagOut]:
        now = utcnow()
        if body.expires_at is not None and body.expires_at <= now:
            raise InvalidTagInput("expires_at must be in the future", field="expires_at")
        with transaction(api.factory) as session:
            tag_customer(session, customer_id, name=body.name, source=TagSource.STAFF, set_by=_set_by(principal),
                         now=now, group=body.group, expires_at=body.expires_at)
            return _tags(session, customer_id, now)

    @router.delete("/customers/{customer_id}/tags/{name}", status_code=204,
                   summary="Take a tag off a customer (every channel of the person)")
    def remove_tag(customer_id: int = CUSTOMER_ID, name: str = Path(min_length=1, max_length=30),
                   principal: Principal = customer_staff) -> Response:
        with transaction(api.factory) as session:
            untag_customer(session, customer_id, name=name, source=TagSource.STAFF, set_by=_set_by(principal),
                           now=utcnow())
        return Response(status_code=204)


def _customer(session: Session, customer_id: int) -> Customer:
    row = session.get(Customer, customer_id)
    if row is None:
        raise UnknownCustomer(f"no customer {customer_id}", customer_id=customer_id)
    return row


def _tags(session: Session, customer_id: int, now: datetime) -> list[TagOut]:
    return [TagOut.model_validate(tag) for tag in customer_tags(session, customer_id, now=now)]


def _set_by(principal: Principal) -> str:
    return f"staff:{principal.username}"
