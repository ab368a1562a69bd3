"""POST /mp/checkout with `items`: only the chosen SKUs are ordered, their cart lines go and the others
stay; 立即购买 (`keep_cart`) leaves the cart as it was; every refusal changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import update

from commerce.models import Sku
from storage.db import make_session_factory, transaction
from tests.support import LiveServer
from tests.support.mp_client import ADDRESS, Buyer, error_of, stock_of

PRODUCT_OF = {"tee-basic-white-M": "tee-basic", "tee-basic-black-L": "tee-basic",
              "lipstick-velvet-999": "lipstick-velvet", "scarf-silk-last-one": "scarf-silk",
              "scarf-silk-sold-out": "scarf-silk"}


def fill_cart(buyer: Buyer, *lines: tuple[str, int]) -> None:
    for sku_id, quantity in lines:
        added = buyer.post("/mp/cart/items", json={"sku_id": sku_id, "quantity": quantity})
        assert added.status_code == 200, added.text


def cart_of(buyer: Buyer) -> list[tuple[str, int]]:
    return sorted((line["sku_id"], line["quantity"]) for line in buyer.get("/mp/cart").json()["lines"])


def order_items(buyer: Buyer, order_no: str) -> list[tuple[str, int]]:
    order = buyer.get(f"/mp/orders/{order_no}").json()
    return sorted((item["sku_id"], item["quantity"]) for item in order["items"])


def checkout_items(buyer: Buyer, items: list[dict[str, Any]], **extra: Any) -> httpx.Response:
    return buyer.post("/mp/checkout", json={"address": ADDRESS, "items": items} | extra)


def stocks(shop: LiveServer) -> dict[str, int]:
    return {sku_id: stock_of(shop, product_id, sku_id) for sku_id, product_id in PRODUCT_OF.items()}


def test_only_the_chosen_lines_are_ordered_and_the_others_stay_in_the_cart(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_items_ticked")
    # Given a cart of three lines
    fill_cart(buyer, ("tee-basic-white-M", 2), ("tee-basic-black-L", 1), ("lipstick-velvet-999", 1))
    before = stocks(shop)
    # When two of them are ticked, one at fewer units than its line holds
    answer = checkout_items(buyer, [{"sku_id": "lipstick-velvet-999", "quantity": 1},
                                    {"sku_id": "tee-basic-white-M", "quantity": 1}])
    # Then the order holds exactly those, at their prices, with their stock reserved
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["amount_fen"] == 15900 + 7900 and body["pay_params"]["package"].startswith("prepay_id=")
    assert order_items(buyer, body["order_no"]) == [("lipstick-velvet-999", 1), ("tee-basic-white-M", 1)]
    after = stocks(shop)
    assert after["lipstick-velvet-999"] == before["lipstick-velvet-999"] - 1
    assert after["tee-basic-white-M"] == before["tee-basic-white-M"] - 1
    assert after["tee-basic-black-L"] == before["tee-basic-black-L"]
    # And the ordered lines left the cart whole (the line of 2 too); the unticked line stays
    assert cart_of(buyer) == [("tee-basic-black-L", 1)]


def test_buy_now_of_a_sku_not_in_the_cart_leaves_the_cart_as_it_was(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_items_buy_now")
    fill_cart(buyer, ("tee-basic-white-M", 2))
    before = stock_of(shop, "lipstick-velvet", "lipstick-velvet-999")
    answer = checkout_items(buyer, [{"sku_id": "lipstick-velvet-999", "quantity": 3}], keep_cart=True)
    assert answer.status_code == 201, answer.text
    assert answer.json()["amount_fen"] == 3 * 15900
    assert order_items(buyer, answer.json()["order_no"]) == [("lipstick-velvet-999", 3)]
    assert stock_of(shop, "lipstick-velvet", "lipstick-velvet-999") == before - 3
    assert cart_of(buyer) == [("tee-basic-white-M", 2)]


def test_buy_now_of_a_sku_also_in_the_cart_keeps_its_cart_line(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_items_buy_now_in_cart")
    fill_cart(buyer, ("tee-basic-black-L", 2), ("lipstick-velvet-999", 1))
    answer = checkout_items(buyer, [{"sku_id": "tee-basic-black-L", "quantity": 1}], keep_cart=True)
    assert answer.status_code == 201, answer.text
    assert order_items(buyer, answer.json()["order_no"]) == [("tee-basic-black-L", 1)]
    assert cart_of(buyer) == [("lipstick-velvet-999", 1), ("tee-basic-black-L", 2)]


def test_items_need_not_be_in_the_cart_and_an_empty_cart_is_no_refusal(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_items_empty_cart")
    answer = checkout_items(buyer, [{"sku_id": "tee-basic-white-M", "quantity": 2}])
    assert answer.status_code == 201, answer.text
    assert order_items(buyer, answer.json()["order_no"]) == [("tee-basic-white-M", 2)]
    assert cart_of(buyer) == []


def test_without_items_the_whole_cart_is_ordered_as_before(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_items_whole_cart")
    fill_cart(buyer, ("tee-basic-white-M", 1), ("lipstick-velvet-999", 2))
    answer = buyer.post("/mp/checkout", json={"address": ADDRESS})
    assert answer.status_code == 201, answer.text
    assert order_items(buyer, answer.json()["order_no"]) == [("lipstick-velvet-999", 2), ("tee-basic-white-M", 1)]
    assert cart_of(buyer) == []


def _refused_and_nothing_changed(shop: LiveServer, buyer: Buyer, answer: httpx.Response,
                                 cart: list[tuple[str, int]], before: dict[str, int]) -> dict[str, Any]:
    error = error_of(answer)
    assert buyer.get("/mp/orders").json()["orders"] == []
    assert cart_of(buyer) == cart
    assert stocks(shop) == before
    return error


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([{"sku_id": "tee-basic-white-M", "quantity": 0}], "items.0.quantity"),
        ([{"sku_id": "lipstick-velvet-999", "quantity": 1}, {"sku_id": "tee-basic-white-M", "quantity": 100}],
         "items.1.quantity"),
        ([{"sku_id": "tee-basic-white-M", "quantity": "two"}], "items.0.quantity"),
        ([{"sku_id": "tee-basic-white-M"}], "items.0.quantity"),
        ([{"sku_id": "", "quantity": 1}], "items.0.sku_id"),
        ([{"sku_id": "tee-basic-white-M", "quantity": 1, "note": "x"}], "items.0.note"),
        ([], "items"),
        ([{"sku_id": f"sku-{n}", "quantity": 1} for n in range(51)], "items"),
        # listed twice: refused rather than summed, naming the second entry
        ([{"sku_id": "tee-basic-white-M", "quantity": 1}, {"sku_id": "lipstick-velvet-999", "quantity": 1},
          {"sku_id": "tee-basic-white-M", "quantity": 2}], "items.2.sku_id"),
    ],
)
def test_bad_items_are_422_naming_the_field(shop: LiveServer, items: list[dict[str, Any]], field: str) -> None:
    buyer = Buyer(shop, "o_items_invalid")
    cart = cart_of(buyer)
    if not cart:
        fill_cart(buyer, ("tee-basic-white-M", 1))
        cart = cart_of(buyer)
    before = stocks(shop)
    answer = checkout_items(buyer, items)
    assert answer.status_code == 422, answer.text
    error = _refused_and_nothing_changed(shop, buyer, answer, cart, before)
    assert error["code"] == "INVALID_INPUT" and error["field"] == field


def test_keep_cart_without_items_is_422(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_items_keep_without_items")
    fill_cart(buyer, ("tee-basic-white-M", 1))
    before = stocks(shop)
    answer = buyer.post("/mp/checkout", json={"address": ADDRESS, "keep_cart": True})
    assert answer.status_code == 422
    error = _refused_and_nothing_changed(shop, buyer, answer, [("tee-basic-white-M", 1)], before)
    assert error["field"] == "keep_cart"


def test_an_unknown_sku_is_404_naming_it_and_changes_nothing(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_items_unknown")
    fill_cart(buyer, ("tee-basic-white-M", 1))
    before = stocks(shop)
    answer = checkout_items(buyer, [{"sku_id": "tee-basic-white-M", "quantity": 1},
                                    {"sku_id": "no-such-sku", "quantity": 1}])
    assert answer.status_code == 404
    error = _refused_and_nothing_changed(shop, buyer, answer, [("tee-basic-white-M", 1)], before)
    assert error["code"] == "NOT_FOUND" and error["sku_id"] == "no-such-sku" and "no-such-sku" in error["message"]


def _on_sale(shop: LiveServer, sku_id: str, active: bool) -> None:
    with transaction(make_session_factory(shop.services.engine)) as session:
        session.execute(update(Sku).where(Sku.sku_id == sku_id).values(active=active))


def test_an_off_sale_sku_is_404_naming_it_and_changes_nothing(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_items_off_sale")
    fill_cart(buyer, ("tee-basic-white-M", 1), ("tee-basic-black-L", 1))
    before = stocks(shop)
    # Given a SKU in the cart that was taken off sale since
    _on_sale(shop, "tee-basic-black-L", False)
    try:
        answer = checkout_items(buyer, [{"sku_id": "tee-basic-white-M", "quantity": 1},
                                        {"sku_id": "tee-basic-black-L", "quantity": 1}])
        assert answer.status_code == 404
        error = error_of(answer)
        assert error["code"] == "NOT_FOUND" and error["sku_id"] == "tee-basic-black-L"
        assert buyer.get("/mp/orders").json()["orders"] == []
        assert cart_of(buyer) == [("tee-basic-black-L", 1), ("tee-basic-white-M", 1)]
        # And the line still on sale can be ordered alone, the off-sale line staying in the cart
        alone = checkout_items(buyer, [{"sku_id": "tee-basic-white-M", "quantity": 1}])
        assert alone.status_code == 201, alone.text
        assert cart_of(buyer) == [("tee-basic-black-L", 1)]
    finally:
        _on_sale(shop, "tee-basic-black-L", True)
    assert stock_of(shop, "tee-basic", "tee-basic-white-M") == before["tee-basic-white-M"] - 1


def test_out_of_stock_is_409_naming_the_sku_and_takes_no_other_units(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_items_sold_out")
    fill_cart(buyer, ("lipstick-velvet-999", 1))
    before = stocks(shop)
    # lipstick sorts before scarf, so its units are taken first and must come back
    answer = checkout_items(buyer, [{"sku_id": "lipstick-velvet-999", "quantity": 1},
                                    {"sku_id": "scarf-silk-sold-out", "quantity": 1}], keep_cart=True)
    assert answer.status_code == 409
    error = _refused_and_nothing_changed(shop, buyer, answer, [("lipstick-velvet-999", 1)], before)
    assert error["code"] == "OUT_OF_STOCK" and error["sku_id"] == "scarf-silk-sold-out"


def test_more_units_than_are_left_is_409(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_items_too_many")
    before = stocks(shop)
    answer = checkout_items(buyer, [{"sku_id": "scarf-silk-last-one", "quantity": 2}])
    assert answer.status_code == 409
    error = _refused_and_nothing_changed(shop, buyer, answer, [], before)
    assert error["sku_id"] == "scarf-silk-last-one"


def test_the_spec_documents_the_items(shop: LiveServer) -> None:
    with shop.client() as http:
        spec = http.get("/openapi.json").json()
    checkout = spec["paths"]["/mp/checkout"]["post"]
    assert "keep_cart" in checkout["description"] and "立即购买" in checkout["description"]
    body = spec["components"]["schemas"]["CheckoutIn"]["properties"]
    assert {"address", "items", "keep_cart"} <= set(body)
    assert "CheckoutItemIn" in spec["components"]["schemas"]
