"""POST /pay/notify with notifications the tests sign and encrypt themselves: applied once however
often (and however concurrently) they arrive; forged, stale and malformed ones refused with nothing
changed; a wrong amount leaves the order unpaid, records one alert, and is acknowledged."""

from __future__ import annotations

import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from commerce.models import Order, OrderEvent, Payment, PaymentAlert
from storage.db import transaction
from tests.support import LiveServer
from tests.support.mp_client import Buyer, placed_order
from tests.support.pay import (
    Merchant,
    SignedNotification,
    new_rsa_key,
    resource_json,
    seal_notification,
    sign_body,
)


def payment_notice(shop: LiveServer, merchant: Merchant, order: dict[str, Any], openid: str, *,
                   total: int | None = None, transaction_id: str | None = None,
                   **forgery: Any) -> SignedNotification:
    resource = resource_json(
        "transaction_success", mchid=merchant.mchid, appid=shop.settings.miniprogram.app_id,
        out_trade_no=order["order_no"], transaction_id=transaction_id or "4200" + secrets.token_hex(12),
        openid=openid, total=order["amount_fen"] if total is None else total,
    )
    return seal_notification(merchant, "TRANSACTION.SUCCESS", resource, **forgery)


def post(shop: LiveServer, notification: SignedNotification, path: str = "/pay/notify") -> httpx.Response:
    with shop.client() as http:
        return http.post(path, content=notification.body, headers=notification.headers)


def order_facts(shop: LiveServer, order_no: str) -> tuple[str, int, int, int]:
    """(status, payments, paid transitions, alerts) of one order, read from the database."""
    with transaction(shop.services.factory) as session:
        status = session.scalar(select(Order.status).where(Order.order_no == order_no))
        payments = session.scalar(select(func.count()).select_from(Payment).where(Payment.order_no == order_no))
        paid = session.scalar(select(func.count()).select_from(OrderEvent)
                              .where(OrderEvent.order_no == order_no, OrderEvent.to_status == "paid"))
        alerts = session.scalar(select(func.count()).select_from(PaymentAlert)
                                .where(PaymentAlert.order_no == order_no))
    return str(status), int(payments or 0), int(paid or 0), int(alerts or 0)


@pytest.fixture
def order(shop: LiveServer, request: pytest.FixtureRequest) -> tuple[dict[str, Any], str]:
    """A fresh pending order of a customer of its own."""
    openid = "o_notify_" + request.node.name[-40:].replace("[", "_").replace("]", "").replace("-", "_")
    return placed_order(Buyer(shop, openid[:64]), ("tee-basic-white-M", 1)), openid[:64]


def test_a_signed_notification_marks_the_order_paid(shop: LiveServer, merchant: Merchant,
                                                    order: tuple[dict[str, Any], str]) -> None:
    placed, openid = order
    answer = post(shop, payment_notice(shop, merchant, placed, openid))
    assert answer.status_code == 204 and answer.content == b""
    assert order_facts(shop, placed["order_no"]) == ("paid", 1, 1, 0)


def test_duplicates_apply_once(shop: LiveServer, merchant: Merchant, order: tuple[dict[str, Any], str]) -> None:
    placed, openid = order
    transaction_id = "4200" + secrets.token_hex(12)
    notice = payment_notice(shop, merchant, placed, openid, transaction_id=transaction_id)
    # When WeChat Pay delivers the same notification three times, and once more freshly signed
    answers = [post(shop, notice) for _ in range(3)]
    answers.append(post(shop, payment_notice(shop, merchant, placed, openid, transaction_id=transaction_id)))
    # Then every delivery is acknowledged and the order moved once
    assert [a.status_code for a in answers] == [204, 204, 204, 204]
    assert order_facts(shop, placed["order_no"]) == ("paid", 1, 1, 0)


def test_concurrent_duplicates_apply_once(shop: LiveServer, merchant: Merchant,
                                          order: tuple[dict[str, Any], str]) -> None:
    placed, openid = order
    notice = payment_notice(shop, merchant, placed, openid)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post(shop, notice), range(8)))
    assert [a.status_code for a in answers] == [204] * 8
    assert order_facts(shop, placed["order_no"]) == ("paid", 1, 1, 0)


@pytest.mark.parametrize(
    "forgery",
    [
        {"signing_key": new_rsa_key()},  # signed by someone else's key
        {"serial": "PUB_KEY_ID_0000000000000000000000000000"},  # a platform key we do not know
        {"apiv3_key": "k" * 32},  # encrypted with another APIv3 key
        {"tamper_ciphertext": True},  # resource changed after encryption (and re-signed)
    ],
    ids=["foreign-key", "unknown-serial", "other-apiv3-key", "tampered"],
)
def test_forged_notifications_are_refused_and_change_nothing(
    shop: LiveServer, merchant: Merchant, order: tuple[dict[str, Any], str], forgery: dict[str, Any]
) -> None:
    placed, openid = order
    answer = post(shop, payment_notice(shop, merchant, placed, openid, **forgery))
    assert answer.status_code == 401
    assert answer.json()["code"] == "FAIL" and answer.json()["message"]
    assert order_facts(shop, placed["order_no"]) == ("pending_payment", 0, 0, 0)


