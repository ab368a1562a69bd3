"""`chatshop seed`: sixty days of the demo store's history, so the 数据 page has something to show under
`make run` — product views from every source, carts and checkouts (raw events, as the mini-program records
them) and completed orders. The orders are written as history (status completed, no stock taken: they were
delivered long ago), and the days are rolled up at once. Nothing is written when the database already has
orders or events."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, sessionmaker

from bot.analytics.models import AnalyticsEvent, EventKind, Source
from bot.analytics.rollup import roll_up_recent
from chatshop.database import migrated_database
from chatshop.settings import Settings
from commerce.models import Order, OrderEvent, OrderItem, Payment, Product, Sku
from commerce.states import OrderStatus
from storage.clock import utcnow
from storage.db import transaction

log = logging.getLogger(__name__)

DAYS = 60
CUSTOMERS = 400
SOURCES = [(Source.DIRECT, 45), (Source.CARD, 20), (Source.SHARE, 15), (Source.CART_REMINDER, 8), (Source.CAMPAIGN, 12)]
# Shoppers buy in the evening and at lunch: weights of each local hour.
HOUR_WEIGHTS = [1, 1, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 8, 6, 5, 5, 5, 6, 7, 9, 12, 14, 10, 4]
ADDRESS = {"name": "演示客户", "phone": "13800000000", "province": "上海市", "city": "上海市", "district": "静安区",
           "detail": "南京西路 1 号"}


def seed_demo_history(factory: sessionmaker[Session], *, timezone: str, now: datetime | None = None) -> int:
    """Write the history and roll it up; returns the orders written (0: the database had some already)."""
    now = now or utcnow()
    with transaction(factory) as session:
        if session.scalar(select(exists().where(Order.order_no.is_not(None)))) or session.scalar(
                select(exists().where(AnalyticsEvent.id.is_not(None)))):
            return 0
        skus = [(sku_id, product_id, price, title) for sku_id, product_id, price, title in session.execute(
            select(Sku.sku_id, Sku.product_id, Sku.price_fen, Product.title).join(Product, Product.id == Sku.product_id)
            .where(Sku.active.is_(True)).order_by(Sku.sku_id))]
        if not skus:
            return 0
        written = _history(session, skus, ZoneInfo(timezone), now)
    roll_up_recent(factory, zone=ZoneInfo(timezone), now=now)
    return written


def _history(session: Session, skus: list[tuple[str, str, int, str]], zone: ZoneInfo, now: datetime) -> int:
    pick = random.Random(17)  # the same demo every time
    local_today = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    orders = 0
    for back in range(DAYS, -1, -1):
        day = local_today - timedelta(days=back)
        # Busier towards today and at weekends.
        visits = 25 + (DAYS - back) // 3 + (12 if day.weekday() >= 5 else 0)
        for _ in range(visits):
            at = _moment(pick, day, now)
            if at is None:
                continue
            orders += _visit(session, pick, skus, at, orders)
    return orders


def _moment(pick: random.Random, day: datetime, now: datetime) -> datetime | None:
    hour = pick.choices(range(24), HOUR_WEIGHTS)[0]
    at = (day + timedelta(hours=hour, minutes=pick.randrange(60), seconds=pick.randrange(60))).astimezone(UTC)
    return at if at < now - timedelta(minutes=10) else None


def _visit(session: Session, pick: random.Random, skus: list[tuple[str, str, int, str]], at: datetime, n: int) -> int:
    """One customer's visit: a product page or two, perhaps the cart, checkout and payment."""
    openid = f"o_demo_{pick.randrange(CUSTOMERS):03d}"
    src = pick.choices([s for s, _ in SOURCES], [w for _, w in SOURCES])[0]
    sku_id, product_id, price, title = pick.choice(skus)
    session.add(AnalyticsEvent(at=at, kind=EventKind.VIEW, openid=openid, product_id=product_id, src=src,
                               ref_id=None))
    if pick.random() < 0.3:
        other = pick.choice(skus)[1]
        session.add(AnalyticsEvent(at=at + timedelta(minutes=1), kind=EventKind.VIEW, openid=openid,
                                   product_id=other, src=Source.DIRECT, ref_id=None))
    if pick.random() > (0.45 if src in (Source.CARD, Source.CART_REMINDER) else 0.3):
        return 0
    quantity = 1 if pick.random() < 0.8 else 2
    carted = at + timedelta(minutes=2)
    session.add(AnalyticsEvent(at=carted, kind=EventKind.CART, openid=openid, product_id=product_id, src=src,
                               ref_id=None))
    if pick.random() > 0.6:
        return 0
    placed = carted + timedelta(minutes=3)
    session.add(AnalyticsEvent(at=placed, kind=EventKind.CHECKOUT, openid=openid, product_id=product_id, src=src,
                               ref_id=None))
    if pick.random() > 0.85:
        return 0
    # The store's own order-number form (UTC time + 6 digits), so the orders page opens these like any other.
    order_no = f"{placed.astimezone(UTC):%Y%m%d%H%M%S}{n:06d}"
    _past_order(session, order_no, openid, (sku_id, product_id, price, title), quantity, placed)
    return 1


