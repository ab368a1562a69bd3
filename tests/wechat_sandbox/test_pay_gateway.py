"""The sandbox's WeChat Pay gateway on the wire: merchant signatures checked, WeChat Pay's rules and
error codes, every answer signed with the platform key. Requests are signed here by the test."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.pay import (
    OPENID,
    PaySandbox,
    authorization,
    new_out_trade_no,
    new_rsa_key,
    rsa_sign,
    rsa_verifies,
)
from wechat_sandbox.pay.signing import AuthorizationError, request_signature_message, verify_authorization

JSAPI = "/v3/pay/transactions/jsapi"


def jsapi_body(sandbox: PaySandbox, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "appid": sandbox.merchant.appid,
        "mchid": sandbox.merchant.mchid,
        "description": "羊绒围巾 燕麦色",
        "out_trade_no": new_out_trade_no(),
        "notify_url": "https://shop.example.com/pay/notify",
        "time_expire": (datetime.now(UTC) + timedelta(minutes=30)).isoformat(timespec="seconds"),
        "amount": {"total": 25900, "currency": "CNY"},
        "payer": {"openid": OPENID},
    }
    body.update(changes)
    return body


def send(
    sandbox: PaySandbox, method: str, url: str, body: dict[str, Any] | None = None, **signing: Any
) -> httpx.Response:
    raw = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    headers["Authorization"] = authorization(sandbox.merchant, method, url, raw, **signing)
    return sandbox.http.request(method, "/pay" + url, content=raw, headers=headers)


def answer_verifies(sandbox: PaySandbox, response: httpx.Response) -> bool:
    h = response.headers
    assert h["Wechatpay-Serial"] == sandbox.merchant.platform_key_id
    message = f"{h['Wechatpay-Timestamp']}\n{h['Wechatpay-Nonce']}\n".encode() + response.content + b"\n"
    return rsa_verifies(sandbox.merchant.platform_key.public_key(), message, h["Wechatpay-Signature"])


def test_a_correctly_signed_prepay_is_answered_and_the_answer_is_signed(pay_sandbox: PaySandbox) -> None:
    response = send(pay_sandbox, "POST", JSAPI, jsapi_body(pay_sandbox))
    assert response.status_code == 200, response.text
    assert response.json()["prepay_id"].startswith("wx")
    assert answer_verifies(pay_sandbox, response)


def test_close_answers_204_with_a_signed_empty_body(pay_sandbox: PaySandbox) -> None:
    body = jsapi_body(pay_sandbox)
    send(pay_sandbox, "POST", JSAPI, body).raise_for_status()
    url = f"/v3/pay/transactions/out-trade-no/{body['out_trade_no']}/close"
    closed = send(pay_sandbox, "POST", url, {"mchid": pay_sandbox.merchant.mchid})
    assert closed.status_code == 204 and closed.content == b""
    assert answer_verifies(pay_sandbox, closed)
    query = f"/v3/pay/transactions/out-trade-no/{body['out_trade_no']}?mchid={pay_sandbox.merchant.mchid}"
    assert send(pay_sandbox, "GET", query).json()["trade_state"] == "CLOSED"


@pytest.mark.parametrize(
    "signing",
    [
        {"key": "other"},  # signed with a key that is not the merchant's
        {"serial_no": "0123456789ABCDEF0123456789ABCDEF01234567"},  # another certificate's serial
        {"timestamp": int(time.time()) - 3600},  # an hour old
    ],
    ids=["other-key", "wrong-serial", "stale"],
)
def test_forged_merchant_signatures_are_refused_with_sign_error(
    pay_sandbox: PaySandbox, signing: dict[str, Any]
) -> None:
    if signing.get("key") == "other":
        signing = {"key": new_rsa_key()}
    body = jsapi_body(pay_sandbox)
    refused = send(pay_sandbox, "POST", JSAPI, body, **signing)
    assert refused.status_code == 401 and refused.json()["code"] == "SIGN_ERROR"
    # and nothing was created
    query = f"/v3/pay/transactions/out-trade-no/{body['out_trade_no']}?mchid={pay_sandbox.merchant.mchid}"
    assert send(pay_sandbox, "GET", query).status_code == 404


def test_a_body_changed_after_signing_and_a_missing_header_are_refused(pay_sandbox: PaySandbox) -> None:
    body = jsapi_body(pay_sandbox)
    raw = json.dumps(body).encode()
    header = authorization(pay_sandbox.merchant, "POST", JSAPI, raw)
    tampered = raw.replace(b"25900", b"00001")
    response = pay_sandbox.http.post("/pay" + JSAPI, content=tampered, headers={"Authorization": header})
    assert response.status_code == 401 and response.json()["code"] == "SIGN_ERROR"
    bare = pay_sandbox.http.post("/pay" + JSAPI, content=raw)
    assert bare.status_code == 401 and bare.json()["code"] == "SIGN_ERROR"


def test_a_signature_over_another_url_is_refused(pay_sandbox: PaySandbox) -> None:
    body = jsapi_body(pay_sandbox)
    raw = json.dumps(body).encode()
    header = authorization(pay_sandbox.merchant, "POST", "/v3/refund/domestic/refunds", raw)
    response = pay_sandbox.http.post("/pay" + JSAPI, content=raw, headers={"Authorization": header})
    assert response.status_code == 401


def test_another_merchant_is_unknown(pay_sandbox: PaySandbox) -> None:
    body = jsapi_body(pay_sandbox, mchid="1900000109")
    refused = send(pay_sandbox, "POST", JSAPI, body, mchid="1900000109")
    assert refused.status_code == 400 and refused.json()["code"] == "MCH_NOT_EXISTS"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"mchid": "1900000109"}, "PARAM_ERROR"),  # payload mchid differs from the signer's
        ({"appid": "wx1234567890abcdef"}, "APPID_MCHID_NOT_MATCH"),
        ({"out_trade_no": "ab"}, "PARAM_ERROR"),
        ({"out_trade_no": "2026-11-23 0001"}, "PARAM_ERROR"),
        ({"description": "衣" * 43}, "PARAM_ERROR"),  # 129 bytes
        ({"amount": {"total": 0, "currency": "CNY"}}, "PARAM_ERROR"),
        ({"amount": {"total": 9.9, "currency": "CNY"}}, "PARAM_ERROR"),
        ({"amount": {"total": 100, "currency": "USD"}}, "PARAM_ERROR"),
        ({"notify_url": "https://shop.example.com/pay/notify?order=1"}, "PARAM_ERROR"),
        ({"notify_url": "http://shop.example.com/pay/notify"}, "PARAM_ERROR"),
        ({"notify_url": ""}, "PARAM_ERROR"),
        ({"payer": {}}, "PARAM_ERROR"),
        ({"time_expire": "2026-11-23 18:00:00"}, "PARAM_ERROR"),
    ],
)
def test_prepay_bodies_are_validated_as_wechat_pay_does(
    pay_sandbox: PaySandbox, changes: dict[str, Any], code: str
) -> None:
    refused = send(pay_sandbox, "POST", JSAPI, jsapi_body(pay_sandbox, **changes))
    assert refused.status_code == 400 and refused.json()["code"] == code, refused.text
    assert set(refused.json()) == {"code", "message"}


def test_description_of_exactly_127_bytes_and_a_local_http_notify_url_are_accepted(pay_sandbox: PaySandbox) -> None:
    body = jsapi_body(pay_sandbox, description="衣" * 42 + "a", notify_url="http://127.0.0.1:8000/pay/notify")
    assert send(pay_sandbox, "POST", JSAPI, body).status_code == 200


def test_a_body_that_is_not_json_is_a_param_error(pay_sandbox: PaySandbox) -> None:
    raw = b"appid=wx1"
    header = authorization(pay_sandbox.merchant, "POST", JSAPI, raw)
    refused = pay_sandbox.http.post("/pay" + JSAPI, content=raw, headers={"Authorization": header})
    assert refused.status_code == 400 and refused.json()["code"] == "PARAM_ERROR"


def test_query_needs_the_mchid_parameter(pay_sandbox: PaySandbox) -> None:
    body = jsapi_body(pay_sandbox)
    send(pay_sandbox, "POST", JSAPI, body).raise_for_status()
    refused = send(pay_sandbox, "GET", f"/v3/pay/transactions/out-trade-no/{body['out_trade_no']}")
    assert refused.status_code == 400 and refused.json()["code"] == "PARAM_ERROR"


def test_refund_bodies_are_validated(pay_sandbox: PaySandbox) -> None:
    body = jsapi_body(pay_sandbox)
    send(pay_sandbox, "POST", JSAPI, body).raise_for_status()
    pay_sandbox.pay(body["out_trade_no"]).raise_for_status()
    refund: dict[str, Any] = {
        "out_trade_no": body["out_trade_no"], "out_refund_no": "R" + body["out_trade_no"],
        "amount": {"refund": 100, "total": 25900, "currency": "CNY"},
    }
    refunds = "/v3/refund/domestic/refunds"
    wrong_total = send(pay_sandbox, "POST", refunds, refund | {"amount": {"refund": 100, "total": 1}})
    assert wrong_total.json()["code"] == "INVALID_REQUEST"
    unknown = send(pay_sandbox, "POST", "/v3/refund/domestic/refunds", refund | {"out_trade_no": new_out_trade_no()})
    assert unknown.status_code == 404 and unknown.json()["code"] == "RESOURCE_NOT_EXISTS"
    accepted = send(pay_sandbox, "POST", "/v3/refund/domestic/refunds", refund)
    assert accepted.status_code == 200 and accepted.json()["status"] == "PROCESSING"
    assert answer_verifies(pay_sandbox, accepted)
    conflicting = send(pay_sandbox, "POST", "/v3/refund/domestic/refunds",
                       refund | {"amount": {"refund": 200, "total": 25900, "currency": "CNY"}})
    assert conflicting.json()["code"] == "INVALID_REQUEST"


def test_every_call_is_in_the_call_record(pay_sandbox: PaySandbox) -> None:
    send(pay_sandbox, "POST", JSAPI, jsapi_body(pay_sandbox, amount={"total": 0})).json()
    [record] = pay_sandbox.calls("pay/jsapi")
    assert record["status"] == 400 and record["errcode"] == "PARAM_ERROR"
    assert record["account"] == pay_sandbox.merchant.appid


# WeChat Pay's documented signature-string example (签名生成): GET /v3/certificates at 1554208460
# with nonce 593BEC0C930BF1AFEB40B4A08C8FB242 and no body.
DOC_TIMESTAMP, DOC_NONCE = "1554208460", "593BEC0C930BF1AFEB40B4A08C8FB242"
DOC_SIGNATURE_STRING = b"GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n"


def test_the_signature_string_matches_the_documented_example() -> None:
    assert request_signature_message("GET", "/v3/certificates", DOC_TIMESTAMP, DOC_NONCE, b"") == DOC_SIGNATURE_STRING


def test_an_authorization_over_the_documented_string_verifies(pay_sandbox: PaySandbox) -> None:
    # given the documented example string signed with the merchant key, in the documented header layout
    merchant = pay_sandbox.merchant
    signature = rsa_sign(merchant.merchant_key, DOC_SIGNATURE_STRING)
    header = (f'WECHATPAY2-SHA256-RSA2048 mchid="{merchant.mchid}",nonce_str="{DOC_NONCE}",'
              f'signature="{signature}",timestamp="{DOC_TIMESTAMP}",serial_no="{merchant.serial_no}"')
    public_key = merchant.merchant_key.public_key()
    # then the gateway's check accepts it, and refuses it for any other URL
    auth = verify_authorization(header, method="GET", url="/v3/certificates", body=b"", merchant_public_key=public_key)
    assert (auth.timestamp, auth.nonce_str) == (1554208460, DOC_NONCE)
    with pytest.raises(AuthorizationError):
        verify_authorization(header, method="GET", url="/v3/certificates?x=1", body=b"", merchant_public_key=public_key)
    # and a request that old is refused on the wire as stale
    stale = pay_sandbox.http.get("/pay/v3/certificates", headers={"Authorization": header})
    assert stale.status_code == 401 and stale.json()["code"] == "SIGN_ERROR"
