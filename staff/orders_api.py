"""Orders for the back office, under /staff/api/: every customer's orders filtered and paged, one order in
full (items, payments, refunds, its timeline, the customer and their latest conversation), and the admins'
moves: ship, refund all or part, decline a refund request.

Agents and supervisors read (it helps a chat); only admins move an order. The buyer's name, phone and
address are masked for everyone (138****0000, 张*, the district without the door); supervisors and admins
reveal them in full, one order at a time, each reveal written to `pii_reveals` (staff.personal_data).
Each move is the commerce core's operation with the staff member as its actor (`staff:<username>` on the
order's timeline). A move the order's state does not allow is the core's refusal (409, its code kept),
retold in the console's words.
Money is fen; days are the store's (`BackOffice.timezone`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date, datetime
from typing import Protocol

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session, sessionmaker

from bot.customers.errors import UnknownCustomer
from bot.customers.people import buyer_customers
from bot.handoff.desk import HandoffDesk
from bot.handoff.views import customer_handoffs
from bot.models import Channel, Customer
from bot.outreach.notices import yuan
from commerce.errors import CommerceError, IllegalTransition, InvalidInput, NotFound, RefundRefused
from commerce.models import Order
from commerce.order_search import (
    MAX_LIMIT,
    MAX_OFFSET,
    ORDER_NO_LENGTH,
    OrderFilter,
    order_payments,
    search_orders,
    staff_moves,
    store_days,
)
from commerce.orders import decline_refund, get_order, order_history, ship_order
from commerce.personal import masked_address
from commerce.refunds import refund_and_submit, refundable_fen
from commerce.states import REFUNDABLE, OrderStatus
from staff.api import OrderEventOut, ReasonIn, RefundIn, ShipIn
from staff.backoffice import BackOffice, BackOfficeUnavailable
from staff.conversations_api import buyers_of
from staff.personal_data import REVEAL_ROLES, may_reveal, recent_reveals, record_reveal
from staff.roles import Principal, Role, RoleCheck, actor_of
from storage.clock import utcnow
from storage.db import transaction
from web.errors import ApiError
from web.json_api import COMMERCE_STATUS
from web.schemas import LineOut

log = logging.getLogger(__name__)

ACTOR_LENGTH = 40  # order_events.actor
MAX_FEN = 2**31 - 1  # orders.amount_fen is a 32-bit integer: a larger bound is a 422, not a database error
CREATED_FROM = Query(None, description="placed on this day of the store or later")
CREATED_TO = Query(None, description="placed on this day of the store or earlier")

# The order states as the console's badges name them (format.js ORDER_STATUS), for refusals.
STATUS_NAMES = {
    OrderStatus.PENDING_PAYMENT: "待付款",
    OrderStatus.PAID: "已付款",
    OrderStatus.SHIPPED: "已发货",
    OrderStatus.DELIVERED: "已签收",
    OrderStatus.COMPLETED: "已完成",
    OrderStatus.CANCELLED: "已取消",
    OrderStatus.REFUNDING: "退款中",
    OrderStatus.REFUNDED: "已退款",
}


class OrdersBackend(Protocol):
    """What these routes use of the StaffApi (declared here: staff_api imports this module)."""

    @property
    def factory(self) -> sessionmaker[Session]: ...

    @property
    def handoff(self) -> HandoffDesk | None: ...

    @property
    def backoffice(self) -> BackOffice | None: ...



class OrderRefused(ApiError):
    """A refusal of the commerce core told in the console's words: its code, status and details are kept."""

    def __init__(self, cause: CommerceError, message: str) -> None:
        super().__init__(message, field=getattr(cause, "field", None), **cause.details())
        self.code = cause.code
        self.status = COMMERCE_STATUS.get(cause.code, 400)


# ----- answers ----------------------------------------------------------------------------------------


class OrderRowOut(BaseModel):
    order_no: str
    status: OrderStatus
    amount_fen: int
    refunded_fen: int
    description: str = Field(description="what WeChat Pay showed the payer: the first item, and how many more")
    lines: int = Field(description="how many SKUs")
    quantity: int = Field(description="units in all")
    openid: str = Field(description="the buyer (the mini-program openid that paid)")
    created_at: datetime
    paid_at: datetime | None


class OrderPageOut(BaseModel):
    orders: list[OrderRowOut]
    total: int = Field(description="how many orders match in all")
    limit: int
    offset: int
    timezone: str = Field(description="the store's time zone: the days of created_from and created_to")


class PaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    transaction_id: str
    amount_fen: int
    payer_openid: str
    success_time: datetime | None
    source: str = Field(description="notify (WeChat Pay's notification) or query (the reconciliation job)")
    outcome: str = Field(description="applied, late_reserved (paid after expiry, stock reserved again) or "
                                     "late_refunded (paid after expiry, nothing left: refunded)")
    recorded_at: datetime


class RefundRowOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    out_refund_no: str
    amount_fen: int
    reason: str
    created_by: str | None = Field(description="who made it: staff:<username>, customer, scheduler (null: not kept)")
    status: str = Field(description="pending (not yet accepted by WeChat Pay), processing, succeeded or failed")
    refund_id: str | None = Field(description="WeChat Pay's")
    error: str | None
    created_at: datetime
    submitted_at: datetime | None
    settled_at: datetime | None


class BuyerOut(BaseModel):
    customer_id: int = Field(description="the bot's customer row (GET /staff/api/customers/{id})")
    channel: Channel
    openid: str
    conversation_id: int | None = Field(description="their latest conversation that I may see (the console "
                                                    "opens #c/<id>); None: none")


class MovesOut(BaseModel):
    """What I may do with the order now: its state allows it and I am an admin."""

    ship: bool
    refund: bool
    decline_refund: bool


NO_MOVES = MovesOut(ship=False, refund=False, decline_refund=False)


class OrderDetailOut(BaseModel):
    order_no: str
    status: OrderStatus
    resume_status: OrderStatus | None = Field(description="while refunding: where the order goes back to if "
                                                          "the refund is declined or partial")
    amount_fen: int
    refunded_fen: int
    refundable_fen: int = Field(description="what may still be refunded: paid less refunded less on its way")
    description: str
    openid: str
    transaction_id: str | None
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    carrier: str | None
    tracking_no: str | None
    refund_reason: str | None = Field(description="the customer's, when they asked for a refund")
    address: dict[str, str] = Field(description="masked: name 张*, phone 138****0000, detail ****; "
                                                "POST …/address/reveal for the whole of it")
    may_reveal: bool = Field(description="whether I may reveal the address in full (supervisors and admins)")
    items: list[LineOut]
    payments: list[PaymentOut]
    refunds: list[RefundRowOut]
    events: list[OrderEventOut] = Field(description="the timeline, oldest first; actor customer, wechatpay, "
                                                    "scheduler, staff, or staff:<username>")
    customer: BuyerOut | None = Field(description="the buyer as the bot knows them; None: they never wrote")
    moves: MovesOut
    timezone: str


class RevealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=200, description="why the whole address is needed (kept in "
                                                                  "the audit log)")


class RevealedOut(BaseModel):
    order_no: str
    address: dict[str, str] = Field(description="in full: name, phone, province … detail")
    revealed_at: datetime


class RevealOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    role: str
    order_no: str | None
    customer_id: int | None
    fields: list[str]
    reason: str
    at: datetime


class RefundDoneOut(BaseModel):
    out_refund_no: str
    amount_fen: int
    refund_status: str = Field(description="processing once WeChat Pay accepted it; pending when it was not "
                                           "reached (the refunds job submits it again)")
    order: OrderDetailOut


# ----- routes -----------------------------------------------------------------------------------------


