"""The roll-up: one store day (a local date in the store's zone) of raw events, paid orders, refunds and the
bot's conversations becomes that day's aggregate rows. Re-running a day deletes its rows and writes them
again, so the job can roll up today every few minutes and yesterday once more for late events.

Paid is read from `orders.paid_at` rather than from the commerce outbox: the order row is the record
of the payment (its time, amount and customer), a re-run needs the day's orders again anyway, and a
consumer of outbox events would be a second copy of the same facts to keep in step.

Cart, checkout and paid are attributed to a source the way the funnel needs them: the last product page
the same customer opened for the same product within the attribution window (an order: the last such
page across its products), or `direct` when there is none.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import delete, distinct, func, insert, select, text
from sqlalchemy.orm import Session

from bot.analytics.models import (
    AnalyticsEvent,
    Buyer,
    DailyAgent,
    DailyBuyer,
    DailyHour,
    DailyProduct,
    DailySales,
    DailySource,
    EventKind,
    RolledDay,
    Source,
)
from bot.handoff.models import Handoff, HandoffState
from bot.models import QUESTIONS_PREDICATE, ConversationMessage, UnansweredQuestion
from commerce.models import Order, OrderItem, Refund
from commerce.states import RefundStatus

DEFAULT_WINDOW = timedelta(days=7)
LOOKUP_CHUNK = 500  # openids per attribution query (well under every backend's bound-parameter limit)
MAX_CATCH_UP_DAYS = 400  # a first run rolls up at most this much history


@dataclass(frozen=True)
class StoreDay:
    day: date
    start: datetime  # UTC
    end: datetime  # UTC, exclusive


def store_day(day: date, zone: ZoneInfo) -> StoreDay:
    start = datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
    return StoreDay(day, start, end)


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


class Step(NamedTuple):
    openid: str
    product_id: str
    at: datetime
    kind: str


class Paid(NamedTuple):
    order_no: str
    openid: str
    paid_at: datetime
    amount_fen: int
    placed_at: datetime  # attribution looks before this: WeChat Pay's times are whole seconds


@dataclass
class _Touches:
    """A day's product views of the customers who bought or carted, for last-touch attribution."""

    by_key: dict[tuple[str, str], list[tuple[datetime, Source, int | None]]] = field(default_factory=dict)
    window: timedelta = DEFAULT_WINDOW

    def last(self, openid: str, product_id: str, at: datetime) -> tuple[datetime, Source, int | None] | None:
        views = self.by_key.get((openid, product_id))
        if not views:
            return None
        index = bisect_right(views, at, key=lambda view: view[0])
        if index == 0 or views[index - 1][0] <= at - self.window:
            return None
        return views[index - 1]


def roll_up_day(session: Session, *, day: date, zone: ZoneInfo, now: datetime,
                window: timedelta = DEFAULT_WINDOW) -> None:
    """Replace the aggregates of one store day (idempotent)."""
    span = store_day(day, zone)
    steps = [Step(*row) for row in session.execute(
        select(AnalyticsEvent.openid, AnalyticsEvent.product_id, AnalyticsEvent.at, AnalyticsEvent.kind)
        .where(AnalyticsEvent.at >= span.start, AnalyticsEvent.at < span.end,
               AnalyticsEvent.kind.in_([EventKind.CART, EventKind.CHECKOUT])))]
    orders = [Paid(no, openid, paid_at, fen, placed) for no, openid, paid_at, fen, placed in session.execute(
        select(Order.order_no, Order.openid, Order.paid_at, Order.amount_fen, Order.created_at)
        .where(Order.paid_at >= span.start, Order.paid_at < span.end)) if paid_at is not None]
    items = _order_products(session, [row.order_no for row in orders])
    buyers = {row.openid for row in orders} | {row.openid for row in steps}
    touches = _touches(session, buyers, span, window)
    _clear(session, day)
    _write_products(session, span, steps, orders, items, touches)
    _write_sales(session, span, steps, orders, zone, items, touches)
    _write_agents(session, span)
    _write_buyers(session, {row.openid for row in orders}, zone)
    session.merge(RolledDay(day=day, rolled_at=now))


def roll_up_recent(session_factory: Any, *, zone: ZoneInfo, now: datetime, recheck_days: int = 1,
                   window: timedelta = DEFAULT_WINDOW) -> int:
    """The job: today, the `recheck_days` before it (late events), and any day since the last roll-up (a
    service that was down, or a first run over history). One transaction per day; returns days rolled."""
    days = days_to_roll(session_factory, zone=zone, now=now, recheck_days=recheck_days)
    for day in days:
        with session_factory.begin() as session:
            roll_up_day(session, day=day, zone=zone, now=now, window=window)
    return len(days)


def days_to_roll(session_factory: Any, *, zone: ZoneInfo, now: datetime, recheck_days: int) -> list[date]:
    today = local_day(now, zone)
    with session_factory() as session:
        last = session.scalar(select(func.max(RolledDay.day)))
        if last is None:
            first = _first_activity(session)
            last = local_day(first, zone) if first is not None else today
    start = max(min(last, today - timedelta(days=recheck_days)), today - timedelta(days=MAX_CATCH_UP_DAYS))
    return [start + timedelta(days=n) for n in range((today - start).days + 1)]


