"""Catalog import and export: YAML and CSV, round trips, refusals with line numbers, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from commerce.catalog import (
    dump_catalog_csv,
    dump_catalog_yaml,
    export_catalog,
    get_product,
    import_catalog,
    list_products,
    load_catalog_file,
    product_titles,
)
from commerce.errors import InvalidInput, NotFound
from commerce.models import Product, Sku
from storage.db import transaction
from tests.support.commerce import fixture_path

DEMO_CATALOG = Path(__file__).parent.parent.parent / "chatshop" / "demo" / "catalog.yaml"


def _import(factory: sessionmaker[Session], data: list[dict[str, Any]], **options: bool) -> None:
    with transaction(factory) as session:
        import_catalog(session, data, **options)


def _export(factory: sessionmaker[Session]) -> list[dict[str, object]]:
    with factory() as session:
        return export_catalog(session)


def _counts(factory: sessionmaker[Session]) -> tuple[int, int]:
    with factory() as session:
        return (session.scalar(select(func.count()).select_from(Product)) or 0,
                session.scalar(select(func.count()).select_from(Sku)) or 0)


def test_a_yaml_catalog_round_trips_through_the_database(factory: sessionmaker[Session]) -> None:
    # given the small catalog file
    data = load_catalog_file(fixture_path("small_catalog.yaml"))
    # when it is imported and exported again
    _import(factory, data)
    exported = _export(factory)
    # then the export is the file, field for field
    assert exported == data
    # and the YAML the CLI writes reads back to the same thing
    assert yaml.safe_load(dump_catalog_yaml(exported))["products"] == data


def test_a_csv_catalog_imports_and_exports_as_csv(factory: sessionmaker[Session], tmp_path: Path) -> None:
    # given a CSV catalog (one row per SKU)
    data = load_catalog_file(fixture_path("small_catalog.csv"))
    _import(factory, data)
    # when it is exported as CSV and that file is loaded again
    out = tmp_path / "again.csv"
    out.write_text(dump_catalog_csv(_export(factory)), encoding="utf-8")
    # then nothing was lost: specs, images, prices and stock
    assert load_catalog_file(out) == data
    tee = next(p for p in data if p["id"] == "tee-csv")
    assert tee["images"] == ["https://img.example/tee/1.jpg", "https://img.example/tee/2.jpg"]
    assert tee["skus"][1] == {"sku_id": "tee-csv-black-M", "specs": {"颜色": "黑色", "尺码": "M"},
                              "price_fen": 7900, "stock": 8}


def test_bad_yaml_rows_are_refused_with_their_line_numbers(factory: sessionmaker[Session]) -> None:
    # when a file with bad products is loaded
    with pytest.raises(InvalidInput) as refused:
        load_catalog_file(fixture_path("bad_catalog.yaml"))
    errors = refused.value.errors
    # then every problem is named with its line
    assert "line 15 (product 2, SKU 1): price_fen must be between 1 and 100000000, got -5" in errors
    assert "line 19 (product 3): skus must be a non-empty list" in errors
    assert "line 23 (product 4): product id 'good-product' appears twice" in errors
    assert any(e.startswith("line 30 (product 5): id must be") for e in errors)
    assert "line 34 (product 5, SKU 1): stock must be a whole number, got 'many'" in errors
    assert refused.value.code == "INVALID_INPUT"
    # and nothing reached the database
    assert _counts(factory) == (0, 0)


def test_bad_csv_rows_are_refused_with_their_line_numbers() -> None:
    with pytest.raises(InvalidInput) as refused:
        load_catalog_file(fixture_path("bad_catalog.csv"))
    assert refused.value.errors == [
        "line 4: specs must be name=value pairs separated by ';', got '颜色白色'",
        "line 3: price_fen must be a whole number, got '7.5'",
        "line 4: stock must be between 0 and 1000000, got -1",
    ]


def test_an_import_is_all_or_nothing(store: sessionmaker[Session]) -> None:
    # given a store, and a new catalog in which one SKU of the last product is bad
    before = _export(store)
    data = load_catalog_file(fixture_path("small_catalog.yaml"))
    data[0]["title"] = "改过的标题"
    data.append({"id": "new-one", "title": "新品", "category": "女装",
                 "skus": [{"sku_id": "new-one-1", "price_fen": 0, "stock": 1}]})
    # when it is imported
    with pytest.raises(InvalidInput) as refused:
        _import(store, data)
    # then it is refused naming the row, and not even the good rows changed anything
    assert refused.value.errors == ["product 4, SKU 1: price_fen must be between 1 and 100000000, got 0"]
    assert _export(store) == before


def test_a_sku_cannot_move_to_another_product(store: sessionmaker[Session]) -> None:
    data = [{"id": "thief", "title": "抢规格", "category": "女装",
             "skus": [{"sku_id": "dress-test-red-M", "price_fen": 100, "stock": 1}]}]
    with pytest.raises(InvalidInput, match="belongs to product 'dress-test'"):
        _import(store, data)


def test_reimport_updates_and_deactivates_what_the_file_leaves_out(store: sessionmaker[Session]) -> None:
    # given a file with only the dress, its L size gone and M restocked
    data = load_catalog_file(fixture_path("small_catalog.yaml"))[:1]
    data[0]["skus"] = [dict(data[0]["skus"][0], stock=50)]
    # when it replaces the catalog
    _import(store, data, replace=True)
    # then the others are off sale (kept for the orders that point at them), the dress updated
    exported = _export(store)
    assert [p["id"] for p in exported] == ["dress-test"]
    assert exported[0]["skus"] == [{"sku_id": "dress-test-red-M", "specs": {"颜色": "红色", "尺码": "M"},
                                    "price_fen": 25900, "stock": 50}]
    with store() as session, pytest.raises(NotFound):
        get_product(session, "lipstick-test")
    assert _counts(store) == (3, 5)


def test_the_demo_catalog_is_a_clothing_and_beauty_store(factory: sessionmaker[Session]) -> None:
    data = load_catalog_file(DEMO_CATALOG)
    _import(factory, data)
    with factory() as session:
        titles = product_titles(session)
        dresses = list_products(session, category="女装", limit=100)
    assert len(data) >= 30 and all(len(p["skus"]) >= 2 for p in data)
    assert {"彩妆", "护肤", "女装", "男装"} <= {p["category"] for p in data}
    assert any("连衣裙" in t for t in titles) and any("衬衫" in t for t in titles) and any("口红" in t for t in titles)
    assert dresses and all(p.category == "女装" for p in dresses)