def add_order_routes(router: APIRouter, api: OrdersBackend, auth: RoleCheck) -> None:
    """Adds this page's routes to the staff router."""
    readers = auth.requiring(Role.AGENT, Role.SUPERVISOR)
    revealers = auth.requiring(*REVEAL_ROLES)
    admin = auth.requiring(Role.ADMIN)

    @router.get("/orders", response_model=OrderPageOut, summary="Orders, filtered, newest first, with the total")
    def orders(
        status: OrderStatus | None = None,
        created_from: date | None = CREATED_FROM,
        created_to: date | None = CREATED_TO,
        openid: str | None = Query(None, min_length=1, max_length=64, description="the buyer's openid"),
        customer_id: int | None = Query(None, ge=1, le=2**31 - 1,
                                         description="or a customer row: the orders of that person"),
        min_fen: int | None = Query(None, ge=0, le=MAX_FEN, description="amount at least (fen)"),
        max_fen: int | None = Query(None, ge=0, le=MAX_FEN, description="amount at most (fen)"),
        order_no: str | None = Query(None, pattern=rf"^\d{{1,{ORDER_NO_LENGTH}}}$",
                                     description="the order number or its first digits"),
        phone: str | None = Query(None, min_length=5, max_length=24,
                                  description="the buyer's phone number in the address, whole (found by its hash)"),
        limit: int = Query(20, ge=1, le=MAX_LIMIT),
        offset: int = Query(0, ge=0, le=MAX_OFFSET),
        principal: Principal = readers,
    ) -> OrderPageOut:
        zone = _backoffice(api).timezone
        start, end = store_days(created_from, created_to, zone)
        where = OrderFilter(status=status, created_from=start, created_before=end,
                            openids=_buyers(api, openid, customer_id), min_fen=min_fen, max_fen=max_fen,
                            order_no=order_no, phone=phone)
        with api.factory() as session:
            found, total = search_orders(session, where=where, limit=limit, offset=offset)
            rows = [_row(order) for order in found]
        return OrderPageOut(orders=rows, total=total, limit=limit, offset=offset, timezone=zone)

    @router.get("/orders/{order_no}", response_model=OrderDetailOut,
                summary="One order: items, payments, refunds, timeline, address, the customer, what I may do")
    def order(order_no: str, principal: Principal = readers) -> OrderDetailOut:
        return _detail(api, order_no, principal)

    @router.post("/orders/{order_no}/address/reveal", response_model=RevealedOut,
                 summary="The buyer's name, phone and address in full (supervisors and admins; audited)",
                 description="Written to the audit log (who, when, which order, which fields, why) in the same "
                             "transaction that reads it. Agents get 403.")
    def reveal(order_no: str, body: RevealIn, principal: Principal = revealers) -> RevealedOut:
        now = utcnow()
        with _told(api, order_no, "read"), transaction(api.factory) as session:
            address = dict(get_order(session, order_no=order_no).address)
            record_reveal(session, principal=principal, order_no=order_no, fields=sorted(address),
                          reason=body.reason, now=now)
        log.info("staff %s revealed the address of order %s", principal.username, order_no)
        return RevealedOut(order_no=order_no, address=address, revealed_at=now)

    @router.get("/pii-reveals", response_model=list[RevealOut],
                summary="Who saw customers' personal data in full, newest first (admins)")
    def reveals(order_no: str | None = Query(None, pattern=rf"^\d{{{ORDER_NO_LENGTH}}}$"),
                limit: int = Query(50, ge=1, le=MAX_LIMIT), principal: Principal = admin) -> list[RevealOut]:
        with api.factory() as session:
            return [RevealOut.model_validate(row) for row in recent_reveals(session, limit=limit, order_no=order_no)]

    @router.post("/orders/{order_no}/ship", response_model=OrderDetailOut, summary="Ship a paid order (admins)")
    def ship(order_no: str, body: ShipIn, principal: Principal = admin) -> OrderDetailOut:
        with _told(api, order_no, "ship"), transaction(api.factory) as session:
            ship_order(session, order_no=order_no, carrier=body.carrier, tracking_no=body.tracking_no,
                       actor=_actor(principal), now=utcnow())
        return _detail(api, order_no, principal)

    @router.post("/orders/{order_no}/refund", response_model=RefundDoneOut,
                 summary="Refund all that is left, or part of it (admins)",
                 description="Recorded, then submitted to WeChat Pay. A refund of all that is left moves the order "
                             "to refunding until WeChat Pay settles it; a partial one leaves its state as it is.")
    def refund(order_no: str, body: RefundIn, principal: Principal = admin) -> RefundDoneOut:
        pay = _backoffice(api).pay
        with _told(api, order_no, "refund", asked_fen=body.amount_fen):
            made = refund_and_submit(api.factory, pay=pay, order_no=order_no, amount_fen=body.amount_fen,
                                     reason=body.reason, actor=_actor(principal), now=utcnow())
        return RefundDoneOut(out_refund_no=made.out_refund_no, amount_fen=made.amount_fen, refund_status=made.status,
                             order=_detail(api, order_no, principal))

    @router.post("/orders/{order_no}/decline-refund", response_model=OrderDetailOut,
                 summary="Turn down the customer's refund request (admins); the order goes back to where it was")
    def decline(order_no: str, body: ReasonIn, principal: Principal = admin) -> OrderDetailOut:
        with _told(api, order_no, "decline"), transaction(api.factory) as session:
            decline_refund(session, order_no=order_no, reason=body.reason, actor=_actor(principal), now=utcnow())
        return _detail(api, order_no, principal)


# ----- helpers ----------------------------------------------------------------------------------------


def _backoffice(api: OrdersBackend) -> BackOffice:
    if api.backoffice is None:
        raise BackOfficeUnavailable("the back office is not set up on this service")
    return api.backoffice