def _first_activity(session: Session) -> datetime | None:
    firsts = [session.scalar(select(func.min(AnalyticsEvent.at))),
              session.scalar(select(func.min(Order.paid_at)))]
    known = [moment for moment in firsts if moment is not None]
    return min(known) if known else None


# ----- reading ------------------------------------------------------------------------------------


def _order_products(session: Session, order_nos: Sequence[str]) -> dict[str, dict[str, int]]:
    """order → product → GMV (fen) of its lines."""
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for chunk in _chunks(order_nos):
        rows = session.execute(
            select(OrderItem.order_no, OrderItem.product_id, func.sum(OrderItem.price_fen * OrderItem.quantity))
            .where(OrderItem.order_no.in_(chunk)).group_by(OrderItem.order_no, OrderItem.product_id))
        for order_no, product_id, fen in rows:
            found[order_no][product_id] = int(fen or 0)
    return found


def _touches(session: Session, openids: Iterable[str], span: StoreDay, window: timedelta) -> _Touches:
    touches = _Touches(window=window)
    grouped: dict[tuple[str, str], list[tuple[datetime, Source, int | None]]] = defaultdict(list)
    for chunk in _chunks(sorted(o for o in openids if o)):
        rows = session.execute(
            select(AnalyticsEvent.openid, AnalyticsEvent.product_id, AnalyticsEvent.at, AnalyticsEvent.src,
                   AnalyticsEvent.ref_id)
            .where(AnalyticsEvent.openid.in_(chunk), AnalyticsEvent.kind == EventKind.VIEW,
                   # A day more: an order paid today may have been placed (and its page opened) yesterday.
                   AnalyticsEvent.at >= span.start - window - timedelta(days=1), AnalyticsEvent.at < span.end))
        for openid, product_id, at, src, ref_id in rows:
            grouped[(openid, product_id)].append((at, Source(src), ref_id))
    touches.by_key = {key: sorted(views, key=lambda view: view[0]) for key, views in grouped.items()}
    return touches


def _order_touch(touches: _Touches, openid: str, placed_at: datetime,
                 products: Iterable[str]) -> tuple[Source, int]:
    found = [t for t in (touches.last(openid, p, placed_at) for p in products) if t is not None]
    if not found:
        return Source.DIRECT, 0
    _, src, ref_id = max(found, key=lambda t: t[0])
    return src, ref_id or 0


# ----- writing ------------------------------------------------------------------------------------


def _clear(session: Session, day: date) -> None:
    for table in (DailyProduct, DailySales, DailyHour, DailySource, DailyAgent, DailyBuyer):
        session.execute(delete(table).where(table.day == day))


def _write_products(session: Session, span: StoreDay, steps: Sequence[Step], orders: Sequence[Paid],
                    items: dict[str, dict[str, int]], touches: _Touches) -> None:
    rows: list[dict[str, Any]] = [
        {"day": span.day, "product_id": row[0], "src": row[1], "kind": EventKind.VIEW, "events": row[2],
         "customers": row[3]}
        for row in session.execute(
            select(AnalyticsEvent.product_id, AnalyticsEvent.src, func.count(),
                   func.count(distinct(func.nullif(AnalyticsEvent.openid, ""))))
            .where(AnalyticsEvent.at >= span.start, AnalyticsEvent.at < span.end,
                   AnalyticsEvent.kind == EventKind.VIEW)
            .group_by(AnalyticsEvent.product_id, AnalyticsEvent.src))]
    counted: dict[tuple[str, Source, EventKind], tuple[int, set[str]]] = {}

    def count(product_id: str, src: Source, kind: EventKind, openid: str) -> None:
        events, customers = counted.get((product_id, src, kind), (0, set()))
        customers.add(openid)
        counted[(product_id, src, kind)] = (events + 1, customers)

    for openid, product_id, at, kind in steps:
        touch = touches.last(openid, product_id, at)
        count(product_id, touch[1] if touch else Source.DIRECT, EventKind(kind), openid)
    for order in orders:
        for product_id in items.get(order.order_no, {}):
            touch = touches.last(order.openid, product_id, order.placed_at)
            count(product_id, touch[1] if touch else Source.DIRECT, EventKind.PAID, order.openid)
    rows += [{"day": span.day, "product_id": product_id, "src": src, "kind": kind, "events": events,
              "customers": len(customers)}
             for (product_id, src, kind), (events, customers) in counted.items()]
    if rows:
        session.execute(insert(DailyProduct), rows)


