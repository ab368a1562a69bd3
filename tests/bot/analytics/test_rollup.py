"""The roll-up: raw events and paid orders of one store day (Asia/Shanghai) become that day's aggregates;
a re-run replaces them, late events are picked up when the day is rolled again, and the job rolls today,
the day before and any day it missed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.analytics.figures import funnel, last_days, overview, repeat_purchase, sales_figures
from bot.analytics.models import (
    AnalyticsEvent,
    Buyer,
    DailyHour,
    DailyProduct,
    DailySales,
    DailySource,
    EventKind,
    RolledDay,
)
from bot.analytics.rollup import days_to_roll, roll_up_day, roll_up_recent
from bot.analytics.tracking import record_added_to_cart, record_checkout
from bot.models import Channel, ConversationMessage, Customer, Delivery, Direction
from commerce.orders import place_order
from commerce.payments import apply_payment_notice
from storage.db import transaction
from tests.support.commerce import address
from wechat.pay_notify import PaymentNotice

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 20)  # a Friday
# 2026-11-20 00:00 in Shanghai is 2026-11-19 16:00 UTC: the store day runs 16:00 UTC to 16:00 UTC.
START = datetime(2026, 11, 19, 16, 0, tzinfo=UTC)


def view(session: Session, openid: str, product_id: str, at: datetime, src: str = "direct",
         ref_id: int | None = None) -> None:
    session.add(AnalyticsEvent(at=at, kind=EventKind.VIEW, openid=openid, product_id=product_id, src=src,
                               ref_id=ref_id))


def paid_order(factory: sessionmaker[Session], openid: str, sku_id: str, quantity: int, at: datetime) -> str:
    """A customer adds to cart, checks out and pays at `at` (the commerce operations, tracked as the API does)."""
    with transaction(factory) as session:
        order = place_order(session, openid=openid, address=address(), now=at - timedelta(minutes=1), ttl_s=1800,
                            lines=[(sku_id, quantity)], keep_cart=True)
        record_added_to_cart(session, openid=openid, sku_id=sku_id, at=at - timedelta(minutes=2))
        record_checkout(session, openid=openid, product_ids=[i.product_id for i in order.items],
                        at=at - timedelta(minutes=1))
        order_no, amount = order.order_no, order.amount_fen
    with transaction(factory) as session:
        result = apply_payment_notice(session, notice=PaymentNotice(
            appid="wx_app", mchid="1900000001", out_trade_no=order_no, transaction_id=f"tx-{order_no}",
            trade_state="SUCCESS", amount_total=amount, payer_openid=openid, success_time=at, notification_id="n"),
            expected_appid="wx_app", expected_mchid="1900000001", now=at)
        assert result.outcome.value == "applied"
    return order_no


def roll(factory: sessionmaker[Session], day: date = DAY) -> None:
    with transaction(factory) as session:
        roll_up_day(session, day=day, zone=SHANGHAI, now=START + timedelta(days=3))


def sales(factory: sessionmaker[Session], day: date = DAY) -> DailySales | None:
    with factory() as session:
        return session.get(DailySales, day)


def funnel_rows(factory: sessionmaker[Session]) -> dict[tuple[str, str, str], tuple[int, int]]:
    with factory() as session:
        return {(r.product_id, r.src, r.kind): (r.events, r.customers)
                for r in session.scalars(select(DailyProduct).where(DailyProduct.day == DAY))}


@pytest.fixture
def day_of_trade(store: sessionmaker[Session]) -> sessionmaker[Session]:
    """Around the store day 2026-11-20: views just inside both of its edges and just outside them, a card
    view that leads to a paid dress, and a lipstick opened from a share at 23:50 and paid at 23:59:30 local time."""
    with transaction(store) as session:
        view(session, "o_ann", "dress-test", START - timedelta(seconds=1))  # 19 Nov, 23:59:59 local: not ours
        view(session, "o_ann", "dress-test", START, src="card")  # 00:00:00 local: ours
        view(session, "o_bo", "dress-test", START + timedelta(hours=2), src="campaign", ref_id=3)
        view(session, "o_bo", "dress-test", START + timedelta(hours=3))  # same customer again
        view(session, "", "dress-test", START + timedelta(hours=4))  # no login: an event, no customer
        view(session, "o_cy", "lipstick-test", START + timedelta(hours=23, minutes=50), src="share")
        view(session, "o_cy", "lipstick-test", START + timedelta(days=1))  # 21 Nov 00:00 local: not ours
    paid_order(store, "o_ann", "dress-test-red-M", 2, START + timedelta(hours=10))  # 10:00 local, 2 × 259.00
    paid_order(store, "o_cy", "lipstick-test-999", 1, START + timedelta(hours=23, minutes=59, seconds=30))
    return store


def test_a_store_day_counts_what_happened_between_its_local_midnights(day_of_trade: sessionmaker[Session]) -> None:
    roll(day_of_trade)

    day = sales(day_of_trade)
    assert day is not None
    assert (day.orders, day.gmv_fen, day.customers) == (2, 2 * 25900 + 32000, 2)
    assert (day.viewers, day.carters, day.checkouters) == (3, 2, 2)
    rows = funnel_rows(day_of_trade)
    # Views keep their own src; the anonymous view counts as an event but not as a customer.
    assert rows[("dress-test", "card", "view")] == (1, 1)
    assert rows[("dress-test", "campaign", "view")] == (1, 1)
    assert rows[("dress-test", "direct", "view")] == (2, 1)
    assert rows[("lipstick-test", "share", "view")] == (1, 1)
    # Cart, checkout and paid go to the last page the customer opened for that product: Ann's card.
    assert rows[("dress-test", "card", "cart")] == (1, 1)
    assert rows[("dress-test", "card", "paid")] == (1, 1)
    assert rows[("lipstick-test", "share", "paid")] == (1, 1)
    with day_of_trade() as session:
        hours = {(h.hour, h.weekday): (h.orders, h.gmv_fen) for h in session.scalars(select(DailyHour))}
        by_src = {(s.src, s.ref_id): (s.orders, s.gmv_fen) for s in session.scalars(select(DailySource))}
    assert hours == {(10, 4): (1, 51800), (23, 4): (1, 32000)}  # local hours, Friday
    assert by_src == {("card", 0): (1, 51800), ("share", 0): (1, 32000)}


def test_the_neighbouring_days_get_what_fell_outside(day_of_trade: sessionmaker[Session]) -> None:
    roll(day_of_trade, DAY - timedelta(days=1))
    roll(day_of_trade, DAY + timedelta(days=1))

    before, after = sales(day_of_trade, DAY - timedelta(days=1)), sales(day_of_trade, DAY + timedelta(days=1))
    assert before is not None and after is not None
    assert (before.viewers, before.orders) == (1, 0)
    assert (after.viewers, after.orders) == (1, 0)


def test_rolling_a_day_again_replaces_it_and_picks_up_late_events(day_of_trade: sessionmaker[Session]) -> None:
    roll(day_of_trade)
    roll(day_of_trade)
    with day_of_trade() as session:
        assert session.scalar(select(func.count()).select_from(DailySales)) == 1
        assert session.scalar(select(func.count()).select_from(DailyHour)) == 2
    first = funnel_rows(day_of_trade)

    # A view of that day reaches the table late (a writer that was behind), and so does a payment.
    with transaction(day_of_trade) as session:
        view(session, "o_dee", "shirt-test", START + timedelta(hours=20))
    paid_order(day_of_trade, "o_dee", "shirt-test-white-L", 1, START + timedelta(hours=21))
    roll(day_of_trade)

    day = sales(day_of_trade)
    assert day is not None and (day.orders, day.viewers) == (3, 4)
    again = funnel_rows(day_of_trade)
    assert again[("shirt-test", "direct", "paid")] == (1, 1)
    assert {k: v for k, v in again.items() if k[0] != "shirt-test"} == first


def test_the_job_rolls_today_the_day_before_and_any_day_missed(day_of_trade: sessionmaker[Session]) -> None:
    now = START + timedelta(days=2, hours=3)  # 22 Nov, 03:00 local
    # Nothing rolled yet: from the first activity (19 Nov, local) to today.
    assert days_to_roll(day_of_trade, zone=SHANGHAI, now=now, recheck_days=1) == [
        date(2026, 11, 19), date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)]
    assert roll_up_recent(day_of_trade, zone=SHANGHAI, now=now) == 4
    # Rolled: only yesterday and today again.
    assert days_to_roll(day_of_trade, zone=SHANGHAI, now=now, recheck_days=1) == [date(2026, 11, 21),
                                                                                   date(2026, 11, 22)]
    with day_of_trade() as session:
        assert session.scalar(select(func.count()).select_from(RolledDay)) == 4


def test_the_page_reads_periods_against_the_ones_before(day_of_trade: sessionmaker[Session]) -> None:
    paid_order(day_of_trade, "o_ann", "dress-test-red-L", 1, START - timedelta(hours=1))  # 19 Nov
    roll_up_recent(day_of_trade, zone=SHANGHAI, now=START + timedelta(hours=20))

    with day_of_trade() as session:
        figures = overview(session, today=DAY)
        today = next(p for p in figures["periods"] if p["key"] == "today")
        assert today["current"] == {"orders": 2, "gmv_fen": 83800, "customers": 2, "aov_fen": 41900, "refunds": 0,
                                    "refund_fen": 0}
        assert today["previous"]["gmv_fen"] == 25900
        assert today["change_pct"]["gmv_fen"] == 223.6  # (838 - 259) / 259
        # Beside yesterday up to the same hour: yesterday's order was paid at 23:00 local.
        late_evening = overview(session, today=DAY, hour=22)["periods"][0]["same_time"]
        assert late_evening == {"until_hour": 22, "orders": 0, "gmv_fen": 0, "aov_fen": 0,
                                "change_pct": {"orders": None, "gmv_fen": None, "aov_fen": None}}
        at_eleven = overview(session, today=DAY, hour=23)["periods"][0]["same_time"]
        assert (at_eleven["orders"], at_eleven["gmv_fen"], at_eleven["change_pct"]["gmv_fen"]) == (1, 25900, 223.6)
        # Ann paid on both days: one paying customer of the two days, not two.
        assert sales_figures(session, last_days(DAY, 2))["customers"] == 2
        found = funnel(session, period=last_days(DAY, 1))
        assert found["overall"]["customers"] == {"view": 3, "cart": 2, "checkout": 2, "paid": 2}
        assert found["overall"]["view_to_cart"] == 0.6667
        assert found["overall"]["cart_to_paid"] == 1.0
        dress = next(p for p in found["products"] if p["product_id"] == "dress-test")
        assert dress["title"] == "测试碎花连衣裙"
        assert dress["events"] == {"view": 4, "cart": 1, "checkout": 1, "paid": 1}
        buyers = {b.openid: (b.first_day, b.repeat_after_s) for b in session.scalars(select(Buyer))}
        assert buyers["o_ann"] == (date(2026, 11, 19), 11 * 3600)  # 19 Nov 23:00 → 20 Nov 10:00 local
        assert buyers["o_cy"] == (DAY, None)
        repeat = repeat_purchase(session, today=DAY + timedelta(days=8))
        assert repeat["repeat_7d"] == 0.5  # Ann bought again within 7 days, Cy did not
        assert repeat["repeat_30d"] is None  # nobody has had 30 days yet


def test_a_store_day_counts_its_customers_questions(day_of_trade: sessionmaker[Session]) -> None:
    # Given texts a customer sent on either side of the store day's midnights, an event, and the bot's answer
    with transaction(day_of_trade) as session:
        customer = Customer(channel=Channel.OA, openid="o_ana_questions")
        session.add(customer)
        session.flush()

        def message(direction: Direction, kind: str, at: datetime) -> ConversationMessage:
            return ConversationMessage(customer_id=customer.id, direction=direction, kind=kind, body={},
                                       delivery=Delivery.RECEIVED, created_at=at)

        session.add_all([
            message(Direction.IN, "text", START - timedelta(seconds=1)),  # the day before
            message(Direction.IN, "text", START),
            message(Direction.IN, "text", START + timedelta(hours=23, minutes=59)),
            message(Direction.IN, "event", START + timedelta(hours=1)),  # a follow or a menu tap: no question
            message(Direction.OUT, "text", START + timedelta(hours=1)),  # the bot's answer
        ])
    # When the day is rolled up, then its two questions are counted
    roll(day_of_trade)
    day = sales(day_of_trade)
    assert day is not None and day.questions == 2