def _past_order(session: Session, order_no: str, openid: str, sku: tuple[str, str, int, str], quantity: int,
                placed: datetime) -> None:
    """Paid, then shipped a day later, delivered after three and completed after ten, as far as time allows."""
    sku_id, product_id, price, title = sku
    paid = placed + timedelta(minutes=1)
    steps = {"shipped_at": paid + timedelta(days=1), "delivered_at": paid + timedelta(days=3),
             "completed_at": paid + timedelta(days=10)}
    done = {name: at for name, at in steps.items() if at < utcnow()}
    status = (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED)[len(done)]
    session.add(Order(order_no=order_no, openid=openid, status=status.value, amount_fen=price * quantity,
                      refunded_fen=0, address=ADDRESS, description=title[:127], created_at=placed,
                      expires_at=placed + timedelta(minutes=30), transaction_id=f"demo-{order_no}", paid_at=paid,
                      carrier="顺丰速运" if done else None, tracking_no=f"SF{order_no[-10:]}" if done else None,
                      **done))
    session.add(OrderItem(order_no=order_no, sku_id=sku_id, product_id=product_id, title=title, specs={},
                          price_fen=price, quantity=quantity))
    _past_history(session, order_no, openid, price * quantity, placed, paid, done)


def _past_history(session: Session, order_no: str, openid: str, amount_fen: int, placed: datetime, paid: datetime,
                  done: dict[str, datetime]) -> None:
    """The payment and the timeline such an order would have, so its page reads like any other's."""
    session.add(Payment(transaction_id=f"demo-{order_no}", order_no=order_no, amount_fen=amount_fen,
                        payer_openid=openid, success_time=paid, source="notify", outcome="applied", recorded_at=paid))
    moves = [(None, OrderStatus.PENDING_PAYMENT, "placed", "customer", placed),
             (OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, "paid", "wechatpay", paid)]
    steps = [(OrderStatus.SHIPPED, "shipped", "staff"), (OrderStatus.DELIVERED, "delivered", "scheduler"),
             (OrderStatus.COMPLETED, "completed", "scheduler")]
    for (status, reason, actor), at in zip(steps, done.values(), strict=False):
        moves.append((moves[-1][1], status, reason, actor, at))
    session.add_all(OrderEvent(order_no=order_no, from_status=before.value if before else None, to_status=after.value,
                               reason=reason, actor=actor, created_at=at) for before, after, reason, actor, at in moves)


def seed_demo_numbers(settings: Settings) -> None:
    """`chatshop seed`'s part: the demo history in the configured database (never over real trade)."""
    with migrated_database(settings.database.url) as factory:
        written = seed_demo_history(factory, timezone=settings.routing.timezone)
    if written:
        log.info("wrote %d days of demo history (%d orders) for the 数据 page", DAYS, written)
    else:
        log.info("the database already has orders or tracked events (or no catalog): no demo history written")