def _write_sales(session: Session, span: StoreDay, steps: Sequence[Step], orders: Sequence[Paid],
                 zone: ZoneInfo, items: dict[str, dict[str, int]], touches: _Touches) -> None:
    refunds, refund_fen = session.execute(
        select(func.count(), func.coalesce(func.sum(Refund.amount_fen), 0))
        .where(Refund.created_at >= span.start, Refund.created_at < span.end,
               Refund.status != RefundStatus.FAILED)).one()
    viewers = session.scalar(
        select(func.count(distinct(func.nullif(AnalyticsEvent.openid, ""))))
        .where(AnalyticsEvent.at >= span.start, AnalyticsEvent.at < span.end, AnalyticsEvent.kind == EventKind.VIEW))
    bot = _bot_figures(session, span)
    session.add(DailySales(
        day=span.day, orders=len(orders), gmv_fen=sum(o.amount_fen for o in orders),
        customers=len({o.openid for o in orders}), refunds=int(refunds), refund_fen=int(refund_fen),
        viewers=int(viewers or 0), carters=len({s.openid for s in steps if s.kind == EventKind.CART}),
        checkouters=len({s.openid for s in steps if s.kind == EventKind.CHECKOUT}), **bot))
    hours: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    sources: dict[tuple[Source, int], tuple[int, int, set[str]]] = {}
    spenders: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for order in orders:
        hour = hours[order.paid_at.astimezone(zone).hour]
        hour[0], hour[1] = hour[0] + 1, hour[1] + order.amount_fen
        key = _order_touch(touches, order.openid, order.placed_at, items.get(order.order_no, {}))
        count, fen, who = sources.get(key, (0, 0, set()))
        who.add(order.openid)
        sources[key] = (count + 1, fen + order.amount_fen, who)
        spent = spenders[order.openid]
        spent[0], spent[1] = spent[0] + 1, spent[1] + order.amount_fen
    if hours:
        session.execute(insert(DailyHour), [
            {"day": span.day, "hour": hour, "weekday": span.day.weekday(), "orders": n, "gmv_fen": fen}
            for hour, (n, fen) in hours.items()])
    if sources:
        session.execute(insert(DailySource), [
            {"day": span.day, "src": src, "ref_id": ref_id, "orders": n, "gmv_fen": fen, "customers": len(who)}
            for (src, ref_id), (n, fen, who) in sources.items()])
    if spenders:
        session.execute(insert(DailyBuyer), [
            {"day": span.day, "openid": openid, "orders": n, "gmv_fen": fen} for openid, (n, fen) in spenders.items()])


def _bot_figures(session: Session, span: StoreDay) -> dict[str, int]:
    """Customers' text messages (questions), those the bot fell back on, and conversations handed over."""
    # The predicate as the partial index words it, in literals: SQLite uses a partial index only for a query
    # whose WHERE holds its very terms, and never for bound parameters.
    questions = session.scalar(
        select(func.count()).select_from(ConversationMessage)
        .where(ConversationMessage.created_at >= span.start, ConversationMessage.created_at < span.end,
               text(QUESTIONS_PREDICATE)))
    unanswered = session.scalar(
        select(func.count()).where(UnansweredQuestion.created_at >= span.start,
                                   UnansweredQuestion.created_at < span.end, UnansweredQuestion.outcome == "fallback"))
    handoffs = session.scalar(
        select(func.count()).where(Handoff.opened_at >= span.start, Handoff.opened_at < span.end))
    return {"questions": int(questions or 0), "unanswered": int(unanswered or 0), "handoffs": int(handoffs or 0)}


def _write_agents(session: Session, span: StoreDay) -> None:
    rows = session.execute(
        select(Handoff.agent_id, func.count(), func.coalesce(func.sum(Handoff.csat_score), 0),
               func.count(Handoff.csat_score))
        .where(Handoff.state == HandoffState.RESOLVED, Handoff.resolved_at >= span.start,
               Handoff.resolved_at < span.end, Handoff.agent_id.is_not(None))
        .group_by(Handoff.agent_id)).all()
    if rows:
        session.execute(insert(DailyAgent), [
            {"day": span.day, "agent_id": int(agent or 0), "resolved": n, "csat_sum": int(total or 0),
             "csat_count": rated}
            for agent, n, total, rated in rows])


def _write_buyers(session: Session, openids: set[str], zone: ZoneInfo) -> None:
    """Each of the day's payers' first paid order and the gap to their second, from their whole history
    (so a re-run, or a day rolled out of order, gives the same rows)."""
    for chunk in _chunks(sorted(openids)):
        paid: dict[str, list[datetime]] = defaultdict(list)
        ranked = select(Order.openid, Order.paid_at, func.row_number().over(
            partition_by=Order.openid, order_by=Order.paid_at).label("n")).where(
            Order.openid.in_(chunk), Order.paid_at.is_not(None)).subquery()
        for openid, paid_at in session.execute(select(ranked.c.openid, ranked.c.paid_at).where(ranked.c.n <= 2)):
            paid[openid].append(paid_at)
        session.execute(delete(Buyer).where(Buyer.openid.in_(chunk)))
        if not paid:
            continue
        session.execute(insert(Buyer), [
            {"openid": openid, "first_paid_at": min(times), "first_day": local_day(min(times), zone),
             "repeat_after_s": int((max(times) - min(times)).total_seconds()) if len(times) > 1 else None}
            for openid, times in paid.items()])


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), LOOKUP_CHUNK):
        yield values[start:start + LOOKUP_CHUNK]
