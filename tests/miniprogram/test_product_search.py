"""`GET /mp/products?q=` and `?category=` on the demo catalog, the spec that documents them, and the
product images the service serves for the mini-program to show."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from commerce.catalog import import_catalog, load_catalog_file
from storage.db import transaction
from tests.support import LiveServer, empty_tables, start_server

DEMO_CATALOG = Path(__file__).resolve().parents[2] / "chatshop" / "demo" / "catalog.yaml"
DRESSES = ["dress-floral", "dress-knit", "dress-shirt"]


@pytest.fixture(scope="module")
def demo_shop(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the module: the searches only read the demo catalog."""
    empty_tables(database_url)
    var = tmp_path_factory.mktemp("demo-shop")
    server = start_server(database_url, var, {"CHATSHOP__MEDIA__IMAGES_DIR": str(var / "images")})
    with transaction(server.services.factory) as session:
        import_catalog(session, load_catalog_file(DEMO_CATALOG))
    yield server
    server.stop()


def products(shop: LiveServer, **params: Any) -> dict[str, Any]:
    with shop.client() as http:
        answer = http.get("/mp/products", params=params)
    assert answer.status_code == 200, answer.text
    page: dict[str, Any] = answer.json()
    return page


def ids(page: dict[str, Any]) -> list[str]:
    return [product["id"] for product in page["products"]]


def test_q_finds_the_dresses(demo_shop: LiveServer) -> None:
    page = products(demo_shop, q="连衣裙")
    assert ids(page) == DRESSES and page["total"] == 3
    assert page["products"][0]["images"] == ["/images/demo/dress-floral.jpg"]


def test_q_understands_how_customers_ask(demo_shop: LiveServer) -> None:
    # Cantonese, a broader word, words that only say someone is looking
    assert ids(products(demo_shop, q="有冇裙子")) == [*DRESSES, "skirt-pleated", "skirt-denim"]
    assert ids(products(demo_shop, q="有没有男士衬衫", limit=2)) == ["shirt-oxford", "shirt-linen"]
    assert products(demo_shop, q="有没有帽子") == {"products": [], "total": 0, "limit": 20, "offset": 0}


def test_q_pages_through_what_it_found(demo_shop: LiveServer) -> None:
    page = products(demo_shop, q="裙子", limit=2, offset=1)
    assert ids(page) == ["dress-knit", "dress-shirt"] and page["total"] == 5


def test_category_takes_a_category_or_a_kind_of_product(demo_shop: LiveServer) -> None:
    dresses = products(demo_shop, category="连衣裙")
    assert ids(dresses) == DRESSES and dresses["total"] == 3
    assert products(demo_shop, category="女装")["total"] == 13
    # with q, category narrows the search
    assert ids(products(demo_shop, q="衬衫", category="男装")) == ["shirt-oxford", "shirt-linen"]


def test_a_blank_q_lists_the_catalog(demo_shop: LiveServer) -> None:
    assert products(demo_shop, q=" ")["total"] == 37


def test_the_spec_documents_q_and_category(demo_shop: LiveServer) -> None:
    with demo_shop.client() as http:
        route = http.get("/openapi.json").json()["paths"]["/mp/products"]["get"]
    parameters = {parameter["name"]: parameter for parameter in route["parameters"]}
    assert {"q", "category", "limit", "offset"} <= set(parameters)
    assert "synonyms" in route["description"] and "连衣裙" in parameters["category"]["description"]


def test_the_images_the_catalog_names_are_served(demo_shop: LiveServer) -> None:
    with demo_shop.client() as http:
        demo = http.get("/images/demo/dress-floral.jpg")
        missing = http.get("/images/demo/no-such.jpg")
        outside = http.get("/images/demo/../../config.yaml")
        (demo_shop.settings.media.images_dir / "own.jpg").write_bytes(demo.content)
        own = http.get("/images/own.jpg")
    assert demo.status_code == 200 and demo.headers["content-type"] == "image/jpeg"
    assert demo.content.startswith(b"\xff\xd8\xff") and len(demo.content) < 64 * 1024
    assert own.status_code == 200 and own.content == demo.content
    assert missing.status_code == 404 and outside.status_code == 404
