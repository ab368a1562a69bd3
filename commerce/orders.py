"""Orders: placement with atomic stock reservation, the state machine, shipping and delivery.

Every state change goes through `transition`, which checks the allowed-transition table, writes an
order_events row, and records the domain event in the outbox in the same transaction.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ScalarSelect, and_, case, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from storage.clock import utcnow
from storage.db import transaction
from storage.sql import EpochSeconds, affected_rows

from .cart import CartLine, clear_cart, get_cart
from .config import OrdersConfig
from .errors import EmptyCart, IllegalTransition, InvalidInput, NotFound, OutOfStock
from .models import CartItem, Order, OrderEvent, OrderItem, Product, Sku
from .outbox import record_event
from .states import REFUNDABLE, RESUMING_EVENTS, EventKind, OrderStatus, check_transition

log = logging.getLogger(__name__)

DEFAULT_ORDER_TTL_S = 1800
ORDER_NO = re.compile(r"^\d{20}$")
TRACKING_NO = re.compile(r"^[A-Za-z0-9\-]{4,40}$")
# Address fields: name -> (required, longest).
ADDRESS_FIELDS = {
    "name": (True, 20),
    "phone": (True, 20),
    "province": (False, 20),
    "city": (False, 20),
    "district": (False, 20),
    "detail": (True, 120),
    "postal_code": (False, 10),
}
PHONE = re.compile(r"^\+?[0-9][0-9\- ]{4,19}$")
MAX_DESCRIPTION_BYTES = 127
# Chosen lines per order: as many as a cart can hold.
MAX_ORDER_LINES = OrdersConfig().max_cart_lines
MAX_QUANTITY = OrdersConfig().max_quantity


# ----- order numbers -------------------------------------------------------------------------


def new_order_no(now: datetime) -> str:
    """out_trade_no: UTC yyyymmddHHMMSS + 6 random digits (20 digits, within WeChat Pay's 6-32)."""
    return now.astimezone(UTC).strftime("%Y%m%d%H%M%S") + f"{secrets.randbelow(10**6):06d}"


ORDER_NO_ATTEMPTS = 5


def insert_order(
    session: Session, make: Callable[[str], Order], now: datetime, *, draw: Callable[[datetime], str] = new_order_no
) -> Order:
    """Insert the order under a freshly drawn number.

    Six random digits per second clash in a busy second (a flash sale places hundreds), and a
    concurrent transaction's number is invisible until it commits: so the insert itself is the
    check, in a savepoint, and a clash draws again.
    """
    for _ in range(ORDER_NO_ATTEMPTS):
        order = make(draw(now))
        try:
            with session.begin_nested():
                session.add(order)
                session.flush()
            return order
        except IntegrityError:
            log.info("order number %s is taken; drawing another", order.order_no)
    raise RuntimeError(f"no free order number in {ORDER_NO_ATTEMPTS} draws")


# ----- validation ----------------------------------------------------------------------------


def validate_address(address: Any) -> dict[str, str]:
    if not isinstance(address, dict):
        raise InvalidInput("address must be an object", field="address")
    unknown = sorted(set(address) - set(ADDRESS_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown address field {unknown[0]}", field=f"address.{unknown[0]}")
    clean: dict[str, str] = {}
    for name, (required, longest) in ADDRESS_FIELDS.items():
        value = address.get(name)
        if value is None or value == "":
            if required:
                raise InvalidInput(f"address.{name} is required", field=f"address.{name}")
            continue
        if not isinstance(value, str) or not value.strip() or len(value.strip()) > longest:
            raise InvalidInput(f"address.{name} must be text of at most {longest} characters", field=f"address.{name}")
        clean[name] = value.strip()
    if not PHONE.match(clean["phone"]):
        raise InvalidInput("address.phone is not a phone number", field="address.phone")
    return clean


def _check_order_no(order_no: str) -> None:
    if not isinstance(order_no, str) or not ORDER_NO.match(order_no):
        raise NotFound(f"no order {order_no!r}")


# ----- stock ---------------------------------------------------------------------------------


def reserve_stock(session: Session, quantities: Iterable[tuple[str, int]]) -> None:
    """Take units of each SKU with a conditional UPDATE, SKUs in sorted order (a fixed lock order).

    Never read-then-write: `stock >= qty` is in the WHERE, so two checkouts cannot both take the
    last unit. Raises OutOfStock(sku_id) on the first SKU short of units; the caller's transaction
    (or savepoint) must then be rolled back, which returns what earlier SKUs took.
    """
    for sku_id, quantity in sorted(_merge(quantities).items()):
        result = session.execute(
            update(Sku)
            .where(Sku.sku_id == sku_id, Sku.active.is_(True), Sku.stock >= quantity)
            .values(stock=Sku.stock - quantity)
            .execution_options(synchronize_session=False)
        )
        if affected_rows(result) != 1:
            log.info("out of stock: %s (wanted %d)", sku_id, quantity)
            raise OutOfStock(sku_id)


def release_stock(session: Session, quantities: Iterable[tuple[str, int]]) -> None:
    for sku_id, quantity in sorted(_merge(quantities).items()):
        session.execute(
            update(Sku).where(Sku.sku_id == sku_id).values(stock=Sku.stock + quantity)
            .execution_options(synchronize_session=False)
        )


def _merge(quantities: Iterable[tuple[str, int]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for sku_id, quantity in quantities:
        merged[sku_id] = merged.get(sku_id, 0) + quantity
    return merged


def order_quantities(order: Order) -> list[tuple[str, int]]:
    return [(item.sku_id, item.quantity) for item in order.items]


# ----- placing -------------------------------------------------------------------------------


def place_order(
    session: Session, *, openid: str, address: dict[str, Any], now: datetime, ttl_s: int = DEFAULT_ORDER_TTL_S,
    lines: Sequence[tuple[str, int]] | None = None, keep_cart: bool = False, max_quantity: int = MAX_QUANTITY,
) -> Order:
    """Turn the customer's cart, or the chosen `lines` (sku_id, quantity), into an order, reserving stock
    atomically.

    Without `lines` the whole cart is ordered and emptied. With them the order holds exactly those SKUs
    and quantities, in the cart or not, and each one's cart line is removed whole (the shopper ticked
    that line; a partial remainder would be a quantity they never chose); other lines stay. `keep_cart`
    (立即购买) leaves the cart as it was, even a line of a SKU just bought.

    Raises EmptyCart, NotFound (an unknown SKU or one taken off sale), OutOfStock(sku_id) or
    InvalidInput; on any of them the caller rolls back and nothing has changed.
    """
    clean_address = validate_address(address)
    if lines is None:
        if keep_cart:
            raise InvalidInput("keep_cart needs the lines to order", field="keep_cart")
        chosen = get_cart(session, openid=openid).lines
        if not chosen:
            raise EmptyCart("the cart is empty")
        for line in chosen:
            if not line.available:
                raise NotFound(f"SKU {line.sku_id} is no longer on sale", sku_id=line.sku_id)
    else:
        chosen = _chosen_lines(session, lines, max_quantity=max_quantity)
    reserve_stock(session, ((line.sku_id, line.quantity) for line in chosen))

    def make(order_no: str) -> Order:
        return Order(
            order_no=order_no, openid=openid, status=OrderStatus.PENDING_PAYMENT.value,
            amount_fen=sum(line.subtotal_fen for line in chosen), refunded_fen=0, address=clean_address,
            description=_description(chosen), created_at=now, expires_at=now + timedelta(seconds=ttl_s),
            items=[OrderItem(sku_id=line.sku_id, product_id=line.product_id, title=line.title, specs=line.specs,
                             price_fen=line.price_fen, quantity=line.quantity) for line in chosen],
        )

    order = insert_order(session, make, now)
    if lines is None:
        clear_cart(session, openid=openid)
    elif not keep_cart:
        session.execute(delete(CartItem).where(CartItem.openid == openid,
                                               CartItem.sku_id.in_([line.sku_id for line in chosen])))
    _audit(session, order, None, OrderStatus.PENDING_PAYMENT, reason="placed", actor="customer", now=now)
    record_event(session, EventKind.ORDER_PLACED, order_no=order.order_no, openid=openid, now=now, payload={
        "amount_fen": order.amount_fen, "expires_at": order.expires_at.isoformat(),
        "items": [{"sku_id": i.sku_id, "title": i.title, "quantity": i.quantity} for i in order.items],
    })
    session.flush()
    log.info("order %s placed: %d fen, %d lines", order.order_no, order.amount_fen, len(order.items))
    return order


def _chosen_lines(session: Session, lines: Sequence[tuple[str, int]], *, max_quantity: int) -> list[CartLine]:
    """The chosen SKUs priced as they are now, in the order given; every check before any stock is taken."""
    if not 1 <= len(lines) <= MAX_ORDER_LINES:
        raise InvalidInput(f"an order holds 1-{MAX_ORDER_LINES} different items", field="items")
    seen: set[str] = set()
    for index, (sku_id, quantity) in enumerate(lines):
        if not isinstance(sku_id, str) or not 1 <= len(sku_id) <= 64:
            raise InvalidInput("sku_id must be 1-64 characters", field=f"items.{index}.sku_id")
        if sku_id in seen:
            # Two entries for one SKU are a client's mistake, not a wish for the sum.
            raise InvalidInput(f"SKU {sku_id} is listed twice", field=f"items.{index}.sku_id")
        seen.add(sku_id)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= max_quantity:
            raise InvalidInput(f"quantity must be 1-{max_quantity}", field=f"items.{index}.quantity")
    found = {
        sku.sku_id: (sku, product)
        for sku, product in session.execute(
            select(Sku, Product).join(Product, Product.id == Sku.product_id).where(Sku.sku_id.in_(seen))
        ).all()
    }
    chosen: list[CartLine] = []
    for sku_id, quantity in lines:
        row = found.get(sku_id)
        if row is None or not row[0].active or not row[1].active:
            raise NotFound(f"no SKU {sku_id} on sale", sku_id=sku_id)
        sku, product = row
        chosen.append(CartLine(sku_id=sku_id, product_id=product.id, title=product.title, specs=dict(sku.specs),
                               price_fen=sku.price_fen, quantity=quantity, in_stock=sku.stock, available=True))
    return chosen


def _description(lines: list[Any]) -> str:
    """What the payer sees in WeChat Pay: the first item, and how many more (≤ 127 bytes)."""
    text = lines[0].title + (f" 等{sum(line.quantity for line in lines)}件" if len(lines) > 1 else "")
    while len(text.encode("utf-8")) > MAX_DESCRIPTION_BYTES:
        text = text[:-1]
    return text


# ----- reading -------------------------------------------------------------------------------


def get_order(session: Session, *, order_no: str, openid: str | None = None) -> Order:
    """An order; with `openid`, only that customer's (another customer's order is NotFound)."""
    _check_order_no(order_no)
    order = session.get(Order, order_no)
    if order is None or (openid is not None and order.openid != openid):
        raise NotFound(f"no order {order_no}")
    return order


def lock_order(session: Session, *, order_no: str, openid: str | None = None) -> Order:
    """The order row, locked for this transaction (FOR UPDATE; SQLite's BEGIN IMMEDIATE serialises)."""
    _check_order_no(order_no)
    order = session.scalars(
        select(Order).where(Order.order_no == order_no).with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if order is None or (openid is not None and order.openid != openid):
        raise NotFound(f"no order {order_no}")
    return order


def list_orders(
    session: Session, *, openid: str, status: OrderStatus | None = None, limit: int = 20, offset: int = 0
) -> list[Order]:
    if not 1 <= limit <= 100 or offset < 0:
        raise InvalidInput("limit must be 1-100 and offset not negative", field="limit")
    query = select(Order).where(Order.openid == openid)
    if status is not None:
        query = query.where(Order.status == status.value)
    query = query.order_by(Order.created_at.desc(), Order.order_no.desc())
    return list(session.scalars(query.limit(limit).offset(offset)))


def recent_orders(session: Session, *, openids: Sequence[str], limit: int = 3) -> list[Order]:
    """The newest orders of a customer known by several openids (one person across the store's apps)."""
    if not openids:
        return []
    query = select(Order).where(Order.openid.in_(list(openids)))
    return list(session.scalars(query.order_by(Order.created_at.desc(), Order.order_no.desc()).limit(limit)))


def order_history(session: Session, *, order_no: str) -> list[OrderEvent]:
    return list(session.scalars(select(OrderEvent).where(OrderEvent.order_no == order_no).order_by(OrderEvent.id)))


def record_prepay(session: Session, *, order_no: str, prepay_id: str) -> None:
    """Remember WeChat Pay's prepay_id (a second prepay with the same parameters returns the same one)."""
    order = lock_order(session, order_no=order_no)
    if order.state is not OrderStatus.PENDING_PAYMENT:
        raise IllegalTransition(order_no, order.status, "prepaid")
    order.prepay_id = prepay_id


# ----- transitions ---------------------------------------------------------------------------

EVENT_FOR_STATUS = {
    OrderStatus.PAID: EventKind.ORDER_PAID,
    OrderStatus.CANCELLED: EventKind.ORDER_CANCELLED,
    OrderStatus.SHIPPED: EventKind.ORDER_SHIPPED,
    OrderStatus.DELIVERED: EventKind.ORDER_DELIVERED,
    OrderStatus.COMPLETED: EventKind.ORDER_COMPLETED,
    OrderStatus.REFUNDING: EventKind.REFUND_REQUESTED,
    OrderStatus.REFUNDED: EventKind.ORDER_REFUNDED,
}


def transition(
    session: Session, order: Order, target: OrderStatus, *, reason: str, actor: str, now: datetime,
    payload: dict[str, Any] | None = None, event: EventKind | None = None,
) -> None:
    """Move a (locked) order to `target`: checked against the table, audited, event recorded."""
    current = order.state
    check_transition(order.order_no, current, target)
    order.status = target.value
    _audit(session, order, current, target, reason=reason, actor=actor, now=now)
    kind = event or EVENT_FOR_STATUS.get(target)
    if kind is not None:
        body = {"from": current.value, "to": target.value, "reason": reason, "amount_fen": order.amount_fen}
        record_event(session, kind, order_no=order.order_no, openid=order.openid, now=now,
                     payload=body | (payload or {}))
    log.info("order %s: %s -> %s (%s, by %s)", order.order_no, current, target, reason, actor)


def _audit(
    session: Session, order: Order, current: OrderStatus | None, target: OrderStatus, *, reason: str, actor: str,
    now: datetime,
) -> None:
    session.add(OrderEvent(order_no=order.order_no, from_status=current.value if current else None,
                           to_status=target.value, reason=reason[:120], actor=actor, created_at=now))


def cancel_order(
    session: Session, *, order_no: str, openid: str | None = None, reason: str, actor: str = "customer",
    now: datetime | None = None,
) -> Order:
    """Cancel an unpaid order and release its stock.

    Call it after WeChat Pay's order is closed (payments.close_and_cancel does both): a payment that
    still arrives is then handled as a late payment, never lost.
    """
    now = now or utcnow()
    order = lock_order(session, order_no=order_no, openid=openid)
    transition(session, order, OrderStatus.CANCELLED, reason=reason, actor=actor, now=now)
    order.cancelled_at, order.cancel_reason = now, reason[:120]
    release_stock(session, order_quantities(order))
    return order


# Until it ships, an order's address can change; afterwards the carrier has it.
ADDRESS_CHANGEABLE = frozenset({OrderStatus.PENDING_PAYMENT, OrderStatus.PAID})


def change_address(
    session: Session, *, order_no: str, openid: str | None = None, address: Any, actor: str = "customer",
    now: datetime | None = None,
) -> Order:
    """Ship the order somewhere else; refused once it has shipped (or was cancelled or refunded)."""
    checked = validate_address(address)
    order = lock_order(session, order_no=order_no, openid=openid)
    if order.state not in ADDRESS_CHANGEABLE:
        raise IllegalTransition(order_no, order.status, "address changed")
    order.address = checked
    _audit(session, order, order.state, order.state, reason="address changed", actor=actor, now=now or utcnow())
    return order


def request_refund(
    session: Session, *, order_no: str, openid: str | None = None, reason: str, now: datetime | None = None
) -> Order:
    """The customer asks for the whole order to be refunded; staff then refund or decline."""
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 120:
        raise InvalidInput("reason must be 1-120 characters", field="reason")
    now = now or utcnow()
    order = lock_order(session, order_no=order_no, openid=openid)
    if order.state is OrderStatus.REFUNDING or order.state not in REFUNDABLE:
        raise IllegalTransition(order_no, order.status, OrderStatus.REFUNDING.value)
    resume = order.state
    transition(session, order, OrderStatus.REFUNDING, reason=reason.strip(), actor="customer", now=now)
    order.resume_status, order.refund_reason = resume.value, reason.strip()
    return order


def decline_refund(
    session: Session, *, order_no: str, reason: str, actor: str = "staff", now: datetime | None = None
) -> Order:
    """Staff turn down a refund request: the order goes back to where it was."""
    now = now or utcnow()
    order = lock_order(session, order_no=order_no)
    if order.state is not OrderStatus.REFUNDING or order.refunds_in_flight:
        raise IllegalTransition(order_no, order.status, "refund declined")
    resume_order(session, order, reason=reason, actor=actor, now=now, event=EventKind.REFUND_DECLINED)
    return order


def resume_order(
    session: Session, order: Order, *, reason: str, actor: str, now: datetime, event: EventKind,
    payload: dict[str, Any] | None = None,
) -> None:
    """From refunding back to the state before the refund was asked for.

    `event` says why (states.RESUMING_EVENTS): the state's own event (order_paid ...) would tell the
    customer again what they were told when the order first got there.
    """
    if event not in RESUMING_EVENTS:
        log.error("order %s: refused to go back from refunding with event %s", order.order_no, event)
        raise ValueError(f"{event} does not say why a refunding order goes back")
    target = OrderStatus(order.resume_status or OrderStatus.PAID.value)
    transition(session, order, target, reason=reason, actor=actor, now=now, event=event, payload=payload)
    order.resume_status = None


def ship_order(
    session: Session, *, order_no: str, carrier: str, tracking_no: str, actor: str = "staff",
    now: datetime | None = None,
) -> Order:
    """Hand a paid order to a carrier. Only a paid one: the table also allows refunding -> shipped, the way
    back after a dispute over an order that had shipped, and shipping must not end a refund request."""
    if not isinstance(carrier, str) or not carrier.strip() or len(carrier.strip()) > 40:
        raise InvalidInput("carrier must be 1-40 characters", field="carrier")
    if not isinstance(tracking_no, str) or not TRACKING_NO.match(tracking_no.strip()):
        raise InvalidInput("tracking_no must be 4-40 letters, digits or '-'", field="tracking_no")
    now = now or utcnow()
    order = lock_order(session, order_no=order_no)
    if order.state is not OrderStatus.PAID:
        raise IllegalTransition(order_no, order.status, OrderStatus.SHIPPED.value)
    payload = {"carrier": carrier.strip(), "tracking_no": tracking_no.strip()}
    transition(session, order, OrderStatus.SHIPPED, reason="shipped", actor=actor, now=now, payload=payload)
    order.carrier, order.tracking_no, order.shipped_at = carrier.strip(), tracking_no.strip(), now
    return order


def mark_delivered(
    session: Session, *, order_no: str, openid: str | None = None, actor: str = "customer",
    now: datetime | None = None,
) -> Order:
    """The parcel arrived: the customer confirms receipt, or the scheduler assumes it after
    `orders.auto_deliver_days`. Only a shipped order; a refunding one goes back through resume_order."""
    now = now or utcnow()
    order = lock_order(session, order_no=order_no, openid=openid)
    # The table also allows refunding -> delivered, the way back after a refund dispute; receipt
    # confirmed mid-dispute must not end it.
    if order.state is not OrderStatus.SHIPPED:
        raise IllegalTransition(order_no, order.status, OrderStatus.DELIVERED.value)
    transition(session, order, OrderStatus.DELIVERED, reason="delivered", actor=actor, now=now)
    order.delivered_at = now
    return order


def complete_order(session: Session, *, order_no: str, actor: str = "scheduler", now: datetime | None = None) -> Order:
    """A delivered order closes after `orders.auto_complete_days`. Only a delivered one: the table also
    allows refunding -> completed, the way back after a dispute, which a due-date job must not take."""
    now = now or utcnow()
    order = lock_order(session, order_no=order_no)
    if order.state is not OrderStatus.DELIVERED:
        raise IllegalTransition(order_no, order.status, OrderStatus.COMPLETED.value)
    transition(session, order, OrderStatus.COMPLETED, reason="completed", actor=actor, now=now)
    order.completed_at = now
    return order


def orders_due(session: Session, *, status: OrderStatus, before: datetime, limit: int = 100) -> list[str]:
    """Order numbers in `status` whose time in it ran out before `before`, oldest first.

    An unpaid order runs out at expires_at. Shipped and delivered orders count from shipped_at and
    delivered_at, less the time they have spent refunding since (the clock pauses: states.py).
    """
    if status is OrderStatus.PENDING_PAYMENT:
        query = select(Order.order_no).where(Order.status == status.value, Order.expires_at <= before)
        return list(session.scalars(query.order_by(Order.expires_at).limit(limit)))
    started = {OrderStatus.SHIPPED: Order.shipped_at, OrderStatus.DELIVERED: Order.delivered_at}[status]
    query = select(Order.order_no).where(
        Order.status == status.value,
        # Exact and cheap, and a pause only adds time: the pauses are summed for these orders alone.
        started <= before,
        # In the filter, not only after the limit, so orders a dispute holds back never fill the batch.
        EpochSeconds(started) + _seconds_refunding(status) <= before.timestamp(),
    )
    return list(session.scalars(query.order_by(started, Order.order_no).limit(limit)))


def _seconds_refunding(status: OrderStatus) -> ScalarSelect[Any]:
    """Seconds the order in `status` has spent refunding since it got there, for `orders_due`.

    The order reaches shipped (from paid) and delivered (from shipped) once; every later move into
    `status` is a return from refunding (resume_order returns an order to where it was), and as the
    order is not refunding now each departure for refunding has its return. So: the times of the
    returns less the times of the departures, from the order_events audit trail.
    """
    refunding = OrderStatus.REFUNDING.value
    sign = case((OrderEvent.from_status == refunding, 1), else_=-1)
    return (
        select(func.coalesce(func.sum(sign * EpochSeconds(OrderEvent.created_at)), 0))
        .where(
            OrderEvent.order_no == Order.order_no,
            or_(and_(OrderEvent.from_status == status.value, OrderEvent.to_status == refunding),
                and_(OrderEvent.from_status == refunding, OrderEvent.to_status == status.value)),
        )
        .scalar_subquery()
    )


def advance_due_orders(
    factory: sessionmaker[Session], *, now: datetime, deliver_after_days: int, complete_after_days: int,
    limit: int = 200,
) -> int:
    """Shipped orders count as delivered after `deliver_after_days`; delivered ones are completed
    after `complete_after_days`, days spent refunding not counted. One short transaction per order,
    so a busy order delays no other; `limit` orders are read at a time until none is left due, so a
    busy day never leaves a backlog for the next run."""
    moved = 0
    steps = (
        (OrderStatus.SHIPPED, deliver_after_days, mark_delivered),
        (OrderStatus.DELIVERED, complete_after_days, complete_order),
    )
    for status, days, step in steps:
        while True:
            with factory() as session:
                due = orders_due(session, status=status, before=now - timedelta(days=days), limit=limit)
            batch_moved = _advance_each(factory, due, step, now)
            moved += batch_moved
            # A short batch is the last; a batch in which nothing moved would come back the same.
            if len(due) < limit or batch_moved == 0:
                break
    return moved


def _advance_each(
    factory: sessionmaker[Session], order_nos: list[str], step: Callable[..., object], now: datetime
) -> int:
    moved = 0
    for order_no in order_nos:
        try:
            with transaction(factory) as session:
                step(session, order_no=order_no, actor="scheduler", now=now)
            moved += 1
        except IllegalTransition:
            continue  # moved on (refund requested ...) since we looked
    return moved
