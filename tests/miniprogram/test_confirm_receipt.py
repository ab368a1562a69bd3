"""The customer confirms receipt of a shipped order over HTTP: the order becomes delivered, once; only
their own order, and only a shipped one (a paid, unpaid or disputed order is refused)."""

from __future__ import annotations

import httpx

from tests.support import LiveServer
from tests.support.mp_client import Buyer, error_of, placed_order, sandbox_pays
from tests.support.shop_fixtures import ADMIN_KEY

SKU = "tee-basic-black-L"


def staff(shop: LiveServer) -> httpx.Client:
    http = shop.client()
    http.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
    return http


def paid(shop: LiveServer, buyer: Buyer) -> str:
    order_no: str = placed_order(buyer, (SKU, 1))["order_no"]
    sandbox_pays(shop, order_no)
    return order_no


def shipped(shop: LiveServer, buyer: Buyer) -> str:
    order_no = paid(shop, buyer)
    with staff(shop) as http:
        answer = http.post(f"/admin/orders/{order_no}/ship",
                           json={"carrier": "顺丰速运", "tracking_no": "SF1234567890"})
    assert answer.status_code == 200, answer.text
    return order_no


def history(shop: LiveServer, order_no: str) -> list[tuple[str, str]]:
    with staff(shop) as http:
        detail = http.get(f"/admin/orders/{order_no}").json()
    return [(event["to_status"], event["actor"]) for event in detail["events"]]


def test_the_customer_confirms_a_shipped_order_arrived(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_receipt_ok")
    order_no = shipped(shop, buyer)
    # When the customer confirms receipt
    answer = buyer.post(f"/mp/orders/{order_no}/confirm-receipt")
    # Then the order is delivered, by the customer's word, and the mini-program sees it so
    assert answer.status_code == 200, answer.text
    assert answer.json()["order_no"] == order_no and answer.json()["status"] == "delivered"
    assert buyer.get(f"/mp/orders/{order_no}").json()["status"] == "delivered"
    assert history(shop, order_no)[-2:] == [("shipped", "staff"), ("delivered", "customer")]
    # And confirming again is a conflict that changes nothing
    again = buyer.post(f"/mp/orders/{order_no}/confirm-receipt")
    assert again.status_code == 409 and error_of(again)["code"] == "ILLEGAL_TRANSITION"
    assert len(history(shop, order_no)) == 4


def test_another_customers_order_is_404_and_stays_shipped(shop: LiveServer) -> None:
    owner, other = Buyer(shop, "o_receipt_owner"), Buyer(shop, "o_receipt_other")
    order_no = shipped(shop, owner)
    answer = other.post(f"/mp/orders/{order_no}/confirm-receipt")
    assert answer.status_code == 404 and error_of(answer)["code"] == "NOT_FOUND"
    assert owner.get(f"/mp/orders/{order_no}").json()["status"] == "shipped"


def test_an_order_not_yet_shipped_cannot_be_received(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_receipt_early")
    unpaid: str = placed_order(buyer, (SKU, 1))["order_no"]
    paid_only = paid(shop, buyer)
    for order_no, status in ((unpaid, "pending_payment"), (paid_only, "paid")):
        answer = buyer.post(f"/mp/orders/{order_no}/confirm-receipt")
        assert answer.status_code == 409, answer.text
        error = error_of(answer)
        assert (error["code"], error["status"]) == ("ILLEGAL_TRANSITION", status)
        assert buyer.get(f"/mp/orders/{order_no}").json()["status"] == status


def test_receipt_confirmed_during_a_refund_request_leaves_the_dispute_open(shop: LiveServer) -> None:
    # Given a shipped order whose customer has asked for a refund (staff have not answered yet)
    buyer = Buyer(shop, "o_receipt_disputed")
    order_no = shipped(shop, buyer)
    asked = buyer.post(f"/mp/orders/{order_no}/refund-request", json={"reason": "还没收到货"})
    assert asked.json()["status"] == "refunding"
    # When the customer then confirms receipt, it is refused: staff's answer decides where the order goes
    answer = buyer.post(f"/mp/orders/{order_no}/confirm-receipt")
    assert answer.status_code == 409 and error_of(answer)["code"] == "ILLEGAL_TRANSITION"
    assert buyer.get(f"/mp/orders/{order_no}").json()["status"] == "refunding"


def test_confirming_receipt_needs_a_login(shop: LiveServer) -> None:
    order_no = shipped(shop, Buyer(shop, "o_receipt_anonymous"))
    with shop.client() as http:
        answer = http.post(f"/mp/orders/{order_no}/confirm-receipt")
    assert answer.status_code == 401 and error_of(answer)["code"] == "UNAUTHORIZED"
