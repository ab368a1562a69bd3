"""Refunds, partial and full, through the sandbox's WeChat Pay and its refund notices."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from commerce.errors import IllegalTransition, RefundRefused
from commerce.models import OutboxEvent, Refund
from commerce.orders import (
    complete_order,
    decline_refund,
    get_order,
    lock_order,
    mark_delivered,
    request_refund,
    resume_order,
    ship_order,
)
from commerce.outbox import claim_events
from commerce.payments import receive_payment_notice
from commerce.refunds import SettleOutcome, apply_refund_notice, refund_order, submit_pending_refunds
from commerce.states import EventKind
from storage.clock import utcnow
from storage.db import transaction
from tests.support.commerce import checkout, event_kinds, statuses_around, stock_of, transitions
from tests.support.pay import PaySandbox
from tests.support.pay_flow import alerts, customer_pays, prepay, refund_notices
from wechat.pay import WeChatPay


def _paid_order(store: sessionmaker[Session], sandbox: PaySandbox, openid: str) -> tuple[str, WeChatPay]:
    order_no = checkout(store, openid, {"dress-test-red-M": 2})  # 518.00 yuan
    client = prepay(store, sandbox, order_no, openid)
    receive_payment_notice(store, pay=client, notice=customer_pays(sandbox, order_no))
    return order_no, client


def _refund(
    store: sessionmaker[Session], order_no: str, amount_fen: int | None, reason: str = "质量问题",
    now: datetime | None = None,
) -> str:
    with transaction(store) as session:
        return refund_order(session, order_no=order_no, amount_fen=amount_fen, reason=reason, now=now).out_refund_no


def _settle_all(store: sessionmaker[Session], sandbox: PaySandbox, now: datetime | None = None) -> list[SettleOutcome]:
    outcomes = []
    for notice in refund_notices(sandbox):
        with transaction(store) as session:
            outcomes.append(apply_refund_notice(session, notice=notice, expected_mchid=sandbox.merchant.mchid,
                                                now=now).outcome)
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


def _ask_for_refund(store: sessionmaker[Session], order_no: str, openid: str) -> None:
    with transaction(store) as session:
        request_refund(session, order_no=order_no, openid=openid, reason="不想要了")


def _hold_refunds(sandbox: PaySandbox) -> None:
    """WeChat Pay will keep refunds PROCESSING until the test settles them by hand."""
    sandbox.http.post("/control/pay/settings", json={"refunds_settle": False}).raise_for_status()


def _wechatpay_settles(
    store: sessionmaker[Session], sandbox: PaySandbox, refund_no: str, status: str, now: datetime | None = None
) -> None:
    sandbox.http.post(f"/control/pay/refunds/{refund_no}/settle", json={"status": status}).raise_for_status()
    expected = SettleOutcome.SUCCEEDED if status == "SUCCESS" else SettleOutcome.FAILED
    assert _settle_all(store, sandbox, now) == [expected]


def _payloads(store: sessionmaker[Session], order_no: str, kind: str) -> list[dict[str, object]]:
    with store() as session:
        query = select(OutboxEvent.payload).where(OutboxEvent.order_no == order_no, OutboxEvent.kind == kind)
        return list(session.scalars(query.order_by(OutboxEvent.id)))


def test_a_partial_refund_answers_a_refund_request(store: sessionmaker[Session], pay_sandbox: PaySandbox) -> None:
    # given a shipped order whose customer asks for all of it back
    order_no, client = _paid_order(store, pay_sandbox, "o_refund_part_answer")
    pay_sandbox.receiver.clear()
    with transaction(store) as session:
        ship_order(session, order_no=order_no, carrier="顺丰速运", tracking_no="SF1234567890")
    _ask_for_refund(store, order_no, "o_refund_part_answer")
    # when staff refund 100.00 yuan of the 518.00 and WeChat Pay returns it
    _refund(store, order_no, 10000, reason="部分退款")
    assert _order(store, order_no) == ("refunding", 0)
    submit_pending_refunds(store, pay=client)
    assert _settle_all(store, pay_sandbox) == [SettleOutcome.SUCCEEDED]
    # then the request is answered: the order is back where it was, with what came back recorded
    assert _order(store, order_no) == ("shipped", 10000)
    assert transitions(store, order_no)[-2:] == [("shipped", "refunding"), ("refunding", "shipped")]
    assert event_kinds(store, order_no)[-2:] == ["refund_succeeded", "order_partly_refunded"]
    [told] = _payloads(store, order_no, "order_partly_refunded")
    assert (told["from"], told["to"]) == ("refunding", "shipped")
    assert (told["refund_fen"], told["refunded_fen"], told["amount_fen"]) == (10000, 10000, 51800)
    with store() as session:
        assert get_order(session, order_no=order_no).resume_status is None
    # and there is no request left to decline
    with pytest.raises(IllegalTransition), transaction(store) as session:
        decline_refund(session, order_no=order_no, reason="已处理")
    # when staff later refund a little more, the order keeps its state
    _refund(store, order_no, 5000, reason="补偿运费")
    submit_pending_refunds(store, pay=client)
    _settle_all(store, pay_sandbox)
    assert _order(store, order_no) == ("shipped", 15000)
    # and when they refund the rest, it is refunded (shipped goods do not go back on sale)
    _refund(store, order_no, None, reason="退货已收到")
    submit_pending_refunds(store, pay=client)
    _settle_all(store, pay_sandbox)
    assert _order(store, order_no) == ("refunded", 51800)
    assert transitions(store, order_no)[-2:] == [("shipped", "refunding"), ("refunding", "refunded")]
    assert event_kinds(store, order_no)[-1] == "order_refunded"
    assert stock_of(store, "dress-test-red-M") == 3


def test_a_customer_can_ask_again_after_a_partial_answer(
    store: sessionmaker[Session], pay_sandbox: PaySandbox
) -> None:
    # given a request answered with part of the money
    order_no, client = _paid_order(store, pay_sandbox, "o_refund_ask_again")
    pay_sandbox.receiver.clear()
    _ask_for_refund(store, order_no, "o_refund_ask_again")
    _refund(store, order_no, 20000)
    submit_pending_refunds(store, pay=client)
    _settle_all(store, pay_sandbox)
    assert _order(store, order_no) == ("paid", 20000)
    # when the customer asks again and staff refund the rest
    _ask_for_refund(store, order_no, "o_refund_ask_again")
    _refund(store, order_no, None)
    submit_pending_refunds(store, pay=client)
    _settle_all(store, pay_sandbox)
    # then the order is refunded, and the unshipped dresses are back on sale
    assert _order(store, order_no) == ("refunded", 51800)
    assert stock_of(store, "dress-test-red-M") == 5


def test_a_failed_partial_answer_returns_the_order(store: sessionmaker[Session], pay_sandbox: PaySandbox) -> None:
    # given a customer's refund request answered with a partial refund that WeChat Pay holds
    order_no, client = _paid_order(store, pay_sandbox, "o_refund_part_fail")
    pay_sandbox.receiver.clear()
    _hold_refunds(pay_sandbox)
    _ask_for_refund(store, order_no, "o_refund_part_fail")
    refund_no = _refund(store, order_no, 10000)
    submit_pending_refunds(store, pay=client)
    # when WeChat Pay reports it CLOSED
    _wechatpay_settles(store, pay_sandbox, refund_no, "CLOSED")
    # then the order is back to paid as after any failed refund, nothing refunded, staff alerted
    assert _order(store, order_no) == ("paid", 0)
    assert transitions(store, order_no)[-1] == ("refunding", "paid")
    assert alerts(store) == [("refund_failed", order_no)]
    kinds = event_kinds(store, order_no)
    assert "refund_failed" in kinds and "order_partly_refunded" not in kinds


def test_a_request_waits_for_every_refund_that_answers_it(
    store: sessionmaker[Session], pay_sandbox: PaySandbox
) -> None:
    # given a refund request answered with two partial refunds, both on their way
    order_no, client = _paid_order(store, pay_sandbox, "o_refund_two_parts")
    pay_sandbox.receiver.clear()
    _hold_refunds(pay_sandbox)
    _ask_for_refund(store, order_no, "o_refund_two_parts")
    first, second = _refund(store, order_no, 10000), _refund(store, order_no, 3000)
    assert submit_pending_refunds(store, pay=client) == 2
    # when the first comes back, the order waits for the second
    _wechatpay_settles(store, pay_sandbox, first, "SUCCESS")
    assert _order(store, order_no) == ("refunding", 10000)
    # and when the second fails, the request has still been answered with the first
    _wechatpay_settles(store, pay_sandbox, second, "ABNORMAL")
    assert _order(store, order_no) == ("paid", 10000)
    [told] = _payloads(store, order_no, "order_partly_refunded")
    assert told["refunded_fen"] == 10000
    assert alerts(store) == [("refund_failed", order_no)]


@pytest.mark.parametrize("result", ["SUCCESS", "ABNORMAL"])
def test_a_refund_made_before_the_request_does_not_answer_it(
    store: sessionmaker[Session], pay_sandbox: PaySandbox, result: str
) -> None:
    # given a goodwill refund on its way when the customer asks for all of the money
    order_no, client = _paid_order(store, pay_sandbox, f"o_refund_before_{result.lower()}")
    pay_sandbox.receiver.clear()
    _hold_refunds(pay_sandbox)
    goodwill = _refund(store, order_no, 5000, reason="少发赠品")
    submit_pending_refunds(store, pay=client)
    _ask_for_refund(store, order_no, f"o_refund_before_{result.lower()}")
    # when WeChat Pay settles the goodwill refund
    _wechatpay_settles(store, pay_sandbox, goodwill, result)
    # then the customer's request still waits for staff
    assert _order(store, order_no) == ("refunding", 5000 if result == "SUCCESS" else 0)
    assert "order_partly_refunded" not in event_kinds(store, order_no)
    with transaction(store) as session:
        decline_refund(session, order_no=order_no, reason="已补偿")
    assert _order(store, order_no)[0] == "paid"


# ----- going back from refunding never announces the order's old news again ------------------------

AFTER_PAYMENT = ["paid", "shipped", "delivered", "completed"]
# The event announcing each of those states (order_paid for paid ...).
ANNOUNCING = {status: f"order_{status}" for status in AFTER_PAYMENT}
# What a consumer telling the customer about their order listens to: everything but staff alerts.
CUSTOMER_NEWS = [kind for kind in EventKind if kind is not EventKind.PAYMENT_ALERT]


def _order_in(store: sessionmaker[Session], sandbox: PaySandbox, openid: str, status: str) -> tuple[str, WeChatPay]:
    """A paid order moved on to `status` the way staff, the customer and the scheduler move it."""
    order_no, client = _paid_order(store, sandbox, openid)
    sandbox.receiver.clear()
    moves = [
        lambda session: ship_order(session, order_no=order_no, carrier="顺丰速运", tracking_no="SF1234567890"),
        lambda session: mark_delivered(session, order_no=order_no, openid=openid),
        lambda session: complete_order(session, order_no=order_no),
    ]
    for move in moves[:AFTER_PAYMENT.index(status)]:
        with transaction(store) as session:
            move(session)
    return order_no, client


def _customer_news(store: sessionmaker[Session]) -> list[str]:
    """What the customer-facing consumer claims now: the events it has not yet told the customer."""
    with transaction(store) as session:
        return [event.kind for event in claim_events(session, consumer="customer_news", kinds=CUSTOMER_NEWS)]


def _announcements(store: sessionmaker[Session], order_no: str) -> list[str]:
    return [kind for kind in event_kinds(store, order_no) if kind in ANNOUNCING.values()]


@pytest.mark.parametrize("status", AFTER_PAYMENT)
def test_declining_a_request_tells_the_customer_so_and_nothing_else(
    store: sessionmaker[Session], pay_sandbox: PaySandbox, status: str
) -> None:
    # given an order the customer has been told is paid (shipped ...), and their refund request
    openid = f"o_decline_{status}"
    order_no, _ = _order_in(store, pay_sandbox, openid, status)
    assert _customer_news(store)[-1] == ANNOUNCING[status]
    _ask_for_refund(store, order_no, openid)
    # when staff decline the request
    with transaction(store) as session:
        decline_refund(session, order_no=order_no, reason="已超过七天无理由退货期")
    # then the order is back where it was, the move audited
    assert _order(store, order_no) == (status, 0)
    assert transitions(store, order_no)[-1] == ("refunding", status)
    # and the customer hears of the request and its answer, not of the payment (shipping ...) again
    assert _customer_news(store) == ["refund_requested", "refund_declined"]
    assert _announcements(store, order_no) == [ANNOUNCING[s] for s in AFTER_PAYMENT[:AFTER_PAYMENT.index(status) + 1]]
    [declined] = _payloads(store, order_no, "refund_declined")
    assert (declined["from"], declined["to"], declined["reason"]) == ("refunding", status, "已超过七天无理由退货期")


@pytest.mark.parametrize("status", AFTER_PAYMENT)
def test_a_failed_full_refund_tells_the_customer_so_and_nothing_else(
    store: sessionmaker[Session], pay_sandbox: PaySandbox, status: str
) -> None:
    # given an order the customer has been told is paid (shipped ...), refunded in full by staff
    order_no, client = _order_in(store, pay_sandbox, f"o_refund_fails_{status}", status)
    assert _customer_news(store)[-1] == ANNOUNCING[status]
    _hold_refunds(pay_sandbox)
    refund_no = _refund(store, order_no, None, reason="质量问题")
    assert submit_pending_refunds(store, pay=client) == 1
    # when WeChat Pay's signed notice says the refund is ABNORMAL
    _wechatpay_settles(store, pay_sandbox, refund_no, "ABNORMAL")
    # then the order is back where it was, the move audited, staff alerted
    assert _order(store, order_no) == (status, 0)
    assert transitions(store, order_no)[-2:] == [(status, "refunding"), ("refunding", status)]
    assert alerts(store) == [("refund_failed", order_no)]
    # and the customer hears that the refund failed, not of the payment (shipping ...) again
    assert _customer_news(store) == ["refund_started", "refund_failed", "order_not_refunded"]
    assert _announcements(store, order_no) == [ANNOUNCING[s] for s in AFTER_PAYMENT[:AFTER_PAYMENT.index(status) + 1]]
    [resumed] = _payloads(store, order_no, "order_not_refunded")
    assert (resumed["from"], resumed["to"], resumed["reason"]) == ("refunding", status, "refund failed")


def test_going_back_with_the_state_s_own_event_is_refused(
    store: sessionmaker[Session], pay_sandbox: PaySandbox
) -> None:
    # given a paid order whose customer asked for a refund
    order_no, _ = _paid_order(store, pay_sandbox, "o_resume_refused")
    _ask_for_refund(store, order_no, "o_resume_refused")
    # when it would go back announcing itself as paid again, that is refused and nothing changes
    with pytest.raises(ValueError, match="order_paid"), transaction(store) as session:
        order = lock_order(session, order_no=order_no)
        resume_order(session, order, reason="declined", actor="staff", now=order.created_at, event=EventKind.ORDER_PAID)
    assert _order(store, order_no) == ("refunding", 0)
    assert event_kinds(store, order_no).count("order_paid") == 1


# ----- an answer that returns the order leaves the customer the days they had ------------------------


@pytest.mark.parametrize(("amount_fen", "result"), [(None, "ABNORMAL"), (10000, "SUCCESS")])
def test_a_refund_that_returns_the_order_leaves_the_customer_the_days_they_had_to_receive(
    store: sessionmaker[Session], pay_sandbox: PaySandbox, amount_fen: int | None, result: str
) -> None:
    # given an order shipped now whose customer asks for all of it back a day later
    openid = f"o_refund_clock_{result.lower()}"
    order_no, client = _paid_order(store, pay_sandbox, openid)
    pay_sandbox.receiver.clear()
    _hold_refunds(pay_sandbox)
    shipped, asked = utcnow(), utcnow() + timedelta(days=1)
    with transaction(store) as session:
        ship_order(session, order_no=order_no, carrier="顺丰速运", tracking_no="SF1234567890", now=shipped)
    with transaction(store) as session:
        request_refund(session, order_no=order_no, openid=openid, reason="不想要了", now=asked)
    # when staff refund all of it (and WeChat Pay fails it) or part of it, settled 20 days later
    refund_no = _refund(store, order_no, amount_fen, now=asked)
    submit_pending_refunds(store, pay=client, now=asked)
    answered = asked + timedelta(days=20)
    _wechatpay_settles(store, pay_sandbox, refund_no, result, now=answered)
    assert transitions(store, order_no)[-1] == ("refunding", "shipped")
    # then the scheduler does not deliver it at once, but once the 9 days it had left have passed
    assert statuses_around(store, order_no, start=answered, days=9) == ["shipped", "shipped", "delivered"]
