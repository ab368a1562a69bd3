"""Stock under concurrent checkouts: never oversold, no deadlock, OutOfStock names the SKU."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from commerce.cart import add_to_cart
from commerce.catalog import adjust_stock, set_stock
from commerce.errors import InvalidInput, OutOfStock
from commerce.models import Order
from commerce.orders import place_order
from storage.clock import utcnow
from storage.db import transaction
from tests.support.commerce import address, checkout, stock_of


def _race(factory: sessionmaker[Session], carts: dict[str, dict[str, int]]) -> Counter[str]:
    """Every customer checks out at the same moment; returns outcome counts (placed / out:<sku>)."""
    for openid, items in carts.items():
        with transaction(factory) as session:
            for sku_id, quantity in items.items():
                add_to_cart(session, openid=openid, sku_id=sku_id, quantity=quantity)
    barrier = threading.Barrier(len(carts))
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def buy(openid: str) -> None:
        barrier.wait()
        try:
            with transaction(factory) as session:
                place_order(session, openid=openid, address=address(), now=utcnow())
            outcome = "placed"
        except OutOfStock as exc:
            outcome = f"out:{exc.sku_id}"
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=buy, args=(openid,)) for openid in carts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a checkout hung"
    return outcomes


def _orders(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(Order)) or 0


def test_concurrent_checkouts_never_sell_more_than_there_is(store: sessionmaker[Session]) -> None:
    # given 5 red M dresses and 16 customers each wanting one
    carts = {f"o_race_{i}": {"dress-test-red-M": 1} for i in range(16)}
    # when they all check out at once
    outcomes = _race(store, carts)
    # then exactly 5 orders exist, the other 11 were told which SKU ran out, and stock is 0
    assert outcomes == Counter({"placed": 5, "out:dress-test-red-M": 11})
    assert _orders(store) == 5
    assert stock_of(store, "dress-test-red-M") == 0


def test_crossing_multi_sku_checkouts_neither_deadlock_nor_oversell(store: sessionmaker[Session]) -> None:
    # given carts holding the same two SKUs, added in opposite orders
    carts = {}
    for i in range(12):
        pair = [("dress-test-red-L", 1), ("lipstick-test-999", 1)]
        carts[f"o_cross_{i}"] = dict(pair if i % 2 else list(reversed(pair)))
    # when they check out together
    outcomes = _race(store, carts)
    # then the 3 L dresses went to 3 customers, whole orders only, and nothing went negative
    assert outcomes["placed"] == 3 and sum(outcomes.values()) == 12
    assert stock_of(store, "dress-test-red-L") == 0
    assert stock_of(store, "lipstick-test-999") == 10 - 3


def test_an_order_short_of_one_sku_takes_nothing(store: sessionmaker[Session]) -> None:
    # given a cart with plenty of shirts but 2 of a lipstick that has 1 left
    with pytest.raises(OutOfStock) as refused:
        checkout(store, "o_short", {"shirt-test-white-L": 3, "lipstick-test-316": 2})
    # then the refusal names the SKU, and the shirts were not taken either
    assert refused.value.sku_id == "lipstick-test-316" and refused.value.code == "OUT_OF_STOCK"
    assert refused.value.details() == {"sku_id": "lipstick-test-316"}
    assert stock_of(store, "shirt-test-white-L") == 100 and _orders(store) == 0


def test_staff_stock_changes_never_go_below_zero(store: sessionmaker[Session]) -> None:
    with transaction(store) as session:
        assert adjust_stock(session, sku_id="lipstick-test-316", delta=4) == 5
        assert set_stock(session, sku_id="dress-test-red-M", stock=7) == 7
    with pytest.raises(InvalidInput), transaction(store) as session:
        adjust_stock(session, sku_id="lipstick-test-316", delta=-6)
    assert stock_of(store, "lipstick-test-316") == 5 and stock_of(store, "dress-test-red-M") == 7
