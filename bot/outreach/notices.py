"""Order notices: commerce's events (paid, shipped, delivered, refunded) and unpaid orders about to close,
each turned into one message to the customer who ordered.

A subscribe message when the customer holds a credit for the purpose's template; else a
customer-service message when their reply window is open; else nothing, recorded with the reason.
The event is claimed from the outbox (one receipt per consumer) and its `order_notices` row, keyed by
the event, is written in the same transaction as the message it decides on, so each event gives at most
one message however many processes run this and whenever one of them dies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.conversation import customer_id as ensure_customer
from bot.customers.models import MpSession
from bot.messenger import Messenger
from bot.models import Channel, Customer
from bot.outgoing import Text
from bot.outreach.consent import credit_now
from bot.outreach.errors import OutreachError
from bot.outreach.models import NoticeVia, OrderNotice, Source
from bot.outreach.sender import SubscribeSender
from bot.outreach.templates import Purpose, TemplateRegistry
from bot.windows import reply_window
from commerce.models import Order
from commerce.outbox import claim_events
from commerce.states import EventKind, OrderStatus
from storage.clock import utcnow
from storage.db import transaction
from storage.sql import insert_ignoring_conflicts

log = logging.getLogger(__name__)

CONSUMER = "order_notices"
PURPOSE_OF_EVENT: dict[EventKind, Purpose] = {
    EventKind.ORDER_PAID: Purpose.ORDER_PAID,
    EventKind.ORDER_SHIPPED: Purpose.ORDER_SHIPPED,
    EventKind.ORDER_DELIVERED: Purpose.ORDER_DELIVERED,
    EventKind.REFUND_SUCCEEDED: Purpose.REFUND,  # each refund that returned money, in part or in full
}

# What a customer-service message says when no subscribe message can go (the window is open).
SERVICE_TEXT: dict[Purpose, str] = {
    Purpose.ORDER_PAID: "您的订单 {order_no} 已支付 {amount}，我们会尽快为您发货。",
    Purpose.ORDER_SHIPPED: "您的订单 {order_no} 已发货：{carrier} {tracking_no}。",
    Purpose.ORDER_DELIVERED: "您的订单 {order_no} 已签收，感谢您的购买！",
    Purpose.REFUND: "您的订单 {order_no} 已退款 {refund_amount}，款项将原路退回。",
    Purpose.ORDER_EXPIRING: "您的订单 {order_no}（{amount}）尚未支付，将于 {expires_at} 关闭，请尽快完成支付。",
}


@dataclass(frozen=True)
class NoticeConfig:
    timezone: str = "Asia/Shanghai"
    expiring_warning_s: int = 600  # 0: no reminder before an unpaid order closes


@dataclass
class Decided:
    subscribe_ids: list[int]
    service_ids: list[int]


def _followers_of(session: Session, customer_id: int) -> list[int]:
    """The Official Account customers who are the same person as this mini-program customer (unionid)."""
    openid = select(Customer.openid).where(Customer.id == customer_id).scalar_subquery()
    unionids = select(MpSession.unionid).where(MpSession.openid == openid, MpSession.unionid.is_not(None))
    return list(session.scalars(select(Customer.id).where(Customer.channel == Channel.OA,
                                                          Customer.unionid.in_(unionids))))


def yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


class OrderNotices:
    def __init__(self, *, factory: sessionmaker[Session], sender: SubscribeSender, messenger: Messenger,
                 templates: Callable[[], TemplateRegistry], config: NoticeConfig | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._factory, self._sender, self._messenger = factory, sender, messenger
        self._templates, self._config, self._clock = templates, config or NoticeConfig(), clock
        self._zone = ZoneInfo(self._config.timezone)

    # -- the jobs ----------------------------------------------------------------------------

    def consume(self, limit: int = 100) -> int:
        """Claim order events and decide each one's notice; send what was decided after commit."""
        decided = Decided([], [])
        with transaction(self._factory) as session:
            events = claim_events(session, consumer=CONSUMER, kinds=PURPOSE_OF_EVENT, limit=limit, now=self._clock())
            for event in events:
                if event.order_no is None:
                    continue
                self._notice(session, key=f"event:{event.id}", order_no=event.order_no,
                             purpose=PURPOSE_OF_EVENT[EventKind(event.kind)], extra=event.payload or {},
                             decided=decided)
        self._send(decided)
        return len(events)

    def warn_expiring(self) -> int:
        """Unpaid orders closing within `expiring_warning_s`: their customer is told once."""
        warning = self._config.expiring_warning_s
        if warning <= 0:
            return 0
        now = self._clock()
        decided = Decided([], [])
        with transaction(self._factory) as session:
            noticed = select(OrderNotice.order_no).where(OrderNotice.purpose == Purpose.ORDER_EXPIRING)
            orders = list(session.scalars(
                select(Order.order_no).where(
                    Order.status == OrderStatus.PENDING_PAYMENT.value, Order.expires_at > now,
                    Order.expires_at <= now + timedelta(seconds=warning), Order.order_no.not_in(noticed)).limit(100)))
            for order_no in orders:
                self._notice(session, key=f"expiring:{order_no}", order_no=order_no, purpose=Purpose.ORDER_EXPIRING,
                             extra={}, decided=decided)
        self._send(decided)
        return len(orders)

    # -- deciding ----------------------------------------------------------------------------

    def _notice(self, session: Session, *, key: str, order_no: str, purpose: Purpose, extra: dict[str, object],
                decided: Decided) -> None:
        now = self._clock()
        # The notice's row first: a second process deciding the same notice inserts nothing and stops.
        claimed = session.execute(
            insert_ignoring_conflicts(session, OrderNotice.__table__)  # type: ignore[arg-type]
            .values(key=key, order_no=order_no, purpose=purpose.value, via=NoticeVia.NONE.value, created_at=now)
            .returning(OrderNotice.key)).first()
        if claimed is None:
            return
        notice = session.get_one(OrderNotice, key)
        order = session.get(Order, order_no)
        if order is None:
            notice.reason = "the order does not exist"
            return
        customer = ensure_customer(session, channel=Channel.MP, openid=order.openid, now=now)
        notice.customer_id = customer
        context = self._context(order, extra)
        try:
            self._decide(session, notice, customer, purpose, context, decided, now)
        except OutreachError as exc:  # the store's template wording does not fit: logged, recorded
            notice.via, notice.reason = NoticeVia.NONE, f"template: {exc.message}"[:255]
            log.error("order %s: no %s notice: %s", order_no, purpose, exc.message)

    def _decide(self, session: Session, notice: OrderNotice, customer_id: int, purpose: Purpose,
                context: dict[str, str], decided: Decided, now: datetime) -> None:
        # The mini-program's templates first; then the Official Account's, where the buyer follows it too
        # (the same person by unionid) and accepted its one-time subscription.
        reachable = [(customer_id, Channel.MP)] + [(oa, Channel.OA) for oa in _followers_of(session, customer_id)]
        for who, channel in reachable:
            for template in self._templates().for_purpose(purpose, channel):
                if credit_now(session, customer_id=who, template_id=template.id) > 0:
                    row = self._sender.record(session, customer_id=who, template_id=template.id,
                                              source=Source.NOTICE, data=template.render(context),
                                              page=template.page_for(context), idempotency_key=f"notice:{notice.key}")
                    notice.via, notice.message_id = NoticeVia.SUBSCRIBE, row.id
                    decided.subscribe_ids.append(row.id)
                    return
        window = reply_window(session, customer_id)
        if window is not None and window.expires_at > now and (window.quota is None or window.used < window.quota):
            customer = session.get_one(Customer, customer_id)
            message = self._messenger.record(session, customer=customer,
                                             message=Text(SERVICE_TEXT[purpose].format_map(context)),
                                             idempotency_key=f"notice:{notice.key}")
            notice.via, notice.message_id = NoticeVia.SERVICE, message.id
            decided.service_ids.append(message.id)
            return
        notice.reason = "no consent credit for the template and the reply window is closed"

    def _context(self, order: Order, extra: dict[str, object]) -> dict[str, str]:
        items = order.items
        first = items[0].title if items else order.description
        count = sum(item.quantity for item in items)
        refund_fen = int(str(extra.get("refund_fen", 0)) or 0)
        refunded_at = max((r.settled_at for r in order.refunds if r.settled_at), default=None)
        return {
            "order_no": order.order_no, "amount": yuan(order.amount_fen),
            "items": first if count <= 1 else f"{first}等{count}件",
            "paid_at": self._local(order.paid_at), "carrier": order.carrier or "快递",
            "tracking_no": order.tracking_no or "-", "delivered_at": self._local(order.delivered_at),
            "refund_amount": yuan(refund_fen), "refund_state": "退款成功",
            "refunded_at": self._local(refunded_at), "expires_at": self._local(order.expires_at),
        }

    def _local(self, moment: datetime | None) -> str:
        return (moment or self._clock()).astimezone(self._zone).strftime("%Y-%m-%d %H:%M")

    def _send(self, decided: Decided) -> None:
        if decided.subscribe_ids:
            self._sender.deliver(decided.subscribe_ids)
        if decided.service_ids:
            self._messenger.deliver(decided.service_ids)

