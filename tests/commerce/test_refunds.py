"""Refunds, partial and full, through the sandbox's WeChat Pay and its refund notices."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from commerce.db import transaction
from commerce.errors import RefundRefused
from commerce.models import Refund
from commerce.orders import decline_refund, get_order, request_refund
from commerce.payments import receive_payment_notice
from commerce.refunds import SettleOutcome, apply_refund_notice, refund_order, submit_pending_refunds
from commerce.wechatpay import WeChatPay
from tests.commerce.helpers import checkout, event_kinds, stock_of, transitions
from tests.commerce.pay_flow import alerts, customer_pays, prepay, refund_notices
from tests.pay.support import PaySandbox


def _paid_order(store: sessionmaker[Session], sandbox: PaySandbox, openid: str) -> tuple[str, WeChatPay]:
    order_no = checkout(store, openid, {"dress-test-red-M": 2})  # 518.00 yuan
    client = prepay(store, sandbox, order_no, openid)
    receive_payment_notice(store, pay=client, notice=customer_pays(sandbox, order_no))
    return order_no, client


def _refund(store: sessionmaker[Session], order_no: str, amount_fen: int | None, reason: str = "质量问题") -> str:
    with transaction(store) as session:
        return refund_order(session, order_no=order_no, amount_fen=amount_fen, reason=reason).out_refund_no


def _settle_all(store: sessionmaker[Session], sandbox: PaySandbox) -> list[SettleOutcome]:
    outcomes = []
    for notice in refund_notices(sandbox):
        with transaction(store) as session:
            outcomes.append(apply_refund_notice(session, notice=notice, expected_mchid=sandbox.merchant.mchid).outcome)
    sandbox.receiver.clear()
    return outcomes


def _order(store: sessionmaker[Session], order_no: str) -> tuple[str, int]:
    with store() as session:
        order = get_order(session, order_no=order_no)
        return order.status, order.refunded_fen


def test_partial_refunds_then_the_rest(store: sessionmaker[Session], pay_sandbox: PaySandbox) -> None:
    order_no, client = _paid_order(store, pay_sandbox, "o_refund")
    pay_sandbox.receiver.clear()
    # when staff refund 100.00 yuan of 518.00
    first = _refund(store, order_no, 10000)
    assert submit_pending_refunds(store, pay=client) == 1
    assert _settle_all(store, pay_sandbox) == [SettleOutcome.SUCCEEDED]
    # then the order stays paid, 100.00 refunded
    assert _order(store, order_no) == ("paid", 10000)
    # and more than what is left is refused
    with pytest.raises(RefundRefused):
        _refund(store, order_no, 41801)
    # when the rest is refunded
    second = _refund(store, order_no, None)
    assert _order(store, order_no) == ("refunding", 10000)
    submit_pending_refunds(store, pay=client)
    assert _settle_all(store, pay_sandbox) == [SettleOutcome.SUCCEEDED]
    # then the order is refunded, and the never-shipped dresses are back on sale
    assert _order(store, order_no) == ("refunded", 51800)
    assert stock_of(store, "dress-test-red-M") == 5
    assert (first, second) == (f"{order_no}R01", f"{order_no}R02")
    kinds = event_kinds(store, order_no)
    assert kinds.count("refund_started") == 2 and kinds.count("refund_succeeded") == 2 and kinds[-1] == "order_refunded"
    assert transitions(store, order_no)[-2:] == [("paid", "refunding"), ("refunding", "refunded")]


def test_a_duplicate_refund_notice_changes_nothing(store: sessionmaker[Session], pay_sandbox: PaySandbox) -> None:
    order_no, client = _paid_order(store, pay_sandbox, "o_refund_dup")
    pay_sandbox.receiver.clear()
    _refund(store, order_no, 5000)
    submit_pending_refunds(store, pay=client)
    [notice] = refund_notices(pay_sandbox)
    outcomes = []
    for _ in range(3):
        with transaction(store) as session:
            outcomes.append(apply_refund_notice(session, notice=notice).outcome)
    assert outcomes == [SettleOutcome.SUCCEEDED, SettleOutcome.DUPLICATE, SettleOutcome.DUPLICATE]
    assert _order(store, order_no) == ("paid", 5000)


def test_a_failed_full_refund_returns_the_order_and_alerts(
    store: sessionmaker[Session], pay_sandbox: PaySandbox
) -> None:
    # given a customer's refund request, and WeChat Pay that will not settle refunds by itself
    order_no, client = _paid_order(store, pay_sandbox, "o_refund_fail")
    pay_sandbox.receiver.clear()
    pay_sandbox.http.post("/control/pay/settings", json={"refunds_settle": False}).raise_for_status()
    with transaction(store) as session:
        request_refund(session, order_no=order_no, openid="o_refund_fail", reason="不想要了")
    refund_no = _refund(store, order_no, None, reason="顾客申请退款")
    assert submit_pending_refunds(store, pay=client) == 1
    with store() as session:
        assert session.scalars(select(Refund.status)).one() == "processing"
    # when WeChat Pay reports the refund ABNORMAL
    pay_sandbox.http.post(f"/control/pay/refunds/{refund_no}/settle", json={"status": "ABNORMAL"}).raise_for_status()
    assert _settle_all(store, pay_sandbox) == [SettleOutcome.FAILED]
    # then the order is back to paid, nothing counted as refunded, and staff are alerted
    assert _order(store, order_no) == ("paid", 0)
    assert alerts(store) == [("refund_failed", order_no)]
    assert "refund_failed" in event_kinds(store, order_no)


def test_staff_can_decline_a_refund_request(store: sessionmaker[Session], pay_sandbox: PaySandbox) -> None:
    order_no, _ = _paid_order(store, pay_sandbox, "o_refund_decline")
    with transaction(store) as session:
        request_refund(session, order_no=order_no, openid="o_refund_decline", reason="不想要了")
    with transaction(store) as session:
        decline_refund(session, order_no=order_no, reason="已超过七天无理由退货期")
    assert _order(store, order_no) == ("paid", 0)
    assert [t for _, t in transitions(store, order_no)][-2:] == ["refunding", "paid"]
