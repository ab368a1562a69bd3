"""Carts and orders: placement, refusals, another customer's order, shipping to completion, events."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from commerce.cart import add_to_cart, get_cart, remove_from_cart, set_cart_quantity
from commerce.config import OrdersConfig
from commerce.errors import EmptyCart, IllegalTransition, InvalidInput, NotFound
from commerce.models import Order
from commerce.orders import (
    advance_due_orders,
    cancel_order,
    complete_order,
    decline_refund,
    get_order,
    insert_order,
    list_orders,
    mark_delivered,
    place_order,
    request_refund,
    ship_order,
)
from commerce.outbox import claim_events
from commerce.states import EventKind
from storage.db import transaction
from tests.support.commerce import (
    address,
    checkout,
    event_kinds,
    status_of,
    statuses_around,
    stock_of,
    transitions,
)

NOW = datetime(2026, 11, 23, 2, 30, 5, tzinfo=UTC)


def test_a_cart_adds_up_and_refuses_bad_quantities(store: sessionmaker[Session]) -> None:
    with transaction(store) as session:
        add_to_cart(session, openid="o_cart", sku_id="dress-test-red-M", quantity=1)
        add_to_cart(session, openid="o_cart", sku_id="dress-test-red-M", quantity=2)
        cart = add_to_cart(session, openid="o_cart", sku_id="lipstick-test-999", quantity=1)
    assert [(line.sku_id, line.quantity) for line in cart.lines] == [("dress-test-red-M", 3), ("lipstick-test-999", 1)]
    assert cart.total_fen == 3 * 25900 + 32000
    assert cart.lines[0].specs == {"颜色": "红色", "尺码": "M"} and cart.lines[0].title == "测试碎花连衣裙"
    small = OrdersConfig(max_quantity=5)
    for bad in (0, -1, 6, True):
        with pytest.raises(InvalidInput) as refused, transaction(store) as session:
            add_to_cart(session, openid="o_cart", sku_id="dress-test-red-M", quantity=bad, config=small)  # type: ignore[arg-type]
        assert refused.value.field == "quantity"
    with pytest.raises(NotFound), transaction(store) as session:
        add_to_cart(session, openid="o_cart", sku_id="no-such-sku", quantity=1)
    with transaction(store) as session:
        set_cart_quantity(session, openid="o_cart", sku_id="dress-test-red-M", quantity=0)
        remove_from_cart(session, openid="o_cart", sku_id="lipstick-test-999")
        assert get_cart(session, openid="o_cart").lines == []


def test_placing_an_order_reserves_stock_empties_the_cart_and_records_events(store: sessionmaker[Session]) -> None:
    # when a customer checks out two dresses and a lipstick
    order_no = checkout(store, "o_buyer", {"dress-test-red-M": 2, "lipstick-test-999": 1}, now=NOW)
    # then the order has a 20-digit number starting with the UTC time, the cart's prices and a deadline
    assert re.fullmatch(r"20261123023005\d{6}", order_no)
    with store() as session:
        order = get_order(session, order_no=order_no, openid="o_buyer")
        assert order.status == "pending_payment" and order.amount_fen == 2 * 25900 + 32000
        assert order.expires_at == NOW + timedelta(seconds=1800)
        assert [(i.sku_id, i.quantity, i.price_fen) for i in order.items] == [
            ("dress-test-red-M", 2, 25900), ("lipstick-test-999", 1, 32000)]
        assert order.address == address() and order.description == "测试碎花连衣裙 等3件"
        assert get_cart(session, openid="o_buyer").lines == []
    assert stock_of(store, "dress-test-red-M") == 3 and stock_of(store, "lipstick-test-999") == 9
    assert transitions(store, order_no) == [(None, "pending_payment")]
    assert event_kinds(store, order_no) == ["order_placed"]


def test_refusals_change_nothing(store: sessionmaker[Session]) -> None:
    with pytest.raises(EmptyCart), transaction(store) as session:
        place_order(session, openid="o_empty", address=address(), now=NOW)
    with transaction(store) as session:
        add_to_cart(session, openid="o_bad_address", sku_id="shirt-test-white-L", quantity=1)
    for broken, field in [({**address(), "phone": "call me"}, "address.phone"), ({"name": "张三"}, "address.phone"),
                          ({**address(), "color": "red"}, "address.color")]:
        with pytest.raises(InvalidInput) as refused, transaction(store) as session:
            place_order(session, openid="o_bad_address", address=broken, now=NOW)
        assert refused.value.field == field
    assert stock_of(store, "shirt-test-white-L") == 100


def test_another_customers_order_is_not_found(store: sessionmaker[Session]) -> None:
    order_no = checkout(store, "o_owner", {"shirt-test-white-L": 1})
    with store() as session:
        with pytest.raises(NotFound) as refused:
            get_order(session, order_no=order_no, openid="o_someone_else")
        assert refused.value.code == "NOT_FOUND"
        assert list_orders(session, openid="o_someone_else") == []
        assert [o.order_no for o in list_orders(session, openid="o_owner")] == [order_no]
    with pytest.raises(NotFound), transaction(store) as session:
        cancel_order(session, order_no=order_no, openid="o_someone_else", reason="mine now")


def test_cancelling_releases_the_stock(store: sessionmaker[Session]) -> None:
    order_no = checkout(store, "o_cancel", {"lipstick-test-316": 1})
    assert stock_of(store, "lipstick-test-316") == 0
    with transaction(store) as session:
        cancel_order(session, order_no=order_no, openid="o_cancel", reason="changed my mind")
    assert stock_of(store, "lipstick-test-316") == 1
    assert event_kinds(store, order_no) == ["order_placed", "order_cancelled"]
    with pytest.raises(IllegalTransition), transaction(store) as session:  # twice is not twice the stock
        cancel_order(session, order_no=order_no, reason="again")
    assert stock_of(store, "lipstick-test-316") == 1


def _paid(store: sessionmaker[Session], openid: str) -> str:
    """An order forced to paid through the state machine (payments have their own tests)."""
    from commerce.orders import lock_order, transition
    from commerce.states import OrderStatus

    order_no = checkout(store, openid, {"shirt-test-white-L": 1}, now=NOW)
    with transaction(store) as session:
        transition(session, lock_order(session, order_no=order_no), OrderStatus.PAID, reason="test", actor="test",
                   now=NOW)
    return order_no


def test_ship_deliver_and_auto_complete(store: sessionmaker[Session]) -> None:
    order_no = _paid(store, "o_ship")
    # bad tracking numbers are refused
    with pytest.raises(InvalidInput), transaction(store) as session:
        ship_order(session, order_no=order_no, carrier="顺丰", tracking_no="SF 1234/5")
    with transaction(store) as session:
        ship_order(session, order_no=order_no, carrier="顺丰速运", tracking_no="SF1234567890", now=NOW)
    # when the clock passes auto_deliver_days, then auto_complete_days
    moved = advance_due_orders(store, now=NOW + timedelta(days=10, seconds=1), deliver_after_days=10,
                               complete_after_days=7)
    assert moved == 1
    assert advance_due_orders(store, now=NOW + timedelta(days=17), deliver_after_days=10, complete_after_days=7) == 0
    assert advance_due_orders(store, now=NOW + timedelta(days=17, seconds=2), deliver_after_days=10,
                              complete_after_days=7) == 1
    # then the order went shipped -> delivered -> completed, each step an event for the bot
    assert [t for _, t in transitions(store, order_no)] == ["pending_payment", "paid", "shipped", "delivered",
                                                             "completed"]
    with store() as session:
        order = get_order(session, order_no=order_no)
        assert (order.carrier, order.tracking_no) == ("顺丰速运", "SF1234567890")
    with transaction(store) as session:
        shipped = [e for e in claim_events(session, consumer="bot") if e.kind == EventKind.ORDER_SHIPPED]
        assert shipped[0].payload["tracking_no"] == "SF1234567890"


def test_a_refund_request_and_the_customer_confirming_delivery(store: sessionmaker[Session]) -> None:
    order_no = _paid(store, "o_refund_ask")
    with pytest.raises(IllegalTransition), transaction(store) as session:
        mark_delivered(session, order_no=order_no, openid="o_refund_ask")  # not shipped yet
    with transaction(store) as session:
        request_refund(session, order_no=order_no, openid="o_refund_ask", reason="尺码不合适")
    with pytest.raises(IllegalTransition), transaction(store) as session:
        request_refund(session, order_no=order_no, openid="o_refund_ask", reason="again")
    with store() as session:
        order = get_order(session, order_no=order_no)
        assert (order.status, order.resume_status, order.refund_reason) == ("refunding", "paid", "尺码不合适")
    assert event_kinds(store, order_no)[-1] == "refund_requested"


def test_only_a_delivered_order_is_completed_a_refunding_one_waits_for_staff(store: sessionmaker[Session]) -> None:
    # given a delivered order whose customer then asked for a refund
    order_no = _paid(store, "o_complete_dispute")
    with transaction(store) as session:
        ship_order(session, order_no=order_no, carrier="顺丰速运", tracking_no="SF1234567890", now=NOW)
        mark_delivered(session, order_no=order_no, now=NOW)
        request_refund(session, order_no=order_no, reason="质量问题", now=NOW)
    # when completing it is tried (the ageing job picked it before the request came)
    with pytest.raises(IllegalTransition), transaction(store) as session:
        complete_order(session, order_no=order_no, now=NOW)
    # then the dispute stands: refunding, nothing audited beyond the request
    assert [t for _, t in transitions(store, order_no)][-1] == "refunding"


# ----- the auto-deliver and auto-complete clocks stand still while an order is refunding ----------
# The scheduler's defaults: delivered 10 days after shipping, completed 7 days after delivery.

def _shipped(store: sessionmaker[Session], openid: str, at: datetime) -> str:
    order_no = _paid(store, openid)
    with transaction(store) as session:
        ship_order(session, order_no=order_no, carrier="顺丰速运", tracking_no="SF1234567890", now=at)
    return order_no


def _dispute(store: sessionmaker[Session], order_no: str, *, asked: datetime, declined: datetime) -> None:
    """The customer asks for a refund at `asked`; staff decline it at `declined`."""
    with transaction(store) as session:
        request_refund(session, order_no=order_no, reason="质量问题", now=asked)
    with transaction(store) as session:
        decline_refund(session, order_no=order_no, reason="商品无质量问题", now=declined)


def test_a_declined_refund_request_leaves_the_customer_the_days_they_had_to_receive(
    store: sessionmaker[Session],
) -> None:
    # given an order shipped at NOW, a refund asked for 3 days later and declined 15 days after that
    order_no = _shipped(store, "o_clock_ship", NOW)
    declined = NOW + timedelta(days=18)
    _dispute(store, order_no, asked=NOW + timedelta(days=3), declined=declined)
    # then the scheduler does not deliver it at once, but once the 7 days it had left have passed
    assert statuses_around(store, order_no, start=declined, days=7) == ["shipped", "shipped", "delivered"]
    with store() as session:
        assert get_order(session, order_no=order_no).delivered_at == declined + timedelta(days=7, seconds=1)


def test_a_declined_refund_request_leaves_the_customer_the_days_they_had_to_inspect(
    store: sessionmaker[Session],
) -> None:
    # given an order received 2 days after shipping, a refund asked for 5 days later and declined 20 days after that
    order_no = _shipped(store, "o_clock_deliver", NOW)
    with transaction(store) as session:
        mark_delivered(session, order_no=order_no, openid="o_clock_deliver", now=NOW + timedelta(days=2))
    declined = NOW + timedelta(days=27)
    _dispute(store, order_no, asked=NOW + timedelta(days=7), declined=declined)
    # then the scheduler does not complete it at once, but once the 2 days it had left have passed
    assert statuses_around(store, order_no, start=declined, days=2) == ["delivered", "delivered", "completed"]


def test_each_dispute_pauses_only_the_clock_it_interrupted(store: sessionmaker[Session]) -> None:
    # given an order shipped at NOW and disputed twice while shipped, for 2 and then 3 days
    order_no = _shipped(store, "o_clock_twice", NOW)
    _dispute(store, order_no, asked=NOW + timedelta(days=1), declined=NOW + timedelta(days=3))
    _dispute(store, order_no, asked=NOW + timedelta(days=4), declined=NOW + timedelta(days=7))
    # then it counts as delivered 10 + 5 days after shipping
    assert statuses_around(store, order_no, start=NOW, days=15) == ["shipped", "shipped", "delivered"]
    # and the disputes before delivery do not lengthen the 7 days after it
    delivered = NOW + timedelta(days=15, seconds=1)
    assert statuses_around(store, order_no, start=delivered, days=7) == ["delivered", "delivered", "completed"]


def test_an_order_held_back_by_a_dispute_does_not_hold_back_the_orders_due(store: sessionmaker[Session]) -> None:
    # given an order shipped at NOW and disputed for 9 days (due at day 19), and one shipped a day later
    held = _shipped(store, "o_clock_held", NOW)
    _dispute(store, held, asked=NOW + timedelta(days=1), declined=NOW + timedelta(days=10))
    plain = _shipped(store, "o_clock_plain", NOW + timedelta(days=1))
    # when the job, reading one order at a time, runs on day 11
    assert advance_due_orders(store, now=NOW + timedelta(days=11, seconds=1), deliver_after_days=10,
                              complete_after_days=7, limit=1) == 1
    # then the order never disputed is delivered on time, and the other waits
    assert (status_of(store, plain), status_of(store, held)) == ("delivered", "shipped")


def test_one_run_moves_every_order_due_however_many(store: sessionmaker[Session]) -> None:
    # given five orders shipped at NOW, and a job reading two at a time
    orders = [_shipped(store, f"o_batch_{n}", NOW) for n in range(5)]
    # when it runs once they are due
    assert advance_due_orders(store, now=NOW + timedelta(days=10, seconds=1), deliver_after_days=10,
                              complete_after_days=7, limit=2) == 5
    # then none is left for the next run
    assert {status_of(store, order_no) for order_no in orders} == {"delivered"}


def test_an_order_number_taken_by_a_concurrent_order_is_drawn_again(store: sessionmaker[Session]) -> None:
    # given an order holding a number
    taken = checkout(store, "o_first", {"shirt-test-white-L": 1}, now=NOW)
    # when the next order draws the same number first (six random digits clash in a busy second)
    draws = iter([taken, "20261123023005000042"])
    with transaction(store) as session:
        order = insert_order(session, lambda no: Order(
            order_no=no, openid="o_second", status="pending_payment", amount_fen=19900, refunded_fen=0,
            address=address(), description="测试", created_at=NOW, expires_at=NOW), NOW, draw=lambda _: next(draws))
    # then it is placed under the next number and the first order is untouched
    assert order.order_no == "20261123023005000042"
    with store() as session:
        assert get_order(session, order_no=taken).openid == "o_first"
