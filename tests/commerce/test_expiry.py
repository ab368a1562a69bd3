"""Unpaid orders expire through the job with a moved clock: WeChat Pay's order is closed first;
payments that arrive late are never lost (stock reserved again, or refunded automatically)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from commerce.models import Refund
from commerce.orders import cancel_order, get_order
from commerce.payments import ApplyOutcome, receive_payment_notice
from commerce.refunds import apply_refund_notice
from scheduler.config import SchedulerConfig
from scheduler.jobs import CommerceJobs
from storage.clock import utcnow
from storage.db import transaction
from tests.support.commerce import checkout, event_kinds, status_of, stock_of
from tests.support.pay import PaySandbox
from tests.support.pay_flow import alerts, customer_pays, prepay, refund_notices

TTL = timedelta(seconds=1800)


def _jobs(factory: sessionmaker[Session], sandbox: PaySandbox) -> CommerceJobs:
    return CommerceJobs(factory=factory, pay=sandbox.client(), config=SchedulerConfig())



def test_an_expired_order_is_closed_at_wechat_pay_then_cancelled(
    store: sessionmaker[Session], pay_sandbox: PaySandbox
) -> None:
    # given an unpaid order with a WeChat Pay prepay
    placed = utcnow()
    order_no = checkout(store, "o_exp", {"dress-test-red-M": 2}, now=placed)
    prepay(store, pay_sandbox, order_no, "o_exp")
    jobs = _jobs(store, pay_sandbox)
    # when the expiry job runs before and after expires_at
    assert jobs.expire_orders(now=placed + TTL - timedelta(seconds=1)) == 0
    assert jobs.expire_orders(now=placed + TTL) == 1
    # then WeChat Pay shows the order CLOSED, it was closed before we cancelled, and the stock is back
    assert pay_sandbox.transaction(order_no)["trade_state"] == "CLOSED"
    assert len(pay_sandbox.calls("pay/close")) == 1
    assert status_of(store, order_no) == "cancelled" and stock_of(store, "dress-test-red-M") == 5
    assert event_kinds(store, order_no) == ["order_placed", "order_cancelled"]
    # and a second run has nothing to do
    assert jobs.expire_orders(now=placed + TTL * 2) == 0


def test_an_order_never_prepaid_expires_too(store: sessionmaker[Session], pay_sandbox: PaySandbox) -> None:
    placed = utcnow()
    order_no = checkout(store, "o_exp_noprepay", {"lipstick-test-316": 1}, now=placed)
    assert _jobs(store, pay_sandbox).expire_orders(now=placed + TTL) == 1
    assert status_of(store, order_no) == "cancelled" and stock_of(store, "lipstick-test-316") == 1


def test_expiry_applies_a_payment_that_was_made_instead_of_cancelling(
    store: sessionmaker[Session], pay_sandbox: PaySandbox
) -> None:
    # given an order paid at WeChat Pay whose notice we never received
    placed = utcnow()
    order_no = checkout(store, "o_exp_paid", {"dress-test-red-L": 1}, now=placed)
    prepay(store, pay_sandbox, order_no, "o_exp_paid")
    customer_pays(pay_sandbox, order_no)
    # when expiry comes: close is refused (ORDERPAID), the query says SUCCESS
    assert _jobs(store, pay_sandbox).expire_orders(now=placed + TTL) == 0
    # then the payment was applied and the stock stays sold
    assert status_of(store, order_no) == "paid" and stock_of(store, "dress-test-red-L") == 2


def test_a_late_payment_reserves_the_stock_again(store: sessionmaker[Session], pay_sandbox: PaySandbox) -> None:
    # given an order we cancelled while the customer was paying (close had not reached WeChat Pay)
    order_no = checkout(store, "o_late", {"dress-test-red-M": 1})
    client = prepay(store, pay_sandbox, order_no, "o_late")
    with transaction(store) as session:
        cancel_order(session, order_no=order_no, reason="expired", actor="scheduler")
    assert stock_of(store, "dress-test-red-M") == 5
    # when the payment notice arrives
    notice = customer_pays(pay_sandbox, order_no)
    result = receive_payment_notice(store, pay=client, notice=notice)
    # then the order is paid and the unit reserved again
    assert result.outcome is ApplyOutcome.LATE_REAPPLIED and result.order_status == "paid"
    assert stock_of(store, "dress-test-red-M") == 4
    assert event_kinds(store, order_no) == ["order_placed", "order_cancelled", "order_paid"]


def test_a_late_payment_without_stock_is_refunded_automatically(
    store: sessionmaker[Session], pay_sandbox: PaySandbox
) -> None:
    # given a cancelled order whose only unit has been sold to someone else since
    order_no = checkout(store, "o_late_refund", {"lipstick-test-316": 1})
    client = prepay(store, pay_sandbox, order_no, "o_late_refund")
    with transaction(store) as session:
        cancel_order(session, order_no=order_no, reason="expired", actor="scheduler")
    checkout(store, "o_faster", {"lipstick-test-316": 1})
    # when the customer's payment arrives
    notice = customer_pays(pay_sandbox, order_no)
    result = receive_payment_notice(store, pay=client, notice=notice)
    # then the money goes back through WeChat Pay, with the reason recorded
    assert result.outcome is ApplyOutcome.LATE_REFUNDING and result.refund_no
    assert pay_sandbox.transaction(order_no)["trade_state"] == "REFUND"
    assert alerts(store) == [("late_payment_refunded", order_no)]
    assert "late_payment_refunded" in event_kinds(store, order_no)
    # and WeChat Pay's refund notice settles it; the order stays cancelled, no stock was taken
    [refund_notice] = refund_notices(pay_sandbox)
    with transaction(store) as session:
        apply_refund_notice(session, notice=refund_notice, expected_mchid=pay_sandbox.merchant.mchid)
    with store() as session:
        refund = session.scalars(select(Refund)).one()
        order = get_order(session, order_no=order_no)
        assert (refund.status, refund.amount_fen, refund.out_refund_no) == ("succeeded", 32000, result.refund_no)
        assert (order.status, order.refunded_fen) == ("cancelled", 32000)
    assert stock_of(store, "lipstick-test-316") == 0
