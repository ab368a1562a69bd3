"""The order state table: every allowed transition works and is audited; every other one raises."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import delete, update
from sqlalchemy.orm import Session, sessionmaker

from commerce.errors import IllegalTransition
from commerce.models import Order, OrderEvent
from commerce.orders import get_order, lock_order, transition
from commerce.states import ALLOWED_TRANSITIONS, OrderStatus
from storage.clock import utcnow
from storage.db import transaction
from tests.support.commerce import checkout, transitions

S = OrderStatus
ALL_PAIRS = list(itertools.product(OrderStatus, OrderStatus))
ALLOWED = [(a, b) for a, b in ALL_PAIRS if b in ALLOWED_TRANSITIONS[a]]
FORBIDDEN = [(a, b) for a, b in ALL_PAIRS if b not in ALLOWED_TRANSITIONS[a]]


def test_the_table_covers_every_state_and_the_lifecycle() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(OrderStatus)
    # The happy path and the ways out of it, as the issue lists them.
    for step in [(S.PENDING_PAYMENT, S.PAID), (S.PAID, S.SHIPPED), (S.SHIPPED, S.DELIVERED),
                 (S.DELIVERED, S.COMPLETED), (S.PENDING_PAYMENT, S.CANCELLED), (S.PAID, S.REFUNDING),
                 (S.REFUNDING, S.REFUNDED), (S.CANCELLED, S.PAID)]:
        assert step in ALLOWED
    assert ALLOWED_TRANSITIONS[S.REFUNDED] == frozenset()
    assert (S.PENDING_PAYMENT, S.SHIPPED) in FORBIDDEN and (S.CANCELLED, S.REFUNDED) in FORBIDDEN


def _force_status(factory: sessionmaker[Session], order_no: str, status: OrderStatus) -> None:
    with transaction(factory) as session:
        session.execute(update(Order).where(Order.order_no == order_no).values(status=status.value))
        session.execute(delete(OrderEvent).where(OrderEvent.order_no == order_no))


def _try(factory: sessionmaker[Session], order_no: str, target: OrderStatus) -> None:
    with transaction(factory) as session:
        order = lock_order(session, order_no=order_no)
        transition(session, order, target, reason="table test", actor="test", now=utcnow())


@pytest.mark.parametrize("current,target", ALLOWED, ids=[f"{a}->{b}" for a, b in ALLOWED])
def test_an_allowed_transition_changes_the_state_and_writes_an_event_row(
    store: sessionmaker[Session], current: OrderStatus, target: OrderStatus
) -> None:
    # given an order in `current`
    order_no = checkout(store, "o_state", {"shirt-test-white-L": 1})
    _force_status(store, order_no, current)
    # when it moves to `target`
    _try(store, order_no, target)
    # then it is there, with one audit row saying so
    with store() as session:
        assert get_order(session, order_no=order_no).status == target.value
    assert transitions(store, order_no) == [(current.value, target.value)]


def test_every_forbidden_transition_raises_and_changes_nothing(store: sessionmaker[Session]) -> None:
    order_no = checkout(store, "o_state", {"shirt-test-white-L": 1})
    for current, target in FORBIDDEN:
        # given an order in `current`
        _force_status(store, order_no, current)
        # when something tries to move it to `target`
        with pytest.raises(IllegalTransition) as raised:
            _try(store, order_no, target)
        # then it is refused naming both states, the state is unchanged and nothing was audited
        assert raised.value.code == "ILLEGAL_TRANSITION"
        assert raised.value.details() == {"order_no": order_no, "status": current.value, "target": target.value}
        with store() as session:
            assert get_order(session, order_no=order_no).status == current.value, (current, target)
        assert transitions(store, order_no) == []
