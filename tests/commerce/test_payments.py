"""Payments applied once, under a lock, against the sandbox's WeChat Pay: duplicates, concurrent
duplicates, wrong amounts and merchants, reconciliation of notices that never came."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from commerce.models import Payment
from commerce.orders import get_order
from commerce.payments import ApplyOutcome, ApplyResult, apply_payment_notice, reconcile_pending
from storage.clock import utcnow
from storage.db import transaction
from tests.support.commerce import checkout, event_kinds, status_of, stock_of, transitions
from tests.support.pay import PaySandbox, resource_json, seal_notification
from tests.support.pay_flow import alerts, customer_pays, prepay
from wechat.pay_notify import PaymentNotice


def _apply(factory: sessionmaker[Session], sandbox: PaySandbox, notice: PaymentNotice) -> ApplyResult:
    with transaction(factory) as session:
        return apply_payment_notice(session, notice=notice, expected_appid=sandbox.merchant.appid,
                                    expected_mchid=sandbox.merchant.mchid)



def test_a_payment_notice_is_applied_once_and_duplicates_change_nothing(
    store: sessionmaker[Session], pay_sandbox: PaySandbox
) -> None:
    # given an order the customer has paid at WeChat Pay
    order_no = checkout(store, "o_pay", {"dress-test-red-M": 2})
    prepay(store, pay_sandbox, order_no, "o_pay")
    notice = customer_pays(pay_sandbox, order_no)
    # when its notice arrives three times
    outcomes = [_apply(store, pay_sandbox, notice).outcome for _ in range(3)]
    # then it was applied once: one transition, one payment row keeping the transaction id
    assert outcomes == [ApplyOutcome.APPLIED, ApplyOutcome.DUPLICATE, ApplyOutcome.DUPLICATE]
    assert transitions(store, order_no) == [(None, "pending_payment"), ("pending_payment", "paid")]
    with store() as session:
        payments = list(session.scalars(select(Payment)))
        order = get_order(session, order_no=order_no)
    assert [(p.order_no, p.transaction_id, p.amount_fen) for p in payments] == [
        (order_no, notice.transaction_id, 2 * 25900)]
    assert order.transaction_id == notice.transaction_id and order.paid_at is not None
    assert event_kinds(store, order_no) == ["order_placed", "order_paid"]


def test_concurrent_duplicate_notices_make_one_transition(
    store: sessionmaker[Session], pay_sandbox: PaySandbox
) -> None:
    order_no = checkout(store, "o_pay_race", {"lipstick-test-999": 1})
    prepay(store, pay_sandbox, order_no, "o_pay_race")
    notice = customer_pays(pay_sandbox, order_no)
    barrier = threading.Barrier(6)
    outcomes: Counter[ApplyOutcome] = Counter()
    lock = threading.Lock()

    def deliver() -> None:
        barrier.wait()
        outcome = _apply(store, pay_sandbox, notice).outcome
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes == Counter({ApplyOutcome.APPLIED: 1, ApplyOutcome.DUPLICATE: 5})
    assert transitions(store, order_no)[1:] == [("pending_payment", "paid")]


def _forged_amount_notice(sandbox: PaySandbox, order_no: str, total: int, **fields: str) -> PaymentNotice:
    """A correctly signed notice whose contents do not match the order (as a buggy or hostile
    merchant-side proxy could produce): signed here with the test's platform key."""
    merchant = sandbox.merchant
    values = {"mchid": merchant.mchid, "appid": merchant.appid, "out_trade_no": order_no,
              "transaction_id": "4200000000202611230000000001", "openid": "o_pay_amount", "total": total} | fields
    sealed = seal_notification(merchant, "TRANSACTION.SUCCESS", resource_json("transaction_success", **values))
    return merchant.verifier().payment(sealed.headers, sealed.body)


def test_a_wrong_amount_leaves_the_order_unpaid_and_records_one_alert(
    store: sessionmaker[Session], pay_sandbox: PaySandbox
) -> None:
    order_no = checkout(store, "o_pay_amount", {"shirt-test-white-L": 1})
    notice = _forged_amount_notice(pay_sandbox, order_no, total=1)
    # when the mismatched notice arrives (and is retried)
    results = [_apply(store, pay_sandbox, notice) for _ in range(2)]
    # then the order stays unpaid and one alert says why
    assert [r.outcome for r in results] == [ApplyOutcome.AMOUNT_MISMATCH] * 2 and not results[0].accepted
    assert status_of(store, order_no) == "pending_payment"
    assert alerts(store) == [("amount_mismatch", order_no)]
    assert "payment_alert" in event_kinds(store, order_no)


def test_another_merchant_or_an_unknown_order_is_refused_with_an_alert(
    store: sessionmaker[Session], pay_sandbox: PaySandbox
) -> None:
    order_no = checkout(store, "o_pay_mch", {"shirt-test-white-L": 1})
    good = _forged_amount_notice(pay_sandbox, order_no, total=19900)
    other = dataclasses.replace(good, mchid="1900000001", transaction_id="4200000000202611230000000002")
    unknown = dataclasses.replace(good, out_trade_no="20261123000000999999",
                                  transaction_id="4200000000202611230000000003")
    assert _apply(store, pay_sandbox, other).outcome is ApplyOutcome.MERCHANT_MISMATCH
    assert _apply(store, pay_sandbox, unknown).outcome is ApplyOutcome.UNKNOWN_ORDER
    assert status_of(store, order_no) == "pending_payment"
    assert alerts(store) == [("merchant_mismatch", order_no), ("unknown_order", "20261123000000999999")]


def test_reconciliation_applies_a_payment_whose_notice_never_came(
    store: sessionmaker[Session], pay_sandbox: PaySandbox
) -> None:
    # given a paid order whose notification was lost
    order_no = checkout(store, "o_pay_lost", {"dress-test-red-L": 1})
    client = prepay(store, pay_sandbox, order_no, "o_pay_lost")
    customer_pays(pay_sandbox, order_no)
    # when reconciliation runs before the grace period: nothing; after it: the order is paid
    now = utcnow()
    assert reconcile_pending(store, pay=client, now=now, older_than_s=300) == 0
    assert reconcile_pending(store, pay=client, now=now + timedelta(seconds=301), older_than_s=300) == 1
    assert status_of(store, order_no) == "paid"
    with store() as session:
        assert session.scalars(select(Payment.source)).all() == ["query"]
    assert stock_of(store, "dress-test-red-L") == 2


def test_a_notice_arriving_after_reconciliation_applied_the_payment_changes_nothing(
    store: sessionmaker[Session], pay_sandbox: PaySandbox
) -> None:
    # given a payment reconciliation found first (the notice was delayed by retries)
    order_no = checkout(store, "o_pay_late_notice", {"shirt-test-white-L": 2})
    client = prepay(store, pay_sandbox, order_no, "o_pay_late_notice")
    notice = customer_pays(pay_sandbox, order_no)
    assert reconcile_pending(store, pay=client, now=utcnow() + timedelta(seconds=301), older_than_s=300) == 1
    # when the notice finally arrives
    result = _apply(store, pay_sandbox, notice)
    # then it is a duplicate: one transition, one payment row
    assert result.outcome is ApplyOutcome.DUPLICATE and result.accepted
    assert transitions(store, order_no)[1:] == [("pending_payment", "paid")]
    with store() as session:
        assert len(session.scalars(select(Payment)).all()) == 1