def test_a_changed_body_no_longer_verifies(shop: LiveServer, merchant: Merchant,
                                           order: tuple[dict[str, Any], str]) -> None:
    placed, openid = order
    notice = payment_notice(shop, merchant, placed, openid)
    changed = SignedNotification(notice.headers, notice.body.replace(b'"TRANSACTION.SUCCESS"', b'"TRANSACTION.X"'))
    assert post(shop, changed).status_code == 401
    assert order_facts(shop, placed["order_no"]) == ("pending_payment", 0, 0, 0)


@pytest.mark.parametrize("skew_s", [-3600, 3600], ids=["old", "from-the-future"])
def test_stale_notifications_are_refused(shop: LiveServer, merchant: Merchant, order: tuple[dict[str, Any], str],
                                         skew_s: int) -> None:
    placed, openid = order
    answer = post(shop, payment_notice(shop, merchant, placed, openid, timestamp=int(time.time()) + skew_s))
    assert answer.status_code == 400 and answer.json()["code"] == "FAIL"
    assert order_facts(shop, placed["order_no"]) == ("pending_payment", 0, 0, 0)


def test_a_wrong_amount_leaves_the_order_unpaid_and_is_alerted_once(
    shop: LiveServer, merchant: Merchant, order: tuple[dict[str, Any], str]
) -> None:
    placed, openid = order
    notice = payment_notice(shop, merchant, placed, openid, total=1)
    # When a genuine notification says one fen was paid, twice
    answers = [post(shop, notice), post(shop, notice)]
    # Then it is acknowledged (a retry would bring the same bytes), the order stays unpaid, one alert
    assert [a.status_code for a in answers] == [204, 204]
    assert order_facts(shop, placed["order_no"]) == ("pending_payment", 0, 0, 1)


def test_malformed_and_oversized_bodies_are_refused(shop: LiveServer, merchant: Merchant) -> None:
    not_json = b"<xml>not a notification</xml>"
    big = b"{" + b" " * 70000 + b"}"
    with shop.client() as http:
        malformed = http.post("/pay/notify", content=not_json, headers=sign_body(merchant, not_json))
        oversized = http.post("/pay/notify", content=big, headers=sign_body(merchant, big))
        unsigned = http.post("/pay/notify", json={"id": "EV-1"})
    assert malformed.status_code == 400 and malformed.json()["code"] == "FAIL"
    assert oversized.status_code == 413 and oversized.json()["code"] == "FAIL"
    assert unsigned.status_code == 401


def test_notifications_are_counted_in_metrics(shop: LiveServer, merchant: Merchant,
                                              order: tuple[dict[str, Any], str]) -> None:
    placed, openid = order
    post(shop, payment_notice(shop, merchant, placed, openid))
    post(shop, payment_notice(shop, merchant, placed, openid, signing_key=new_rsa_key()))
    with shop.client() as http:
        metrics = http.get("/metrics").text
    assert 'chatshop_pay_notifications_total{kind="payment",outcome="applied"}' in metrics
    assert 'chatshop_pay_notifications_total{kind="payment",outcome="notification_forged"}' in metrics



def test_a_forged_refund_notification_is_refused(shop: LiveServer, merchant: Merchant,
                                                 order: tuple[dict[str, Any], str]) -> None:
    placed, _ = order
    resource = resource_json(
        "refund_success", mchid=merchant.mchid, out_trade_no=placed["order_no"], transaction_id="4200" + "0" * 24,
        out_refund_no=placed["order_no"] + "R01", refund_id="5030" + "0" * 24, refund_status="SUCCESS",
        total=placed["amount_fen"], refund=placed["amount_fen"],
    )
    forged = seal_notification(merchant, "REFUND.SUCCESS", resource, signing_key=new_rsa_key())
    answer = post(shop, forged, "/pay/refund-notify")
    assert answer.status_code == 401 and answer.json()["code"] == "FAIL"
    # A payment notification sent to the refund endpoint is not a refund either
    wrong_kind = post(shop, payment_notice(shop, merchant, placed, "o_x"), "/pay/refund-notify")
    assert wrong_kind.status_code == 400
    assert order_facts(shop, placed["order_no"]) == ("pending_payment", 0, 0, 0)
