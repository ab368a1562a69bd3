"""Checkout through HTTP: stock reserved, WeChat Pay prepay, pay params the mini-program can trust,
the sandbox customer paying and its signed notification marking the order paid; out of stock,
other customers' orders, cancellation and refund requests."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from tests.support import LiveServer
from tests.support.mp_client import ADDRESS, Buyer, checkout, error_of, placed_order, sandbox_pays, stock_of
from tests.support.pay import Merchant


def test_checkout_reserves_stock_and_returns_signed_pay_params(shop: LiveServer, merchant: Merchant) -> None:
    buyer = Buyer(shop, "o_checkout_sign")
    before = stock_of(shop, "tee-basic", "tee-basic-black-L")
    # When the customer checks out two T-shirts
    answer = checkout(buyer, ("tee-basic-black-L", 2))
    # Then an order for the cart's amount is pending payment, with the stock reserved and the cart empty
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["amount_fen"] == 2 * 8900 and body["status"] == "pending_payment" and len(body["order_no"]) == 20
    assert stock_of(shop, "tee-basic", "tee-basic-black-L") == before - 2
    assert buyer.get("/mp/cart").json()["lines"] == []
    # And paySign verifies with the merchant's public key over WeChat's four lines
    params = body["pay_params"]
    assert params["appId"] == shop.settings.miniprogram.app_id and params["signType"] == "RSA"
    assert params["package"].startswith("prepay_id=") and len(params["package"]) > len("prepay_id=")
    message = "".join(f"{params[k]}\n" for k in ("appId", "timeStamp", "nonceStr", "package")).encode()
    signature = base64.b64decode(params["paySign"])
    merchant.merchant_key.public_key().verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(InvalidSignature):  # the check can fail: a changed package does not verify
        merchant.merchant_key.public_key().verify(signature, message.replace(b"prepay_id=", b"prepay_id=x"),
                                                  padding.PKCS1v15(), hashes.SHA256())


def test_the_sandbox_customer_pays_and_the_notification_marks_the_order_paid(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_checkout_pays")
    order = placed_order(buyer, ("lipstick-velvet-999", 1))
    # When the customer pays in WeChat
    paid = sandbox_pays(shop, order["order_no"])
    # Then WeChat Pay's signed notification reached /pay/notify and was acknowledged with 204
    attempts = paid["notifications"][0]["attempts"]
    assert [a["status"] for a in attempts] == [204] and paid["notifications"][0]["state"] == "delivered"
    # And the order is paid
    seen = buyer.get(f"/mp/orders/{order['order_no']}").json()
    assert seen["status"] == "paid" and seen["paid_at"] is not None and seen["amount_fen"] == 15900
    listed = buyer.get("/mp/orders", params={"status": "paid"}).json()["orders"]
    assert [o["order_no"] for o in listed] == [order["order_no"]]


def test_out_of_stock_is_409_naming_the_sku_and_changes_nothing(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_checkout_sold_out")
    answer = checkout(buyer, ("tee-basic-white-M", 1), ("scarf-silk-sold-out", 1))
    assert answer.status_code == 409
    error = error_of(answer)
    assert error["code"] == "OUT_OF_STOCK" and error["sku_id"] == "scarf-silk-sold-out"
    assert "scarf-silk-sold-out" in error["message"]
    # Nothing was ordered, the cart is kept, and the other SKU's units were not taken
    assert buyer.get("/mp/orders").json()["orders"] == []
    assert len(buyer.get("/mp/cart").json()["lines"]) == 2


def test_two_customers_race_for_the_last_unit(shop: LiveServer) -> None:
    buyers = [Buyer(shop, f"o_checkout_race_{n}") for n in range(2)]
    for buyer in buyers:
        buyer.post("/mp/cart/items", json={"sku_id": "scarf-silk-last-one"})
    # When both check out at once
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda b: b.post("/mp/checkout", json={"address": ADDRESS}), buyers))
    # Then exactly one gets it, the other is told which SKU ran out
    assert sorted(a.status_code for a in answers) == [201, 409]
    refused = next(a for a in answers if a.status_code == 409)
    assert error_of(refused)["sku_id"] == "scarf-silk-last-one"
    assert stock_of(shop, "scarf-silk", "scarf-silk-last-one") == 0


def test_an_empty_cart_cannot_check_out(shop: LiveServer) -> None:
    answer = Buyer(shop, "o_checkout_empty").post("/mp/checkout", json={"address": ADDRESS})
    assert answer.status_code == 409 and error_of(answer)["code"] == "EMPTY_CART"


@pytest.mark.parametrize(
    ("address", "field"),
    [
        ({k: v for k, v in ADDRESS.items() if k != "phone"}, "address.phone"),
        (ADDRESS | {"phone": "call me"}, "address.phone"),
        (ADDRESS | {"detail": "x" * 121}, "address.detail"),
        (ADDRESS | {"floor": "8"}, "address.floor"),
        ("体育西路", "address"),
    ],
)
def test_the_address_is_validated_naming_the_field(shop: LiveServer, address: object, field: str) -> None:
    buyer = Buyer(shop, f"o_checkout_address_{field.replace('.', '_')}")
    buyer.post("/mp/cart/items", json={"sku_id": "tee-basic-white-M"})
    answer = buyer.post("/mp/checkout", json={"address": address})
    assert answer.status_code == 422 and error_of(answer)["field"] == field
    assert buyer.get("/mp/orders").json()["orders"] == []


def test_another_customers_order_is_404(shop: LiveServer) -> None:
    owner, other = Buyer(shop, "o_checkout_owner"), Buyer(shop, "o_checkout_other")
    order_no = placed_order(owner, ("tee-basic-white-M", 1))["order_no"]
    answers = [
        other.get(f"/mp/orders/{order_no}"),
        other.post(f"/mp/orders/{order_no}/cancel"),
        other.post(f"/mp/orders/{order_no}/refund-request", json={"reason": "不想要了"}),
        other.post(f"/mp/orders/{order_no}/pay"),
    ]
    assert [a.status_code for a in answers] == [404, 404, 404, 404]
    assert all(error_of(a)["code"] == "NOT_FOUND" for a in answers)
    assert other.get("/mp/orders").json()["orders"] == []
    assert owner.get(f"/mp/orders/{order_no}").json()["status"] == "pending_payment"


def test_cancelling_an_unpaid_order_closes_it_and_releases_stock(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_checkout_cancel")
    before = stock_of(shop, "tee-basic", "tee-basic-white-M")
    order_no = placed_order(buyer, ("tee-basic-white-M", 3))["order_no"]
    assert stock_of(shop, "tee-basic", "tee-basic-white-M") == before - 3
    # When the customer cancels
    answer = buyer.post(f"/mp/orders/{order_no}/cancel")
    # Then the order is cancelled, the units are back, and WeChat Pay's order is closed
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    assert stock_of(shop, "tee-basic", "tee-basic-white-M") == before
    with shop.client() as http:
        closed = http.get(f"/sandbox/control/pay/transactions/{order_no}").json()
    assert closed["trade_state"] == "CLOSED"
    # And cancelling again is a conflict
    again = buyer.post(f"/mp/orders/{order_no}/cancel")
    assert again.status_code == 409 and error_of(again)["code"] == "ILLEGAL_TRANSITION"


def test_a_paid_order_can_be_asked_to_be_refunded_once(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_checkout_refund_request")
    order_no = placed_order(buyer, ("lipstick-velvet-999", 1))["order_no"]
    # An unpaid order cannot be refunded
    early = buyer.post(f"/mp/orders/{order_no}/refund-request", json={"reason": "拍错了"})
    assert early.status_code == 409
    sandbox_pays(shop, order_no)
    # When the customer asks for a refund of the paid order
    answer = buyer.post(f"/mp/orders/{order_no}/refund-request", json={"reason": "颜色不喜欢"})
    assert answer.status_code == 200 and answer.json()["status"] == "refunding"
    assert buyer.post(f"/mp/orders/{order_no}/refund-request", json={"reason": "again"}).status_code == 409
    blank = buyer.post(f"/mp/orders/{order_no}/refund-request", json={"reason": ""})
    assert blank.status_code == 422 and error_of(blank)["field"] == "reason"


def test_pay_params_can_be_asked_for_again_until_paid(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_checkout_pay_again")
    order = placed_order(buyer, ("tee-basic-white-M", 1))
    again = buyer.post(f"/mp/orders/{order['order_no']}/pay")
    assert again.status_code == 200
    assert again.json()["pay_params"]["package"] == order["pay_params"]["package"]  # the same prepay_id
    sandbox_pays(shop, order["order_no"])
    assert buyer.post(f"/mp/orders/{order['order_no']}/pay").status_code == 409


def _wechat_pay_fails(shop: LiveServer, api: str, times: int = 1) -> None:
    with shop.client() as http:
        answer = http.post("/sandbox/control/pay/faults", json={"api": api, "status": 500, "times": times})
    assert answer.status_code == 200


def test_when_wechat_pay_is_down_the_order_is_kept_and_paying_can_be_retried(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_checkout_prepay_down")
    # Given WeChat Pay answers the next prepay with a 500
    _wechat_pay_fails(shop, "jsapi")
    # When the customer checks out
    answer = checkout(buyer, ("lipstick-velvet-999", 1))
    # Then the order exists (its stock reserved) and the answer says how to pay it later
    assert answer.status_code == 503
    error = error_of(answer)
    assert error["code"] == "PAYMENT_UNAVAILABLE" and error["order_no"]
    assert buyer.get(f"/mp/orders/{error['order_no']}").json()["status"] == "pending_payment"
    # And once WeChat Pay is back, the same order gets its pay params
    again = buyer.post(f"/mp/orders/{error['order_no']}/pay")
    assert again.status_code == 200 and again.json()["pay_params"]["package"].startswith("prepay_id=")


def test_a_cancel_wechat_pay_cannot_confirm_changes_nothing(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_checkout_close_down")
    order_no = placed_order(buyer, ("tee-basic-white-M", 1))["order_no"]
    # Given WeChat Pay fails the close and the query that follows
    _wechat_pay_fails(shop, "close")
    _wechat_pay_fails(shop, "query")
    answer = buyer.post(f"/mp/orders/{order_no}/cancel")
    # Then the customer is told to try again, and the order is still there to pay
    assert answer.status_code == 503 and error_of(answer)["code"] == "PAYMENT_UNAVAILABLE"
    assert buyer.get(f"/mp/orders/{order_no}").json()["status"] == "pending_payment"
    assert buyer.post(f"/mp/orders/{order_no}/cancel").json()["status"] == "cancelled"
