"""The staff API: the key (Bearer or X-Api-Key, constant-time; unset → 503), orders by status,
shipping, full and partial refunds settled by WeChat Pay's refund notification, stock changes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support import LiveServer
from tests.support.mp_client import Buyer, error_of, placed_order, sandbox_pays, stock_of
from tests.support.shop_fixtures import ADMIN_KEY


def staff(shop: LiveServer) -> httpx.Client:
    http = shop.client()
    http.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
    return http


def paid_order(shop: LiveServer, openid: str, *items: tuple[str, int]) -> dict[str, Any]:
    order = placed_order(Buyer(shop, openid), *items)
    sandbox_pays(shop, order["order_no"])
    return order


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong-key"}, 401),
        ({"X-Api-Key": ADMIN_KEY[:-1]}, 401),
        ({"Authorization": f"Basic {ADMIN_KEY}"}, 401),
        ({"X-Api-Key": ADMIN_KEY}, 200),
        ({"Authorization": f"Bearer {ADMIN_KEY}"}, 200),
    ],
)
def test_the_api_key_is_required(shop: LiveServer, headers: dict[str, str], status: int) -> None:
    with shop.client() as http:
        answer = http.get("/admin/orders", headers=headers)
    assert answer.status_code == status
    if status == 401:
        assert error_of(answer)["code"] == "UNAUTHORIZED"


def test_a_customer_token_is_not_an_api_key(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_admin_intruder")
    assert buyer.get("/admin/orders").status_code == 401


def test_orders_are_listed_by_status_and_shipped(shop: LiveServer) -> None:
    order = paid_order(shop, "o_admin_ship", ("tee-basic-black-L", 1))
    with staff(shop) as http:
        paid = [o["order_no"] for o in http.get("/admin/orders", params={"status": "paid"}).json()["orders"]]
        assert order["order_no"] in paid
        assert http.get("/admin/orders", params={"status": "lost"}).status_code == 422
        # When staff ship it
        shipped = http.post(f"/admin/orders/{order['order_no']}/ship",
                            json={"carrier": "顺丰速运", "tracking_no": "SF1234567890"})
        # Then it is shipped with its tracking number, and its history shows every step
        assert shipped.status_code == 200
        assert shipped.json()["status"] == "shipped" and shipped.json()["tracking_no"] == "SF1234567890"
        detail = http.get(f"/admin/orders/{order['order_no']}").json()
        assert [e["to_status"] for e in detail["events"]] == ["pending_payment", "paid", "shipped"]
        assert detail["openid"] == "o_admin_ship" and detail["transaction_id"]
        # And it cannot be shipped twice, nor an unpaid order at all
        again = http.post(f"/admin/orders/{order['order_no']}/ship", json={"carrier": "顺丰", "tracking_no": "SF2"})
        assert again.status_code == 422 and error_of(again)["field"] == "tracking_no"
        twice = http.post(f"/admin/orders/{order['order_no']}/ship", json={"carrier": "顺丰", "tracking_no": "SF22"})
        assert twice.status_code == 409 and error_of(twice)["code"] == "ILLEGAL_TRANSITION"


def test_a_partial_then_a_full_refund(shop: LiveServer) -> None:
    order = paid_order(shop, "o_admin_refund", ("lipstick-velvet-999", 2))
    order_no = order["order_no"]
    with staff(shop) as http:
        # When staff refund 50 yuan of the 318
        part = http.post(f"/admin/orders/{order_no}/refund", json={"amount_fen": 5000, "reason": "少发赠品"})
        assert part.status_code == 200, part.text
        assert part.json()["amount_fen"] == 5000 and part.json()["refund_status"] == "processing"
        _deliver_refund_notifications(shop)
        # Then WeChat Pay's refund notification settles it and the order stays paid
        after_part = http.get(f"/admin/orders/{order_no}").json()
        assert after_part["status"] == "paid" and after_part["refunded_fen"] == 5000
        # When more than what is left is asked for, it is refused
        over = http.post(f"/admin/orders/{order_no}/refund", json={"amount_fen": 30000, "reason": "x"})
        assert over.status_code == 409 and error_of(over)["code"] == "REFUND_REFUSED"
        # When the rest is refunded
        rest = http.post(f"/admin/orders/{order_no}/refund", json={"reason": "客户退货"})
        assert rest.json()["amount_fen"] == 2 * 15900 - 5000
        _deliver_refund_notifications(shop)
        final = http.get(f"/admin/orders/{order_no}").json()
    assert final["status"] == "refunded" and final["refunded_fen"] == 2 * 15900
    assert [r["status"] for r in final["refunds"]] == ["succeeded", "succeeded"]


def test_a_refund_request_answered_with_part_of_the_money(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_admin_refund_part_answer")
    order_no = placed_order(buyer, ("lipstick-velvet-999", 1))["order_no"]
    sandbox_pays(shop, order_no)
    # Given the customer asks for the whole 159 yuan back
    asked = buyer.post(f"/mp/orders/{order_no}/refund-request", json={"reason": "颜色不喜欢"})
    assert asked.status_code == 200 and asked.json()["status"] == "refunding"
    with staff(shop) as http:
        # When staff refund 30 yuan of it and WeChat Pay's notification settles it
        part = http.post(f"/admin/orders/{order_no}/refund", json={"amount_fen": 3000, "reason": "部分退款"})
        assert part.status_code == 200, part.text
        _deliver_refund_notifications(shop)
        # Then the request is answered: the order is paid again, with 30 yuan refunded
        answered = http.get(f"/admin/orders/{order_no}").json()
        assert answered["status"] == "paid" and answered["refunded_fen"] == 3000
        assert [e["to_status"] for e in answered["events"]][-2:] == ["refunding", "paid"]
        # and there is no request left to decline, but the rest can still be refunded
        declined = http.post(f"/admin/orders/{order_no}/decline-refund", json={"reason": "已处理"})
        assert declined.status_code == 409 and error_of(declined)["code"] == "ILLEGAL_TRANSITION"
        rest = http.post(f"/admin/orders/{order_no}/refund", json={"reason": "客户退货"})
        assert rest.json()["amount_fen"] == 15900 - 3000
        _deliver_refund_notifications(shop)
    assert buyer.get(f"/mp/orders/{order_no}").json()["status"] == "refunded"


def test_refund_input_is_validated(shop: LiveServer) -> None:
    order = paid_order(shop, "o_admin_refund_bad", ("tee-basic-white-M", 1))
    with staff(shop) as http:
        zero = http.post(f"/admin/orders/{order['order_no']}/refund", json={"amount_fen": 0, "reason": "x"})
        no_reason = http.post(f"/admin/orders/{order['order_no']}/refund", json={"amount_fen": 100})
        unknown = http.post("/admin/orders/20260101000000000000/refund", json={"reason": "x"})
    assert zero.status_code == 422 and error_of(zero)["field"] == "amount_fen"
    assert no_reason.status_code == 422 and error_of(no_reason)["field"] == "reason"
    assert unknown.status_code == 404


def test_stock_is_set_and_adjusted(shop: LiveServer) -> None:
    with staff(shop) as http:
        assert http.put("/admin/skus/tee-basic-black-L/stock", json={"stock": 40}).json() == {
            "sku_id": "tee-basic-black-L", "stock": 40}
        assert http.post("/admin/skus/tee-basic-black-L/stock-adjustments", json={"delta": -15}).json()["stock"] == 25
        below = http.post("/admin/skus/tee-basic-black-L/stock-adjustments", json={"delta": -26})
        negative = http.put("/admin/skus/tee-basic-black-L/stock", json={"stock": -1})
        missing = http.put("/admin/skus/no-such-sku/stock", json={"stock": 1})
    assert below.status_code == 422 and error_of(below)["field"] == "delta"
    assert negative.status_code == 422 and error_of(negative)["field"] == "stock"
    assert missing.status_code == 404
    assert stock_of(shop, "tee-basic", "tee-basic-black-L") == 25


def test_staff_can_end_a_customers_logins(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_admin_stolen_phone")
    with staff(shop) as http:
        answer = http.post("/admin/customers/o_admin_stolen_phone/revoke-logins")
    assert answer.json() == {"openid": "o_admin_stolen_phone", "revoked": 1}
    assert buyer.get("/mp/me").status_code == 401


def _deliver_refund_notifications(shop: LiveServer) -> None:
    """Let the sandbox make every notification try that is due, and wait for them."""
    with shop.client() as http:
        assert http.post("/sandbox/control/pay/deliver").status_code == 200
