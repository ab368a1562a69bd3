"""Catalog search by words (`search_products`) and the category filter, on the demo catalog.

Search terms come as the callers make them (`intents.search`): one group per thing a customer named,
the word first, then the words that stand for it. Commerce matches them against titles and categories.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from commerce.catalog import (
    catalog_outline,
    count_products,
    import_catalog,
    list_products,
    load_catalog_file,
    search_products,
)
from commerce.errors import InvalidInput
from commerce.models import Product
from storage.db import transaction

DEMO_CATALOG = Path(__file__).parent.parent.parent / "chatshop" / "demo" / "catalog.yaml"


@pytest.fixture
def demo(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    with transaction(factory) as session:
        import_catalog(session, load_catalog_file(DEMO_CATALOG))
    return factory


def found(factory: sessionmaker[Session], terms: list[tuple[str, ...]], **options: object) -> list[str]:
    with factory() as session:
        return [product.id for product in search_products(session, terms, **options).products]  # type: ignore[arg-type]


def test_a_word_finds_the_products_whose_titles_hold_it_in_catalog_order(demo: sessionmaker[Session]) -> None:
    assert found(demo, [("连衣裙",)]) == ["dress-floral", "dress-knit", "dress-shirt"]


def test_a_broader_word_finds_every_kind_it_covers(demo: sessionmaker[Session]) -> None:
    # 裙子 with 裙 (what the search lexicon widens it to): the dresses and both skirts
    assert found(demo, [("裙子", "裙")]) == ["dress-floral", "dress-knit", "dress-shirt", "skirt-pleated",
                                               "skirt-denim"]


def test_the_product_matching_most_words_comes_first(demo: sessionmaker[Session]) -> None:
    # 男士衬衫: the men's oxford shirt names both; the other shirts name one
    assert found(demo, [("男士", "男装"), ("衬衫",)])[:3] == ["shirt-oxford", "shirt-linen", "dress-shirt"]


def test_the_customers_own_word_ranks_above_its_synonyms(demo: sessionmaker[Session]) -> None:
    # 面霜 is filed with the other skincare in the synonym lexicon: the 面霜 itself comes first
    assert found(demo, [("面霜", "护肤品", "精华", "爽肤水")]) == ["cream-moist", "serum-vitc", "toner"]


def test_a_category_word_finds_the_category(demo: sessionmaker[Session]) -> None:
    # 彩妆 is a category, named in no title
    with demo() as session:
        makeup = search_products(session, [("彩妆",)], limit=3)
    assert makeup.total == 8 and [p.category for p in makeup.products] == ["彩妆"] * 3


def test_words_are_matched_literally_and_case_blind(demo: sessionmaker[Session]) -> None:
    assert found(demo, [("t恤",)]) == ["tee-basic", "tee-print"]
    assert found(demo, [("%",)]) == [] and found(demo, [("_",)]) == []


def test_nothing_to_search_for_finds_nothing(demo: sessionmaker[Session]) -> None:
    assert found(demo, []) == [] and found(demo, [("帽子",)]) == [] and found(demo, [("", " ")]) == []


def test_a_search_pages_and_counts_every_match(demo: sessionmaker[Session]) -> None:
    with demo() as session:
        page = search_products(session, [("裙",)], limit=2, offset=2)
        assert page.total == 5 and [p.id for p in page.products] == ["dress-shirt", "skirt-pleated"]
        with pytest.raises(InvalidInput):
            search_products(session, [("裙",)], limit=0)


def test_products_off_sale_are_not_found(demo: sessionmaker[Session]) -> None:
    with transaction(demo) as session:
        product = session.get(Product, "dress-knit")
        assert product is not None
        product.active = False
    assert found(demo, [("连衣裙",)]) == ["dress-floral", "dress-shirt"]


def test_a_search_can_be_narrowed_to_a_category(demo: sessionmaker[Session]) -> None:
    assert found(demo, [("衬衫",)], category="男装") == ["shirt-oxford", "shirt-linen"]


def test_the_category_filter_takes_a_category_or_a_kind_named_in_titles(demo: sessionmaker[Session]) -> None:
    with demo() as session:
        dresses = list_products(session, category="连衣裙", limit=100)
        assert [p.id for p in dresses] == ["dress-floral", "dress-knit", "dress-shirt"]
        assert count_products(session, category="连衣裙") == 3
        assert count_products(session, category="女装") == 13 and count_products(session, category="帽子") == 0


def test_the_outline_lists_each_category_with_its_titles(demo: sessionmaker[Session]) -> None:
    with demo() as session:
        outline = catalog_outline(session)
    assert list(outline) == ["女装", "男装", "彩妆", "护肤", "香氛"]
    assert outline["香氛"] == ["淡香水"] and len(outline["女装"]) == 13
