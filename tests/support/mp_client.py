"""The mini-program side of the tests: logs in with sandbox codes and calls /mp/ with its token."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from tests.support import LOCAL_TLS, LiveServer

_nonces = itertools.count(1)


def login_code(openid: str) -> str:
    """A fresh code as wx.login() would give it; the sandbox accepts each one once."""
    return f"sandbox:{openid}:n{next(_nonces)}"


class Buyer:
    """One customer with a logged-in mini-program."""

    def __init__(self, server: LiveServer, openid: str) -> None:
        self.openid = openid
        self.http = server.client()
        answer = self.http.post("/mp/login", json={"code": login_code(openid)})
        assert answer.status_code == 200, answer.text
        self.token: str = answer.json()["token"]
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.post(path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.patch(path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.delete(path, **kwargs)


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The {"code", "message", "field"} of a refusal."""
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}, body
    detail: dict[str, Any] = body["error"]
    assert {"code", "message", "field"} <= set(detail), detail
    return detail


ADDRESS = {"name": "张三", "phone": "13800138000", "province": "广东省", "city": "广州市", "district": "天河区",
           "detail": "体育西路 100 号 8 楼"}


def checkout(buyer: Buyer, *items: tuple[str, int]) -> httpx.Response:
    """Put the items in the buyer's cart and check out."""
    for sku_id, quantity in items:
        added = buyer.post("/mp/cart/items", json={"sku_id": sku_id, "quantity": quantity})
        assert added.status_code == 200, added.text
    return buyer.post("/mp/checkout", json={"address": ADDRESS})


def placed_order(buyer: Buyer, *items: tuple[str, int]) -> dict[str, Any]:
    answer = checkout(buyer, *items)
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def sandbox_pays(server: LiveServer, order_no: str) -> dict[str, Any]:
    """The customer pays in WeChat; the sandbox sends its signed notification (first try) before answering."""
    with httpx.Client(base_url=server.base_url, verify=LOCAL_TLS, timeout=20) as http:
        answer = http.post(f"/sandbox/control/pay/{order_no}/pay")
    assert answer.status_code == 200, answer.text
    paid: dict[str, Any] = answer.json()
    return paid


def stock_of(server: LiveServer, product_id: str, sku_id: str) -> int:
    with server.client() as http:
        product = http.get(f"/mp/products/{product_id}").json()
    return int(next(sku["stock"] for sku in product["skus"] if sku["sku_id"] == sku_id))
