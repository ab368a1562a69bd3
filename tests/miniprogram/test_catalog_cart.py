"""GET /mp/products, the cart routes, and their validation, through HTTP."""

from __future__ import annotations

import pytest

from tests.support import LiveServer
from tests.support.mp_client import Buyer, error_of


def test_products_are_listed_with_their_skus(shop: LiveServer) -> None:
    with shop.client() as http:
        page = http.get("/mp/products").json()
        beauty = http.get("/mp/products", params={"category": "美妆"}).json()
        one = http.get("/mp/products/lipstick-velvet")
    assert page["total"] == 3 and [p["id"] for p in page["products"]] == ["tee-basic", "lipstick-velvet", "scarf-silk"]
    assert [p["id"] for p in beauty["products"]] == ["lipstick-velvet"] and beauty["total"] == 1
    assert one.status_code == 200
    assert one.json()["skus"] == [{"sku_id": "lipstick-velvet-999", "specs": {"色号": "999"}, "price_fen": 15900,
                                   "stock": 500}]


def test_an_unknown_product_is_404(shop: LiveServer) -> None:
    with shop.client() as http:
        answer = http.get("/mp/products/no-such-thing")
    assert answer.status_code == 404 and error_of(answer)["code"] == "NOT_FOUND"


@pytest.mark.parametrize(("params", "field"), [({"limit": 0}, "limit"), ({"limit": "x"}, "limit"),
                                               ({"offset": -1}, "offset")])
def test_paging_is_validated(shop: LiveServer, params: dict[str, int | str], field: str) -> None:
    with shop.client() as http:
        answer = http.get("/mp/products", params=params)
    assert answer.status_code == 422 and error_of(answer)["field"] == field


def test_the_cart_needs_a_login(shop: LiveServer) -> None:
    with shop.client() as http:
        answers = [http.get("/mp/cart"), http.post("/mp/cart/items", json={"sku_id": "tee-basic-white-M"}),
                   http.delete("/mp/cart/items/tee-basic-white-M"), http.post("/mp/checkout", json={})]
    assert [a.status_code for a in answers] == [401, 401, 401, 401]


def test_a_cart_is_filled_changed_and_emptied(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_cart_flow")
    # Given an empty cart
    assert buyer.get("/mp/cart").json() == {"lines": [], "quantity": 0, "total_fen": 0}
    # When two SKUs are added, one of them twice
    buyer.post("/mp/cart/items", json={"sku_id": "tee-basic-white-M", "quantity": 2})
    buyer.post("/mp/cart/items", json={"sku_id": "lipstick-velvet-999"})
    cart = buyer.post("/mp/cart/items", json={"sku_id": "tee-basic-white-M", "quantity": 1}).json()
    # Then the lines add up
    lines = sorted((line["sku_id"], line["quantity"], line["subtotal_fen"]) for line in cart["lines"])
    assert lines == [("lipstick-velvet-999", 1, 15900), ("tee-basic-white-M", 3, 3 * 7900)]
    assert cart["quantity"] == 4 and cart["total_fen"] == 3 * 7900 + 15900
    # When a quantity is set, and a line removed
    patched = buyer.patch("/mp/cart/items/tee-basic-white-M", json={"quantity": 1}).json()
    assert patched["total_fen"] == 7900 + 15900
    emptied = buyer.delete("/mp/cart/items/lipstick-velvet-999").json()
    assert [line["sku_id"] for line in emptied["lines"]] == ["tee-basic-white-M"]
    # And a quantity of 0 removes the last line
    assert buyer.patch("/mp/cart/items/tee-basic-white-M", json={"quantity": 0}).json()["lines"] == []


def test_carts_are_per_customer(shop: LiveServer) -> None:
    alice, bob = Buyer(shop, "o_cart_alice"), Buyer(shop, "o_cart_bob")
    alice.post("/mp/cart/items", json={"sku_id": "tee-basic-black-L"})
    assert bob.get("/mp/cart").json()["lines"] == []
    assert bob.delete("/mp/cart/items/tee-basic-black-L").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"quantity": 1}, "sku_id"),
        ({"sku_id": "tee-basic-white-M", "quantity": 0}, "quantity"),
        ({"sku_id": "tee-basic-white-M", "quantity": 100}, "quantity"),
        ({"sku_id": "tee-basic-white-M", "quantity": "many"}, "quantity"),
        ({"sku_id": "tee-basic-white-M", "qty": 1}, "qty"),
    ],
)
def test_cart_input_is_validated_naming_the_field(shop: LiveServer, body: dict[str, object], field: str) -> None:
    buyer = Buyer(shop, "o_cart_validation")
    answer = buyer.post("/mp/cart/items", json=body)
    assert answer.status_code == 422
    error = error_of(answer)
    assert error["code"] == "INVALID_INPUT" and error["field"] == field
    assert buyer.get("/mp/cart").json()["lines"] == []  # and nothing changed


def test_an_unknown_sku_is_404_and_changes_nothing(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_cart_unknown")
    answer = buyer.post("/mp/cart/items", json={"sku_id": "no-such-sku"})
    assert answer.status_code == 404 and "no-such-sku" in error_of(answer)["message"]
    assert buyer.patch("/mp/cart/items/no-such-sku", json={"quantity": 2}).status_code == 404
    assert buyer.get("/mp/cart").json()["lines"] == []