def _actor(principal: Principal) -> str:
    return f"staff:{principal.username}"[:ACTOR_LENGTH]


def _buyers(api: OrdersBackend, openid: str | None, customer_id: int | None) -> list[str] | None:
    """The openids whose orders to list: the one given, or those that bought as the customer's person."""
    if customer_id is None:
        return None if openid is None else [openid]
    if openid is not None:
        raise InvalidInput("give openid or customer_id, not both", field="customer_id")
    with api.factory() as session:
        row = session.get(Customer, customer_id)
        if row is None:
            raise UnknownCustomer(f"no customer {customer_id}", customer_id=customer_id)
        channel, known_as = Channel(row.channel), row.openid
    return buyers_of(api, channel, known_as)  # may ask WeChat who a follower is: outside a session


def _row(order: Order) -> OrderRowOut:
    return OrderRowOut(order_no=order.order_no, status=order.state, amount_fen=order.amount_fen,
                       refunded_fen=order.refunded_fen, description=order.description,
                       lines=len(order.items), quantity=sum(item.quantity for item in order.items), openid=order.openid,
                       created_at=order.created_at, paid_at=order.paid_at)


def _detail(api: OrdersBackend, order_no: str, principal: Principal) -> OrderDetailOut:
    zone = _backoffice(api).timezone
    with _told(api, order_no, "read"), api.factory() as session:
        order = get_order(session, order_no=order_no)
        return OrderDetailOut(
            order_no=order.order_no, status=order.state,
            resume_status=OrderStatus(order.resume_status) if order.resume_status else None,
            amount_fen=order.amount_fen, refunded_fen=order.refunded_fen, refundable_fen=refundable_fen(order),
            description=order.description, openid=order.openid, transaction_id=order.transaction_id,
            created_at=order.created_at, expires_at=order.expires_at, paid_at=order.paid_at,
            shipped_at=order.shipped_at, delivered_at=order.delivered_at, completed_at=order.completed_at,
            cancelled_at=order.cancelled_at, cancel_reason=order.cancel_reason, carrier=order.carrier,
            tracking_no=order.tracking_no, refund_reason=order.refund_reason,
            address=masked_address(order.address), may_reveal=may_reveal(principal),
            items=[LineOut.model_validate(item, from_attributes=True) for item in order.items],
            payments=[PaymentOut.model_validate(p) for p in order_payments(session, order_no=order_no)],
            refunds=[RefundRowOut.model_validate(r) for r in order.refunds],
            events=[OrderEventOut.model_validate(e, from_attributes=True)
                    for e in order_history(session, order_no=order_no)],
            customer=_buyer(session, order.openid, principal),
            moves=MovesOut(**asdict(staff_moves(order))) if principal.role is Role.ADMIN else NO_MOVES,
            timezone=zone,
        )


def _buyer(session: Session, openid: str, principal: Principal) -> BuyerOut | None:
    rows = buyer_customers(session, openid)
    if not rows:
        return None
    latest = customer_handoffs(session, actor=actor_of(principal), customer_ids=[row.id for row in rows], limit=1)
    return BuyerOut(customer_id=rows[0].id, channel=Channel(rows[0].channel), openid=rows[0].openid,
                    conversation_id=latest[0].id if latest else None)


@contextmanager
def _told(api: OrdersBackend, order_no: str, move: str, *, asked_fen: int | None = None) -> Iterator[None]:
    """Refusals of `move` retold for the console: what the order's state is, and what it allows."""
    try:
        yield
    except NotFound as exc:
        raise OrderRefused(exc, f"没有订单 {order_no}") from exc
    except (IllegalTransition, RefundRefused) as exc:
        with api.factory() as session:
            order = get_order(session, order_no=order_no)
            raise OrderRefused(exc, _refusal(order, move, asked_fen)) from exc


def _refusal(order: Order, move: str, asked_fen: int | None) -> str:
    state = order.state
    name = STATUS_NAMES[state]
    if move == "ship":
        return f"订单当前为「{name}」，只有「已付款」的订单可以发货"
    if move == "decline":
        if state is OrderStatus.REFUNDING:
            return "有退款正在提交或处理中，等它有结果后再处理退款申请"
        return f"订单当前为「{name}」，没有待处理的退款申请"
    if state not in REFUNDABLE:
        return f"订单当前为「{name}」，没有可退的款项"
    left = refundable_fen(order)
    if left == 0 or asked_fen is None:
        return "这笔订单已没有可退的金额（退款中的款项不能重复退）"
    return f"退款金额 {yuan(asked_fen)} 超过可退金额 {yuan(left)}"

