"""The catalog through the staff API, over real HTTP against a live server: only admins, products listed,
searched and filtered, a product page with each SKU's reserved units, edits (prices in yuan, stock on hand
never below what orders awaiting payment hold) with every refusal naming its field and changing nothing,
and spreadsheets exported and imported in two steps (a report first, then applied), with the upload's own
size limit."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from commerce.catalog import import_catalog, load_catalog_file
from staff.catalog_api import IMPORT_MAX_BYTES
from staff.roles import Role
from storage.db import transaction
from tests.commerce.test_catalog_io import catalog_now, coat, csv_file, xlsx_file
from tests.staff.test_staff_api import make_staff, token_for
from tests.support import LiveServer
from tests.support.commerce import checkout, fixture_path, stock_of
from tests.support.mp_client import error_of


@pytest.fixture
def shop(server: LiveServer) -> LiveServer:
    """A live shop with the three-product test catalog, and two red M dresses in an order awaiting payment."""
    with transaction(server.services.factory) as session:
        import_catalog(session, load_catalog_file(fixture_path("small_catalog.yaml")))
    checkout(server.services.factory, "o_catalog_1", {"dress-test-red-M": 2})
    return server


@pytest.fixture
def clients() -> Iterator[list[httpx.Client]]:
    opened: list[httpx.Client] = []
    yield opened
    for client in opened:
        client.close()


def as_staff(server: LiveServer, clients: list[httpx.Client], username: str, role: Role) -> httpx.Client:
    make_staff(server, username, role, groups=("售前",) if role is Role.AGENT else ())
    http = server.client()
    clients.append(http)
    http.headers["Authorization"] = f"Bearer {token_for(server, username)}"
    return http


def ok(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def refused(answer: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    error: dict[str, Any] = error_of(answer)
    if field is not None:
        assert error["field"] == field, error
    return error


def test_only_admins_use_the_catalog(shop: LiveServer, clients: list[httpx.Client]) -> None:
    routes = [("GET", "/staff/api/catalog/products", None), ("GET", "/staff/api/catalog/products/dress-test", None),
              ("PUT", "/staff/api/catalog/skus/dress-test-red-M/stock", {"stock": 9}),
              ("PATCH", "/staff/api/catalog/skus/dress-test-red-M", {"price_yuan": "1"}),
              ("GET", "/staff/api/catalog/export?format=csv", None)]
    for role in (Role.AGENT, Role.SUPERVISOR, Role.MARKETER):
        http = as_staff(shop, clients, f"u_{role.value}", role)
        for method, path, body in routes:
            assert refused(http.request(method, path, json=body), 403)["code"] == "FORBIDDEN"
        assert refused(http.post("/staff/api/catalog/import", content=csv_file([coat()])), 403)
    anonymous = shop.client()
    clients.append(anonymous)
    assert refused(anonymous.get("/staff/api/catalog/products"), 401)
    assert stock_of(shop.services.factory, "dress-test-red-M") == 3


def test_products_are_listed_searched_and_filtered_with_their_stock(
    shop: LiveServer, clients: list[httpx.Client],
) -> None:
    admin = as_staff(shop, clients, "boss", Role.ADMIN)
    page = ok(admin.get("/staff/api/catalog/products"))
    assert page["total"] == 3 and page["categories"] == ["女装", "彩妆", "男装"]
    dress = page["products"][0]
    assert (dress["id"], dress["skus"], dress["price_min_fen"], dress["stock"], dress["reserved"],
            dress["available"]) == ("dress-test", 2, 25900, 8, 2, 6)
    assert [p["id"] for p in ok(admin.get("/staff/api/catalog/products?q=口红"))["products"]] == ["lipstick-test"]
    assert [p["id"] for p in ok(admin.get("/staff/api/catalog/products?category=男装"))["products"]] == ["shirt-test"]
    ok(admin.patch("/staff/api/catalog/products/shirt-test", json={"on_sale": False}))
    off = ok(admin.get("/staff/api/catalog/products?on_sale=false"))
    assert [p["id"] for p in off["products"]] == ["shirt-test"] and off["total"] == 1
    # a page past the end is empty, a huge one refused, a LIKE wildcard is taken literally
    assert ok(admin.get("/staff/api/catalog/products?offset=1000000"))["products"] == []
    refused(admin.get("/staff/api/catalog/products?offset=99999999999"), 422, "offset")
    refused(admin.get("/staff/api/catalog/products?limit=1000"), 422, "limit")
    assert ok(admin.get("/staff/api/catalog/products?q=%25"))["total"] == 0


def test_stock_is_set_on_hand_and_refused_below_what_is_reserved(
    shop: LiveServer, clients: list[httpx.Client],
) -> None:
    admin = as_staff(shop, clients, "boss", Role.ADMIN)
    product = ok(admin.get("/staff/api/catalog/products/dress-test"))
    red_m = product["skus"][0]
    assert (red_m["sku_id"], red_m["stock"], red_m["reserved"], red_m["available"]) == ("dress-test-red-M", 5, 2, 3)
    # below the 2 reserved: refused, naming the field and the reserved units; nothing changed
    error = refused(admin.put("/staff/api/catalog/skus/dress-test-red-M/stock", json={"stock": 1}), 422, "stock")
    assert error["reserved"] == 2 and "2 件被待付款订单占用" in error["message"]
    assert stock_of(shop.services.factory, "dress-test-red-M") == 3
    # counted 7 on hand: 5 left to buy
    sku = ok(admin.put("/staff/api/catalog/skus/dress-test-red-M/stock", json={"stock": 7}))
    assert (sku["stock"], sku["reserved"], sku["available"]) == (7, 2, 5)
    assert stock_of(shop.services.factory, "dress-test-red-M") == 5
    refused(admin.put("/staff/api/catalog/skus/dress-test-red-M/stock", json={"stock": -1}), 422, "stock")
    refused(admin.put("/staff/api/catalog/skus/dress-test-red-M/stock", json={"stock": 1.5}), 422, "stock")
    assert refused(admin.put("/staff/api/catalog/skus/no-such/stock", json={"stock": 1}), 404)["code"] == "NOT_FOUND"
    assert stock_of(shop.services.factory, "dress-test-red-M") == 5


def test_prices_in_yuan_products_and_skus_are_edited_and_added(shop: LiveServer, clients: list[httpx.Client]) -> None:
    admin = as_staff(shop, clients, "boss", Role.ADMIN)
    sku = ok(admin.patch("/staff/api/catalog/skus/lipstick-test-999",
                         json={"price_yuan": "19.99", "specs": {"色号": "#999 复古红"}, "on_sale": False}))
    assert (sku["price_fen"], sku["specs"], sku["on_sale"]) == (1999, {"色号": "#999 复古红"}, False)
    before = catalog_now(shop.services.factory)
    for bad in ("0", "-5", "1.234", "abc", "0.00"):
        refused(admin.patch("/staff/api/catalog/skus/lipstick-test-999", json={"price_yuan": bad}), 422, "price_yuan")
    refused(admin.patch("/staff/api/catalog/skus/lipstick-test-999", json={"price": "5"}), 422, "price")
    refused(admin.patch("/staff/api/catalog/skus/no-such", json={"price_yuan": "5"}), 404)
    refused(admin.patch("/staff/api/catalog/products/dress-test", json={"title": "  "}), 422, "title")
    refused(admin.patch("/staff/api/catalog/products/no-such", json={"title": "x"}), 404)
    assert catalog_now(shop.services.factory) == before

    product = ok(admin.patch("/staff/api/catalog/products/dress-test",
                             json={"title": "碎花连衣裙", "category": "连衣裙", "description": "雪纺"}))
    assert (product["title"], product["category"], product["description"]) == ("碎花连衣裙", "连衣裙", "雪纺")
    first = {"sku_id": "coat-grey-M", "specs": {"颜色": "灰色"}, "price_yuan": "899.9", "stock": 4}
    created = ok(admin.post("/staff/api/catalog/products",
                            json={"id": "coat", "title": "羊毛大衣", "category": "女装", "sku": first}), 201)
    assert [(s["sku_id"], s["price_fen"], s["stock"]) for s in created["skus"]] == [("coat-grey-M", 89990, 4)]
    refused(admin.post("/staff/api/catalog/products",
                       json={"id": "coat", "title": "x", "category": "x", "sku": {**first, "sku_id": "c2"}}), 422, "id")
    added = ok(admin.post("/staff/api/catalog/products/coat/skus",
                          json={**first, "sku_id": "coat-grey-L", "price_yuan": "899", "stock": 0}), 201)
    assert (added["price_fen"], added["available"]) == (89900, 0)
    refused(admin.post("/staff/api/catalog/products/coat/skus", json={**first, "sku_id": "dress-test-red-L"}), 422,
            "sku_id")
    refused(admin.post("/staff/api/catalog/products/no-such/skus", json={**first, "sku_id": "zz"}), 404)
    assert [s["sku_id"] for s in ok(admin.get("/staff/api/catalog/products/coat"))["skus"]] == [
        "coat-grey-M", "coat-grey-L"]


def test_the_catalog_exports_as_xlsx_and_csv_and_imports_back_unchanged(
    shop: LiveServer, clients: list[httpx.Client],
) -> None:
    admin = as_staff(shop, clients, "boss", Role.ADMIN)
    xlsx = admin.get("/staff/api/catalog/export?format=xlsx")
    assert xlsx.status_code == 200 and xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert 'attachment; filename="catalog-' in xlsx.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(xlsx.content)).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 6 and rows[1][6] == "dress-test-red-M" and rows[1][9] == 5  # on hand, 2 of them reserved
    text = admin.get("/staff/api/catalog/export?format=csv")
    assert text.headers["content-type"].startswith("text/csv")
    assert len(list(csv.reader(io.StringIO(text.content.decode("utf-8-sig"))))) == 6
    refused(admin.get("/staff/api/catalog/export?format=pdf"), 422, "format")
    before = catalog_now(shop.services.factory)
    for data in (xlsx.content, text.content):
        report = ok(admin.post("/staff/api/catalog/import?apply=true", content=data))
        assert report["ok"] and report["applied"] and report["changes"] == []
    assert catalog_now(shop.services.factory) == before


@pytest.mark.parametrize("make", [xlsx_file, csv_file], ids=["xlsx", "csv"])
def test_an_import_is_reported_first_refused_with_a_bad_row_and_applied_once_fixed(
    shop: LiveServer, clients: list[httpx.Client], make: Any,
) -> None:
    admin = as_staff(shop, clients, "boss", Role.ADMIN)
    red_m = {"product_id": "dress-test", "title": "测试碎花连衣裙", "category": "女装",
             "description": "雪纺面料，收腰显瘦。", "images": "https://img.example/dress-test/1.jpg",
             "sku_id": "dress-test-red-M", "specs": "颜色=红色;尺码=M",
             "price_yuan": "239.00", "stock": 1}  # 1 on hand, but 2 are reserved
    bad = make([coat(), red_m])
    before = catalog_now(shop.services.factory)
    report = ok(admin.post("/staff/api/catalog/import", content=bad))
    assert not report["ok"] and not report["applied"] and report["format"] == make.__name__[:-5]
    assert [(p["row"], p["column"]) for p in report["problems"]] == [(3, "stock")]
    changes = {(c["sku_id"] or c["product_id"], c["what"]): (c["before"], c["after"]) for c in report["changes"]}
    assert changes[("coat", "new_product")] == (None, "羊毛大衣")
    assert changes[("coat-grey-M", "new_sku")] == (None, {"specs": {"颜色": "灰色", "尺码": "M"}, "price_fen": 89900,
                                                          "stock": 10})
    assert changes[("dress-test-red-M", "price_fen")] == (25900, 23900)
    error = refused(admin.post("/staff/api/catalog/import?apply=true", content=bad), 422, "file")
    assert error["problem_count"] == 1 and error["problems"][0]["row"] == 3
    assert catalog_now(shop.services.factory) == before

    fixed = make([coat(), {**red_m, "stock": 6}])
    report = ok(admin.post("/staff/api/catalog/import", content=fixed))
    assert report["ok"] and (report["new_products"], report["new_skus"], report["changed_skus"]) == (1, 1, 1)
    assert catalog_now(shop.services.factory) == before  # still only a report
    applied = ok(admin.post("/staff/api/catalog/import?apply=true", content=fixed))
    assert applied["applied"]
    product = ok(admin.get("/staff/api/catalog/products/dress-test"))
    assert (product["skus"][0]["price_fen"], product["skus"][0]["stock"], product["skus"][0]["available"]) == (
        23900, 6, 4)
    assert ok(admin.get("/staff/api/catalog/products/coat"))["skus"][0]["price_fen"] == 89900


def test_an_upload_has_its_own_limit_and_a_file_that_is_not_a_catalog_is_refused(
    shop: LiveServer, clients: list[httpx.Client],
) -> None:
    admin = as_staff(shop, clients, "boss", Role.ADMIN)
    # bigger than the staff API's 16 KB, within the import's limit: read and reported
    rows = [coat(f"coat-{n}", description="双面羊毛" * 10, specs=f"颜色=灰色;编号={n}") for n in range(400)]
    big = csv_file(rows)
    assert 16384 < len(big) < IMPORT_MAX_BYTES
    assert ok(admin.post("/staff/api/catalog/import", content=big))["new_skus"] == 400
    too_big = refused(admin.post("/staff/api/catalog/import", content=b"x" * (IMPORT_MAX_BYTES + 1)), 413)
    assert too_big["code"] == "BODY_TOO_LARGE"
    # other routes keep the staff API's limit
    refused(admin.patch("/staff/api/catalog/products/dress-test", json={"description": "x" * 20000}), 413)
    refused(admin.post("/staff/api/catalog/import?apply=true", content=b"PK\x03\x04broken"), 422, "file")
    report = ok(admin.post("/staff/api/catalog/import", content=b""))
    assert [p["row"] for p in report["problems"]] == [1] and not report["ok"]


def test_the_openapi_document_describes_the_catalog_routes_and_their_refusals(server: LiveServer) -> None:
    with server.client() as http:
        paths = http.get("/openapi.json").json()["paths"]
    upload = paths["/staff/api/catalog/import"]["post"]
    assert set(upload["requestBody"]["content"]) >= {"text/csv", "application/octet-stream"}
    assert {"200", "401", "403", "413", "422", "503"} <= set(upload["responses"])
    assert {"text/csv"} <= set(paths["/staff/api/catalog/export"]["get"]["responses"]["200"]["content"])
    stock = paths["/staff/api/catalog/skus/{sku_id}/stock"]["put"]
    assert {"404", "422"} <= set(stock["responses"])
