"""Abandoned-cart reminders: one per cart, to customers who left items in it and did not order.

A cart is its owner and the moment it was last touched; a reminder row is unique on the two, so a cart
is reminded at most once, however many processes look. The reminder is a subscribe message
(`cart_reminder`) when the customer holds a credit, else a card of the first item in stock when their
reply window is open. Nothing goes in quiet hours: the row is `held` and sent when they end, if the cart
is still as it was, unpaid, and the customer has not opted out (`退订`). A deterministic share of
customers (the holdout) is never reminded; their carts are recorded all the same, so
`chatshop report reminders` can set the reminded against the holdout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.conversation import customer_id as ensure_customer
from bot.errors import SendRefused
from bot.messenger import Messenger
from bot.models import Channel, Customer
from bot.outgoing import Outgoing
from bot.outreach.consent import credit_now
from bot.outreach.errors import OutreachError
from bot.outreach.models import CartReminder, OptOut, PageOpen, ReminderState, Source
from bot.outreach.notices import yuan
from bot.outreach.sender import SubscribeSender
from bot.outreach.templates import Purpose, TemplateRegistry
from bot.windows import reply_window
from commerce.models import CartItem, Order, Product, Sku
from storage.clock import utcnow
from storage.db import transaction
from storage.sql import insert_ignoring_conflicts

log = logging.getLogger(__name__)

ATTRIBUTION_WINDOW = timedelta(days=7)
HINT = "您挑选的商品还在购物车里，别错过哦"
HINT_LOW_STOCK = "即将售罄，仅剩{stock}件，尽快下单吧"


@dataclass(frozen=True)
class ReminderConfig:
    cart_delay_s: float = 7200.0
    max_per_week: int = 2
    quiet_hours: tuple[time, time] | None = (time(22, 0), time(8, 0))
    holdout_pct: int = 10
    low_stock: int = 5
    lookback_days: int = 7
    timezone: str = "Asia/Shanghai"


def parse_quiet_hours(text: str) -> tuple[time, time] | None:
    if not text.strip():
        return None
    start, end = text.strip().split("-")
    return time.fromisoformat(start), time.fromisoformat(end)


def in_holdout(customer_id: int, holdout_pct: int) -> bool:
    """The same customers always: a multiplicative hash of the id, as campaigns use with their own salt."""
    return (customer_id * 7919 + 17) % 100 < holdout_pct


# (product_id, channel, reminder id) → a card whose pagepath carries src=cart_reminder&r=<id>.
ComposeCard = Callable[[str, Channel, int], Outgoing]


@dataclass
class Pick:
    sku_id: str
    product_id: str
    title: str
    price_fen: int
    stock: int


class CartReminders:
    def __init__(self, *, factory: sessionmaker[Session], sender: SubscribeSender, messenger: Messenger,
                 templates: Callable[[], TemplateRegistry], compose_card: ComposeCard,
                 config: ReminderConfig | None = None, clock: Callable[[], datetime] = utcnow) -> None:
        self._factory, self._sender, self._messenger = factory, sender, messenger
        self._templates, self._compose_card = templates, compose_card
        self._config = config or ReminderConfig()
        self._clock = clock
        self._zone = ZoneInfo(self._config.timezone)

    def run(self) -> int:
        """The job: remind carts that became due, then send held reminders whose quiet hours ended."""
        return self.remind_due_carts() + self.send_held()

    # -- finding carts -----------------------------------------------------------------------

    def remind_due_carts(self, limit: int = 200) -> int:
        now = self._clock()
        due_before = now - timedelta(seconds=self._config.cart_delay_s)
        oldest = now - timedelta(days=self._config.lookback_days)
        with self._factory() as session:
            carts = session.execute(
                select(CartItem.openid, func.max(CartItem.updated_at).label("touched"))
                .group_by(CartItem.openid)
                .having(func.max(CartItem.updated_at) <= due_before, func.max(CartItem.updated_at) > oldest)
                .limit(limit * 5)).all()
        done = 0
        for openid, touched in carts:
            if done >= limit:
                break
            done += self._remind(openid, touched, now)
        return done

    def _remind(self, openid: str, touched: datetime, now: datetime) -> int:
        with transaction(self._factory) as session:
            if _ordered_since(session, openid, touched) or _reminded(session, openid, touched):
                return 0
            customer_id = ensure_customer(session, channel=Channel.MP, openid=openid, now=now)
            pick = self._first_in_stock(session, openid)
            state, reason = self._first_verdict(session, customer_id, pick, now)
            due = self._after_quiet_hours(now) if state is None else now
            inserted = session.execute(
                insert_ignoring_conflicts(session, CartReminder.__table__)  # type: ignore[arg-type]
                .values(customer_id=customer_id, openid=openid, cart_touched_at=touched,
                        sku_id=pick.sku_id if pick else "", cart_fen=_cart_fen(session, openid),
                        state=(state or ReminderState.HELD).value, holdout=state is ReminderState.HOLDOUT,
                        reason=reason, created_at=now, due_at=due)
                .returning(CartReminder.id)).first()
            if inserted is None or state is not None or due > now:
                return 1 if inserted is not None else 0
            reminder_id = int(inserted[0])
        return self._send(reminder_id)

    def _first_verdict(self, session: Session, customer_id: int, pick: Pick | None,
                       now: datetime) -> tuple[ReminderState | None, str | None]:
        """Why this cart gets no reminder at all, or (None, None) when it should get one."""
        if in_holdout(customer_id, self._config.holdout_pct):
            return ReminderState.HOLDOUT, "holdout"
        if _opted_out(session, customer_id):
            return ReminderState.STOPPED, "opted out"
        if pick is None:
            return ReminderState.NOT_SENT, "every item is out of stock or off sale"
        week_ago = now - timedelta(days=7)
        sent = session.scalar(select(func.count()).where(CartReminder.customer_id == customer_id,
                                                         CartReminder.state == ReminderState.SENT,
                                                         CartReminder.sent_at > week_ago)) or 0
        if sent >= self._config.max_per_week:
            return ReminderState.NOT_SENT, f"{sent} reminders in the last 7 days"
        return None, None

    # -- sending -----------------------------------------------------------------------------

    def send_held(self, limit: int = 200) -> int:
        now = self._clock()
        with self._factory() as session:
            due = list(session.scalars(select(CartReminder.id).where(CartReminder.state == ReminderState.HELD,
                                                                     CartReminder.due_at <= now)
                                       .order_by(CartReminder.id).limit(limit)))
        return sum(self._send(reminder_id) for reminder_id in due)

    def _send(self, reminder_id: int) -> int:
        """Send a held (or just written) reminder, if the cart still wants one."""
        now = self._clock()
        subscribe_id: int | None = None
        card: tuple[int, str] | None = None  # (customer, product) of a card to send in the open window
        with transaction(self._factory) as session:
            reminder = session.get(CartReminder, reminder_id, with_for_update=True)
            if reminder is None or reminder.state != ReminderState.HELD:
                return 0
            stop = self._stop_reason(session, reminder)
            if stop is not None:
                reminder.state, reminder.reason = ReminderState.STOPPED, stop
                return 1
            pick = self._first_in_stock(session, reminder.openid)
            if pick is None:
                reminder.state, reminder.reason = ReminderState.STOPPED, "every item is out of stock or off sale"
                return 1
            try:
                subscribe_id, card = self._message(session, reminder, pick, now)
            except OutreachError as exc:
                reminder.state, reminder.reason = ReminderState.NOT_SENT, f"template: {exc.message}"[:255]
                return 1
        if subscribe_id is not None:
            self._sender.deliver([subscribe_id])
        if card is not None:
            self._send_card(reminder_id, *card)
        return 1

    def _message(self, session: Session, reminder: CartReminder, pick: Pick,
                 now: datetime) -> tuple[int | None, tuple[int, str] | None]:
        """A subscribe message recorded in this transaction, or the card to send once it commits."""
        reminder.sku_id = pick.sku_id
        hint = HINT_LOW_STOCK.format(stock=pick.stock) if pick.stock <= self._config.low_stock else HINT
        context = {"product": pick.title, "price": yuan(pick.price_fen), "hint": hint, "product_id": pick.product_id,
                   "reminder_id": reminder.id}
        for template in self._templates().for_purpose(Purpose.CART_REMINDER, Channel.MP):
            if credit_now(session, customer_id=reminder.customer_id, template_id=template.id) > 0:
                row = self._sender.record(session, customer_id=reminder.customer_id, template_id=template.id,
                                          source=Source.REMINDER, data=template.render(context),
                                          page=template.page_for(context), idempotency_key=f"reminder:{reminder.id}")
                self._mark_sent(reminder, "subscribe", row.id, now)
                return row.id, None
        window = reply_window(session, reminder.customer_id)
        if window is not None and window.expires_at > now and (window.quota is None or window.used < window.quota):
            # Marked sent now, the card composed after commit (it may upload its thumbnail to WeChat): a
            # process that dies in between loses this one reminder rather than ever sending two.
            self._mark_sent(reminder, "service", None, now)
            return None, (reminder.customer_id, pick.product_id)
        reminder.state = ReminderState.NOT_SENT
        reminder.reason = "no consent credit for cart_reminder and the reply window is closed"
        return None, None

    def _send_card(self, reminder_id: int, customer_id: int, product_id: str) -> None:
        with self._factory() as session:
            channel = Channel(session.get_one(Customer, customer_id).channel)
        try:
            card = self._compose_card(product_id, channel, reminder_id)
            _, message_id = self._messenger.send_with_id(customer_id=customer_id, message=card,
                                                         idempotency_key=f"reminder:{reminder_id}")
        except SendRefused as refused:
            with transaction(self._factory) as session:
                reminder = session.get_one(CartReminder, reminder_id)
                reminder.state, reminder.reason = ReminderState.NOT_SENT, f"refused: {refused.reason}"[:255]
            return
        with transaction(self._factory) as session:
            session.get_one(CartReminder, reminder_id).message_id = message_id

    @staticmethod
    def _mark_sent(reminder: CartReminder, via: str, message_id: int | None, now: datetime) -> None:
        reminder.state, reminder.via, reminder.message_id, reminder.sent_at = ReminderState.SENT, via, message_id, now

    def _stop_reason(self, session: Session, reminder: CartReminder) -> str | None:
        touched = session.scalar(select(func.max(CartItem.updated_at)).where(CartItem.openid == reminder.openid))
        if touched is None:
            return "the cart was emptied"
        if touched != reminder.cart_touched_at:
            return "the cart changed since"
        if _ordered_since(session, reminder.openid, reminder.cart_touched_at):
            return "the customer ordered"
        if _opted_out(session, reminder.customer_id):
            return "opted out"
        return None

    def _first_in_stock(self, session: Session, openid: str) -> Pick | None:
        row = session.execute(
            select(Sku.sku_id, Product.id, Product.title, Sku.price_fen, Sku.stock)
            .join(CartItem, CartItem.sku_id == Sku.sku_id).join(Product, Product.id == Sku.product_id)
            .where(CartItem.openid == openid, Sku.stock > 0, Sku.active.is_(True), Product.active.is_(True))
            .order_by(CartItem.added_at, CartItem.sku_id).limit(1)).first()
        return None if row is None else Pick(*row)

    def _after_quiet_hours(self, now: datetime) -> datetime:
        """`now` if it is outside quiet hours in store time, else the moment they end."""
        quiet = self._config.quiet_hours
        if quiet is None:
            return now
        start, end = quiet
        local = now.astimezone(self._zone)
        clock = local.time()
        inside = (start <= clock or clock < end) if start > end else (start <= clock < end)
        if not inside:
            return now
        ends = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
        if ends <= local:
            ends += timedelta(days=1)
        return ends.astimezone(now.tzinfo)


def _ordered_since(session: Session, openid: str, since: datetime) -> bool:
    return bool(session.scalar(select(exists().where(Order.openid == openid, Order.created_at >= since))))


def _reminded(session: Session, openid: str, touched: datetime) -> bool:
    return bool(session.scalar(select(exists().where(CartReminder.openid == openid,
                                                     CartReminder.cart_touched_at == touched))))


def _opted_out(session: Session, customer_id: int) -> bool:
    return session.get(OptOut, customer_id) is not None


def _cart_fen(session: Session, openid: str) -> int:
    total = session.scalar(select(func.coalesce(func.sum(Sku.price_fen * CartItem.quantity), 0))
                           .join(CartItem, CartItem.sku_id == Sku.sku_id).where(CartItem.openid == openid))
    return int(total or 0)


# ----- the report ---------------------------------------------------------------------------


def reminders_report(session: Session, *, since: datetime) -> dict[str, dict[str, int | float]]:
    """Carts reminded against the holdout's since `since`: converted carts (a paid order within 7 days of
    the reminder, or opened from it) and their revenue, with the conversion rate of each group."""
    groups = {"reminded": ReminderState.SENT, "holdout": ReminderState.HOLDOUT}
    report: dict[str, dict[str, int | float]] = {}
    for name, state in groups.items():
        reminders = list(session.execute(
            select(CartReminder.id, CartReminder.openid, CartReminder.created_at)
            .where(CartReminder.state == state, CartReminder.created_at >= since)).all())
        converted = revenue = 0
        for reminder_id, openid, created in reminders:
            paid = _paid_after(session, openid, created)
            opened = bool(session.scalar(select(exists().where(PageOpen.src == "cart_reminder",
                                                               PageOpen.ref_id == reminder_id))))
            if paid or (opened and paid is not None):
                converted += 1
                revenue += paid or 0
        carts = len(reminders)
        report[name] = {"carts": carts, "converted": converted, "revenue_fen": revenue,
                        "conversion": round(converted / carts, 4) if carts else 0.0}
    return report


def _paid_after(session: Session, openid: str, moment: datetime) -> int:
    """GMV (fen) of the customer's orders paid within the attribution window after `moment`."""
    total = session.scalar(select(func.coalesce(func.sum(Order.amount_fen), 0)).where(
        Order.openid == openid, Order.paid_at.is_not(None), Order.paid_at >= moment,
        Order.paid_at < moment + ATTRIBUTION_WINDOW))
    return int(total or 0)
