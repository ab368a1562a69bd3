"""The WeChat Pay client (over wechatpayv3) against the sandbox's gateway, over real HTTP."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from tests.support.pay import OPENID, PaySandbox, new_out_trade_no, rsa_verifies
from tests.support.sandbox import free_port
from wechat.errors import InvalidPayRequest, PayApiError, PayUnavailable, UnverifiedResponse
from wechat.pay import RefundState, TradeState


def in_30_min() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=30)


def prepay(sandbox: PaySandbox, out_trade_no: str, amount_fen: int = 19900, **overrides: object) -> str:
    return sandbox.client().prepay_jsapi(
        out_trade_no=out_trade_no,
        description=str(overrides.get("description", "法式碎花连衣裙 M")),
        amount_fen=amount_fen,
        payer_openid=OPENID,
        time_expire=overrides.get("time_expire", in_30_min()),  # type: ignore[arg-type]
    )


def paid_order(sandbox: PaySandbox, amount_fen: int = 19900) -> str:
    out_trade_no = new_out_trade_no()
    prepay(sandbox, out_trade_no, amount_fen)
    assert sandbox.pay(out_trade_no).status_code == 200
    return out_trade_no


# ----- prepay and pay params -------------------------------------------------------------------------


def test_prepay_returns_a_prepay_id_and_a_repeat_with_the_same_parameters_gets_the_same_one(
    pay_sandbox: PaySandbox,
) -> None:
    # given an order number
    out_trade_no = new_out_trade_no()
    expire = in_30_min()
    # when it is prepaid twice with the same parameters
    first = prepay(pay_sandbox, out_trade_no, time_expire=expire)
    second = prepay(pay_sandbox, out_trade_no, time_expire=expire)
    # then both answers carry the same prepay_id, and the sandbox saw what the client sent
    assert first.startswith("wx") and first == second
    sent = pay_sandbox.calls("pay/jsapi")[0]["body"]
    assert sent["amount"] == {"total": 19900, "currency": "CNY"}
    assert sent["payer"] == {"openid": OPENID}
    assert sent["notify_url"] == pay_sandbox.receiver_url + "/pay/notify"
    assert sent["time_expire"].endswith("+08:00")


def test_a_reused_order_number_with_other_parameters_is_refused_as_invalid_request(pay_sandbox: PaySandbox) -> None:
    out_trade_no = new_out_trade_no()
    prepay(pay_sandbox, out_trade_no, 19900)
    with pytest.raises(PayApiError) as refused:
        prepay(pay_sandbox, out_trade_no, 100)
    assert (refused.value.status, refused.value.pay_code) == (400, "INVALID_REQUEST")
    assert not refused.value.retryable


def test_pay_params_are_signed_with_the_merchant_key(pay_sandbox: PaySandbox) -> None:
    # given a prepay_id
    prepay_id = prepay(pay_sandbox, new_out_trade_no())
    # when the client builds wx.requestPayment's parameters
    params = pay_sandbox.client().pay_params(prepay_id)
    # then paySign is RSA-SHA256 over "appId\ntimeStamp\nnonceStr\npackage\n" with the merchant key
    assert params["package"] == f"prepay_id={prepay_id}"
    assert params["signType"] == "RSA" and params["appId"] == pay_sandbox.merchant.appid
    assert params["timeStamp"].isdigit() and len(params["nonceStr"]) == 32
    message = "".join(params[k] + "\n" for k in ("appId", "timeStamp", "nonceStr", "package")).encode()
    public_key = load_pem_public_key(pay_sandbox.merchant.merchant_public_pem.encode())
    assert rsa_verifies(public_key, message, params["paySign"])  # type: ignore[arg-type]
    assert not rsa_verifies(public_key, message + b"x", params["paySign"])  # type: ignore[arg-type]
    assert len(base64.b64decode(params["paySign"])) == 256


@pytest.mark.parametrize(
    ("out_trade_no", "amount_fen", "description", "time_expire"),
    [
        ("12345", 100, "口红", in_30_min()),  # too short
        ("2026112312000#0001", 100, "口红", in_30_min()),  # '#' is not allowed
        ("202611231200000001", 0, "口红", in_30_min()),  # nothing to pay
        ("202611231200000001", 100, "口" * 43, in_30_min()),  # 129 bytes of UTF-8
        ("202611231200000001", 100, "口红", datetime.now() + timedelta(minutes=30)),  # naive time
    ],
)
def test_requests_breaking_wechat_pay_rules_are_refused_before_calling(
    pay_sandbox: PaySandbox, out_trade_no: str, amount_fen: int, description: str, time_expire: datetime
) -> None:
    with pytest.raises(InvalidPayRequest):
        prepay(pay_sandbox, out_trade_no, amount_fen, description=description, time_expire=time_expire)
    assert pay_sandbox.calls("pay/jsapi") == []


def test_an_appid_not_bound_to_the_merchant_is_refused(pay_sandbox: PaySandbox) -> None:
    client = pay_sandbox.client(appid="wx0000000000000000")
    with pytest.raises(PayApiError) as refused:
        client.prepay_jsapi(
            out_trade_no=new_out_trade_no(), description="衬衫", amount_fen=100, payer_openid=OPENID,
            time_expire=in_30_min(),
        )
    assert (refused.value.status, refused.value.pay_code) == (400, "APPID_MCHID_NOT_MATCH")


# ----- query, pay, close ----------------------------------------------------------------------------


def test_query_shows_notpay_then_success_after_the_customer_pays(pay_sandbox: PaySandbox) -> None:
    client = pay_sandbox.client()
    out_trade_no = new_out_trade_no()
    prepay(pay_sandbox, out_trade_no, 8800)
    before = client.query(out_trade_no)
    assert (before.trade_state, before.transaction_id, before.paid) == (TradeState.NOTPAY, None, False)
    # when the simulated customer pays
    assert pay_sandbox.pay(out_trade_no).status_code == 200
    # then the query answers SUCCESS with the transaction, the amount and the payer
    after = client.query(out_trade_no)
    assert after.trade_state == TradeState.SUCCESS and after.paid
    assert after.transaction_id and after.transaction_id.startswith("4200")
    assert (after.amount_total, after.payer_openid) == (8800, OPENID)
    assert (after.appid, after.mchid) == (pay_sandbox.merchant.appid, pay_sandbox.merchant.mchid)
    assert after.success_time is not None and after.success_time.tzinfo is not None
    # and a paid order cannot be prepaid again
    with pytest.raises(PayApiError) as refused:
        prepay(pay_sandbox, out_trade_no, 8800)
    assert refused.value.pay_code == "ORDERPAID"


def test_a_closed_order_reads_closed_and_cannot_be_paid(pay_sandbox: PaySandbox) -> None:
    client = pay_sandbox.client()
    out_trade_no = new_out_trade_no()
    prepay(pay_sandbox, out_trade_no)
    client.close(out_trade_no)
    assert client.query(out_trade_no).trade_state == TradeState.CLOSED
    refused = pay_sandbox.pay(out_trade_no)
    assert refused.status_code == 409 and "CLOSED" in refused.json()["error"]
    assert pay_sandbox.notifications(out_trade_no=out_trade_no) == []
    client.close(out_trade_no)  # closing again is harmless (204)


def test_closing_a_paid_order_is_refused_with_orderpaid(pay_sandbox: PaySandbox) -> None:
    out_trade_no = paid_order(pay_sandbox)
    with pytest.raises(PayApiError) as refused:
        pay_sandbox.client().close(out_trade_no)
    assert refused.value.pay_code == "ORDERPAID"
    assert pay_sandbox.client().query(out_trade_no).trade_state == TradeState.SUCCESS


def test_paying_after_time_expire_is_refused(pay_sandbox: PaySandbox) -> None:
    out_trade_no = new_out_trade_no()
    prepay(pay_sandbox, out_trade_no, time_expire=datetime.now(UTC) + timedelta(minutes=5))
    pay_sandbox.advance(301)
    refused = pay_sandbox.pay(out_trade_no)
    assert refused.status_code == 409 and "expired" in refused.json()["error"]
    assert pay_sandbox.client().query(out_trade_no).trade_state == TradeState.NOTPAY


def test_querying_an_unknown_order_maps_to_pay_api_error_404(pay_sandbox: PaySandbox) -> None:
    with pytest.raises(PayApiError) as missing:
        pay_sandbox.client().query(new_out_trade_no())
    assert (missing.value.status, missing.value.pay_code) == (404, "ORDER_NOT_EXIST")


# ----- refunds -------------------------------------------------------------------------------------


def test_partial_refunds_up_to_the_total_and_no_further(pay_sandbox: PaySandbox) -> None:
    client = pay_sandbox.client()
    out_trade_no = paid_order(pay_sandbox, 10000)
    first = client.refund(out_trade_no=out_trade_no, out_refund_no="R" + out_trade_no + "1", refund_fen=3000,
                          total_fen=10000, reason="尺码不合适")
    assert first.status == RefundState.PROCESSING and first.amount_refund == 3000 and first.refund_id
    assert client.query_refund(first.out_refund_no).status == RefundState.SUCCESS
    assert client.query(out_trade_no).trade_state == TradeState.REFUND
    # the same out_refund_no with the same parameters refunds only once
    again = client.refund(out_trade_no=out_trade_no, out_refund_no=first.out_refund_no, refund_fen=3000,
                          total_fen=10000, reason="尺码不合适")
    assert again.refund_id == first.refund_id
    # more than what is left is refused
    with pytest.raises(PayApiError) as refused:
        client.refund(out_trade_no=out_trade_no, out_refund_no="R" + out_trade_no + "2", refund_fen=7001,
                      total_fen=10000, reason="")
    assert (refused.value.status, refused.value.pay_code) == (400, "INVALID_REQUEST")
    rest = client.refund(out_trade_no=out_trade_no, out_refund_no="R" + out_trade_no + "3", refund_fen=7000,
                         total_fen=10000, reason="")
    assert rest.amount_refund == 7000


def test_refunding_an_unpaid_order_or_an_unknown_refund_is_refused(pay_sandbox: PaySandbox) -> None:
    client = pay_sandbox.client()
    out_trade_no = new_out_trade_no()
    prepay(pay_sandbox, out_trade_no, 500)
    with pytest.raises(PayApiError) as unpaid:
        client.refund(out_trade_no=out_trade_no, out_refund_no="RX" + out_trade_no, refund_fen=500, total_fen=500,
                      reason="")
    assert unpaid.value.pay_code == "INVALID_REQUEST"
    with pytest.raises(PayApiError) as unknown:
        client.query_refund("R-does-not-exist")
    assert (unknown.value.status, unknown.value.pay_code) == (404, "RESOURCE_NOT_EXISTS")
    with pytest.raises(InvalidPayRequest):
        client.refund(out_trade_no=out_trade_no, out_refund_no="R1", refund_fen=600, total_fen=500, reason="")


# ----- errors and trust ------------------------------------------------------------------------------


def test_wechat_pay_system_errors_map_to_a_retryable_pay_api_error(pay_sandbox: PaySandbox) -> None:
    pay_sandbox.http.post("/control/pay/faults", json={"api": "query", "status": 500, "code": "SYSTEM_ERROR"})
    with pytest.raises(PayApiError) as failed:
        pay_sandbox.client().query(new_out_trade_no())
    assert (failed.value.status, failed.value.pay_code, failed.value.retryable) == (500, "SYSTEM_ERROR", True)


def test_an_answer_not_signed_by_the_platform_key_is_not_trusted(pay_sandbox: PaySandbox) -> None:
    out_trade_no = new_out_trade_no()
    pay_sandbox.http.post("/control/pay/faults", json={"api": "jsapi", "bad_signature": True})
    with pytest.raises(UnverifiedResponse):
        prepay(pay_sandbox, out_trade_no)


def test_a_client_trusting_another_platform_key_refuses_every_answer(pay_sandbox: PaySandbox) -> None:
    other = pay_sandbox.client(platform_public_key_id="PUB_KEY_ID_0000000000000000000000000000")
    with pytest.raises(UnverifiedResponse):
        other.prepay_jsapi(out_trade_no=new_out_trade_no(), description="衬衫", amount_fen=100,
                           payer_openid=OPENID, time_expire=in_30_min())


def test_no_answer_at_all_is_pay_unavailable(pay_sandbox: PaySandbox) -> None:
    client = pay_sandbox.client(api_base_url=f"http://127.0.0.1:{free_port()}/", timeout_s=2.0)
    with pytest.raises(PayUnavailable):
        client.query(new_out_trade_no())


def test_a_merchant_key_the_gateway_does_not_know_is_refused_with_sign_error(pay_sandbox: PaySandbox) -> None:
    from tests.support.pay import new_rsa_key, pem_private

    impostor = pay_sandbox.client(merchant_private_key=pem_private(new_rsa_key()))
    with pytest.raises(PayApiError) as refused:
        impostor.query(new_out_trade_no())
    assert (refused.value.status, refused.value.pay_code) == (401, "SIGN_ERROR")
