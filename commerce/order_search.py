"""Orders as the back office looks for them: every customer's, filtered, newest first, paged with the
total; and which of the staff's moves (ship, refund, decline a refund request) an order allows now.

Order numbers begin with the UTC second the order was placed (orders.new_order_no) and are 20 digits,
so a prefix of one is a range of the primary key: `BETWEEN prefix000… AND prefix999…` finds it by the
index on every database, where a LIKE would not on PostgreSQL's default collation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from .errors import InvalidInput
from .models import Order, Payment
from .personal import phone_digits, phone_index
from .refunds import refundable_fen
from .states import REFUNDABLE, OrderStatus

ORDER_NO_LENGTH = 20
ORDER_NO_PREFIX = re.compile(rf"^\d{{1,{ORDER_NO_LENGTH}}}$")
MAX_LIMIT = 100
PHONE_SEARCHED = re.compile(r"^\+?[0-9][0-9\- ]*$")
MAX_OFFSET = 10_000  # deeper pages are a narrower filter's job, not a long scan's


@dataclass(frozen=True)
class OrderFilter:
    """What to look for; every field left None matches every order."""

    status: OrderStatus | None = None
    created_from: datetime | None = None  # placed at or after
    created_before: datetime | None = None  # placed before
    openids: Sequence[str] | None = None  # the buyer is one of these (empty: no one)
    min_fen: int | None = None  # the amount paid, at least
    max_fen: int | None = None  # and at most
    order_no: str | None = None  # the order number begins with these digits (all 20: that order)
    phone: str | None = None  # the buyer's phone number in the address, exactly (any spacing, +86 or not)


def search_orders(session: Session, *, where: OrderFilter, limit: int = 20, offset: int = 0) -> tuple[list[Order], int]:
    """A page of the orders that match, newest first, and how many match in all."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be 1-{MAX_LIMIT}", field="limit")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput(f"offset must be 0-{MAX_OFFSET}", field="offset")
    conditions = _conditions(where)
    total = session.scalar(select(func.count()).select_from(Order).where(*conditions)) or 0
    query = select(Order).where(*conditions).order_by(Order.created_at.desc(), Order.order_no.desc())
    return list(session.scalars(query.limit(limit).offset(offset))), int(total)


def order_payments(session: Session, *, order_no: str) -> list[Payment]:
    """The payments WeChat Pay reported for the order (a late one too), in the order they were recorded."""
    return list(session.scalars(select(Payment).where(Payment.order_no == order_no).order_by(Payment.id)))


def store_days(first: date | None, last: date | None, timezone: str) -> tuple[datetime | None, datetime | None]:
    """The UTC instants that calendar days of the store span: from the start of `first` to the start of
    the day after `last`, both in `timezone` (a day of a DST change is as long as it is there)."""
    if first is not None and last is not None and first > last:
        raise InvalidInput("the first day comes after the last", field="created_to")
    zone = ZoneInfo(timezone)

    def start_of(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)

    return (start_of(first) if first else None, start_of(last + timedelta(days=1)) if last else None)


def _conditions(where: OrderFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if where.status is not None:
        conditions.append(Order.status == where.status.value)
    if where.created_from is not None:
        conditions.append(Order.created_at >= where.created_from)
    if where.created_before is not None:
        conditions.append(Order.created_at < where.created_before)
    if where.openids is not None:
        conditions.append(Order.openid.in_(list(where.openids)))
    for bound, name in ((where.min_fen, "min_fen"), (where.max_fen, "max_fen")):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int) or bound < 0):
            raise InvalidInput(f"{name} must be a whole number of fen, not negative", field=name)
    if where.min_fen is not None and where.max_fen is not None and where.min_fen > where.max_fen:
        raise InvalidInput("min_fen is more than max_fen", field="max_fen")
    if where.min_fen is not None:
        conditions.append(Order.amount_fen >= where.min_fen)
    if where.max_fen is not None:
        conditions.append(Order.amount_fen <= where.max_fen)
    if where.order_no is not None:
        prefix = where.order_no.strip()
        if not ORDER_NO_PREFIX.match(prefix):
            raise InvalidInput(f"order_no: 1-{ORDER_NO_LENGTH} digits of an order number", field="order_no")
        conditions.append(Order.order_no.between(prefix.ljust(ORDER_NO_LENGTH, "0"),
                                                 prefix.ljust(ORDER_NO_LENGTH, "9")))
    if where.phone is not None:
        conditions.append(_phone_condition(where.phone))
    return conditions


def _phone_condition(phone: str) -> ColumnElement[bool]:
    """The whole number through its keyed hash (orders.phone_hash): addresses are sealed, never opened to
    search, so a part of a number finds nothing."""
    if not PHONE_SEARCHED.match(phone.strip()) or not 5 <= len(phone_digits(phone)) <= 20:
        raise InvalidInput("phone: a whole phone number (5-20 digits)", field="phone")
    return Order.phone_hash == phone_index(phone)


@dataclass(frozen=True)
class StaffMoves:
    """What staff may do with an order in its present state: each is the condition under which the
    operation (orders.ship_order, refunds.refund_order, orders.decline_refund) goes through."""

    ship: bool
    refund: bool
    decline_refund: bool


def staff_moves(order: Order) -> StaffMoves:
    return StaffMoves(
        ship=order.state is OrderStatus.PAID,
        refund=order.state in REFUNDABLE and refundable_fen(order) > 0,
        decline_refund=order.state is OrderStatus.REFUNDING and not order.refunds_in_flight,
    )
