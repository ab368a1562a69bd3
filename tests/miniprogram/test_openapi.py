"""The OpenAPI spec at /openapi.json documents every mini-program, pay and admin route."""

from __future__ import annotations

from tests.support import LiveServer

EXPECTED = {
    ("/mp/login", "post"), ("/mp/logout", "post"), ("/mp/me", "get"),
    ("/mp/products", "get"), ("/mp/products/{product_id}", "get"),
    ("/mp/cart", "get"), ("/mp/cart/items", "post"), ("/mp/cart/items/{sku_id}", "patch"),
    ("/mp/cart/items/{sku_id}", "delete"), ("/mp/checkout", "post"),
    ("/mp/orders", "get"), ("/mp/orders/{order_no}", "get"), ("/mp/orders/{order_no}/cancel", "post"),
    ("/mp/orders/{order_no}/refund-request", "post"), ("/mp/orders/{order_no}/pay", "post"),
    ("/mp/orders/{order_no}/confirm-receipt", "post"),
    ("/pay/notify", "post"), ("/pay/refund-notify", "post"),
    ("/admin/orders", "get"), ("/admin/orders/{order_no}", "get"), ("/admin/orders/{order_no}/ship", "post"),
    ("/admin/orders/{order_no}/refund", "post"), ("/admin/skus/{sku_id}/stock", "put"),
    ("/admin/skus/{sku_id}/stock-adjustments", "post"),
}


def test_the_spec_lists_every_route_with_its_error_body(shop: LiveServer) -> None:
    with shop.client() as http:
        spec = http.get("/openapi.json").json()
        docs = http.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text
    routes = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert routes >= EXPECTED, sorted(EXPECTED - routes)
    checkout = spec["paths"]["/mp/checkout"]["post"]
    assert checkout["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert checkout["security"] == [{"HTTPBearer": []}]
    assert "CheckoutIn" in spec["components"]["schemas"] and "Address" in spec["components"]["schemas"]


def test_the_login_route_documents_the_sandboxs_login_codes(shop: LiveServer) -> None:
    # The sandbox's jscode2session accepts only codes of this form; the spec is where a developer looks
    with shop.client() as http:
        login = http.get("/openapi.json").json()["paths"]["/mp/login"]["post"]
    assert "sandbox:<openid>:<nonce>" in login["description"]
    # and a code of that form does log that openid in
    with shop.client() as http:
        answer = http.post("/mp/login", json={"code": "sandbox:o_openapi_doc:n1"})
    assert answer.status_code == 200 and answer.json()["openid"] == "o_openapi_doc"
