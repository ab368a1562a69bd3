"""The sandbox's WeChat Pay notifications: signed, encrypted, delivered when the customer pays, and
retried on WeChat Pay's schedule (15s,15s,30s,3m,10m,20m,30m,30m,30m,60m,3h,3h,3h,6h,6h) until the
merchant answers 200/204. Time is moved on the sandbox's clock, never slept."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

from tests.support.pay import OPENID, PaySandbox, new_out_trade_no
from wechat_sandbox.pay import NOTIFY_RETRY_SCHEDULE_S


def prepaid(sandbox: PaySandbox, amount_fen: int = 12900) -> str:
    out_trade_no = new_out_trade_no()
    sandbox.client().prepay_jsapi(
        out_trade_no=out_trade_no, description="真丝衬衫 白色 L", amount_fen=amount_fen, payer_openid=OPENID,
        time_expire=datetime.now(UTC) + timedelta(minutes=30),
    )
    return out_trade_no


def tries_after_delivery(sandbox: PaySandbox, out_trade_no: str) -> int:
    """Deliver what is due (the sandbox's worker may already be doing it) and count the tries so far."""
    sandbox.deliver()
    [record] = sandbox.notifications(out_trade_no=out_trade_no)
    return len(record["attempts"])


def attempt_times(record: dict[str, object]) -> list[float]:
    attempts = record["attempts"]
    assert isinstance(attempts, list)
    return [datetime.fromisoformat(a["at"].replace("Z", "+00:00")).timestamp() for a in attempts]


def test_paying_sends_a_signed_encrypted_notification_the_merchant_can_verify(pay_sandbox: PaySandbox) -> None:
    # given a prepaid order
    out_trade_no = prepaid(pay_sandbox, 12900)
    # when the customer pays
    paid = pay_sandbox.pay(out_trade_no)
    # then the first try has been made, to the order's notify_url, and was acknowledged
    assert paid.status_code == 200
    [record] = paid.json()["notifications"]
    assert record["event_type"] == "TRANSACTION.SUCCESS" and record["state"] == "delivered"
    assert [a["status"] for a in record["attempts"]] == [204]
    [got] = pay_sandbox.receiver.received
    assert got.path == "/pay/notify"
    notice = pay_sandbox.merchant.verifier().payment(got.headers, got.body)
    assert (notice.out_trade_no, notice.amount_total, notice.payer_openid) == (out_trade_no, 12900, OPENID)
    assert notice.trade_state == "SUCCESS" and notice.notification_id == record["id"]
    assert notice.transaction_id == pay_sandbox.transaction(out_trade_no)["transaction_id"]
    envelope = json.loads(got.body)
    assert envelope["resource"]["algorithm"] == "AEAD_AES_256_GCM" and "ciphertext" in envelope["resource"]
    assert OPENID.encode() not in got.body  # the payer is only inside the ciphertext


def test_a_receiver_that_fails_twice_gets_the_notification_again_on_schedule(pay_sandbox: PaySandbox) -> None:
    # given a merchant that answers 500, then 503, then 204
    pay_sandbox.receiver.answer_with(500, 503)
    out_trade_no = prepaid(pay_sandbox)
    # when the customer pays: the first try fails
    pay_sandbox.pay(out_trade_no)
    assert len(pay_sandbox.receiver.received) == 1
    # then nothing more happens until 15 s have passed on the clock
    pay_sandbox.advance(14)
    assert tries_after_delivery(pay_sandbox, out_trade_no) == 1
    pay_sandbox.advance(1.5)
    assert tries_after_delivery(pay_sandbox, out_trade_no) == 2  # second try (503)
    pay_sandbox.advance(14)
    assert tries_after_delivery(pay_sandbox, out_trade_no) == 2
    pay_sandbox.advance(1.5)
    assert tries_after_delivery(pay_sandbox, out_trade_no) == 3  # third try, acknowledged
    # and once acknowledged it is never sent again
    pay_sandbox.advance(86400)
    assert tries_after_delivery(pay_sandbox, out_trade_no) == 3
    [record] = pay_sandbox.notifications(out_trade_no=out_trade_no)
    assert record["state"] == "delivered"
    assert [a["status"] for a in record["attempts"]] == [500, 503, 204]
    times = attempt_times(record)
    assert all(15 <= b - a < 17 for a, b in itertools.pairwise(times))
    # and every try carried the same notification, each one verifiable when it arrived
    bodies = [r.body for r in pay_sandbox.receiver.received]
    assert len(set(bodies)) == 1
    verifier = pay_sandbox.merchant.verifier()
    ids = {verifier.payment(r.headers, r.body).notification_id for r in pay_sandbox.receiver.received}
    assert ids == {record["id"]}


def test_an_unreachable_merchant_is_tried_on_the_whole_schedule_then_given_up(pay_sandbox: PaySandbox) -> None:
    # given a merchant that never acknowledges
    pay_sandbox.receiver.answer_with(*([500] * 40))
    out_trade_no = prepaid(pay_sandbox)
    pay_sandbox.pay(out_trade_no)
    # when the clock walks through the documented schedule
    for tries_so_far, wait_s in enumerate(NOTIFY_RETRY_SCHEDULE_S, start=1):
        pay_sandbox.advance(wait_s - 1)
        assert tries_after_delivery(pay_sandbox, out_trade_no) == tries_so_far
        pay_sandbox.advance(1.5)
        assert tries_after_delivery(pay_sandbox, out_trade_no) == tries_so_far + 1
    pay_sandbox.advance(7 * 86400)
    assert tries_after_delivery(pay_sandbox, out_trade_no) == 16
    # then it was tried 16 times in all, the gaps being the schedule, and given up
    [record] = pay_sandbox.notifications(out_trade_no=out_trade_no)
    assert record["state"] == "gave_up" and record["next_attempt_at"] is None
    times = attempt_times(record)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 1 + len(NOTIFY_RETRY_SCHEDULE_S) == 16
    assert all(wait <= gap < wait + 2 for gap, wait in zip(gaps, NOTIFY_RETRY_SCHEDULE_S, strict=True))
    assert NOTIFY_RETRY_SCHEDULE_S == (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800,
                                       21600, 21600)


def test_a_refund_sends_refund_success_to_the_refund_notify_url(pay_sandbox: PaySandbox) -> None:
    out_trade_no = prepaid(pay_sandbox, 5000)
    pay_sandbox.pay(out_trade_no)
    result = pay_sandbox.client().refund(
        out_trade_no=out_trade_no, out_refund_no="R" + out_trade_no, refund_fen=2000, total_fen=5000, reason="退货"
    )
    pay_sandbox.deliver()
    [record] = pay_sandbox.notifications(out_refund_no=result.out_refund_no)
    assert record["event_type"] == "REFUND.SUCCESS" and record["state"] == "delivered"
    got = pay_sandbox.receiver.received[-1]
    assert got.path == "/pay/refund-notify"
    notice = pay_sandbox.merchant.verifier().refund(got.headers, got.body)
    assert (notice.refund_status, notice.amount_refund, notice.amount_total) == ("SUCCESS", 2000, 5000)
    assert (notice.out_refund_no, notice.refund_id) == (result.out_refund_no, result.refund_id)


def test_refunds_held_by_the_back_office_end_abnormal_when_it_says_so(pay_sandbox: PaySandbox) -> None:
    pay_sandbox.http.post("/control/pay/settings", json={"refunds_settle": False}).raise_for_status()
    out_trade_no = prepaid(pay_sandbox, 5000)
    pay_sandbox.pay(out_trade_no)
    client = pay_sandbox.client()
    refund = client.refund(out_trade_no=out_trade_no, out_refund_no="R" + out_trade_no, refund_fen=5000,
                           total_fen=5000, reason="")
    pay_sandbox.deliver()
    assert client.query_refund(refund.out_refund_no).status == "PROCESSING"
    assert pay_sandbox.notifications(out_refund_no=refund.out_refund_no) == []
    settled = pay_sandbox.http.post(f"/control/pay/refunds/{refund.out_refund_no}/settle", json={"status": "ABNORMAL"})
    assert settled.status_code == 200
    assert client.query_refund(refund.out_refund_no).status == "ABNORMAL"
    got = pay_sandbox.receiver.received[-1]
    assert pay_sandbox.merchant.verifier().refund(got.headers, got.body).refund_status == "ABNORMAL"
    again = pay_sandbox.http.post(f"/control/pay/refunds/{refund.out_refund_no}/settle", json={"status": "SUCCESS"})
    assert again.status_code == 409


def test_paying_twice_or_paying_an_unknown_order_is_refused_and_sends_nothing_more(pay_sandbox: PaySandbox) -> None:
    out_trade_no = prepaid(pay_sandbox)
    pay_sandbox.pay(out_trade_no)
    assert pay_sandbox.pay(out_trade_no).status_code == 409
    assert pay_sandbox.pay(new_out_trade_no()).status_code == 404
    assert len(pay_sandbox.notifications(out_trade_no=out_trade_no)) == 1
    assert len(pay_sandbox.receiver.received) == 1
