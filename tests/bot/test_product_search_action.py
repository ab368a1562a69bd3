"""`action_search_product` through a rasa_sdk Tracker, as Rasa (or the bot) runs it, on the demo catalog in
the test database: what it says and the cards it composes (naming images; the bot uploads them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Action
from sqlalchemy.orm import Session, sessionmaker

from bot.actions import Store, build_store_actions
from commerce.catalog import import_catalog, load_catalog_file, set_stock
from intents.actions import ActionTexts
from storage.db import transaction
from tests.support.rasa import entity, run, tracker

DEMO_CATALOG = Path(__file__).resolve().parents[2] / "chatshop" / "demo" / "catalog.yaml"
MP_APP_ID = "wx_store_mini_program"


@pytest.fixture
def search(factory: sessionmaker[Session]) -> Action:
    with transaction(factory) as session:
        import_catalog(session, load_catalog_file(DEMO_CATALOG))
    return build_store_actions(Store(factory=factory, mp_app_id=MP_APP_ID), ActionTexts())["action_search_product"]


def cards(said: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [message["custom"]["miniprogrampage"] for message in said if message.get("custom")]


def test_cards_name_the_store_mini_program_the_product_page_and_its_image(search: Action) -> None:
    events, said = run(search, tracker("有没有连衣裙", intent="product_search", entities=[entity("product", "连衣裙")]))
    assert said[0]["text"] == "为您找到这些商品："
    first = cards(said)[0]
    assert first == {"title": "法式碎花连衣裙 ¥259", "appid": MP_APP_ID,
                     "pagepath": "pages/product/index?id=dress-floral&src=card",
                     "image": "/images/demo/dress-floral.jpg", "fallback": "1. 法式碎花连衣裙 ¥259"}
    assert {e["name"]: e["value"] for e in events} == {"product": "法式碎花连衣裙", "colour": None, "size": None}


def test_more_than_three_found_says_how_many(search: Action) -> None:
    _, said = run(search, tracker("有冇裙子", intent="product_search"))
    assert said[0]["text"] == "为您找到 5 款商品，先看看这 3 款（更多可以在小程序里搜索「裙子」）："
    assert len(cards(said)) == 3


def test_products_in_stock_in_the_colour_asked_for_come_first(search: Action, factory: sessionmaker[Session]) -> None:
    # Given the black knit dress has sold out in M and L, and black is asked for in M
    with transaction(factory) as session:
        for sku in ("dress-knit-2-M", "dress-knit-2-L"):
            set_stock(session, sku_id=sku, stock=0)
    given = tracker("有没有黑色M码的裙子", intent="product_search",
                    entities=[entity("colour", "黑色"), entity("size", "M")])
    _, said = run(search, given)
    # Then the pleated skirt, black M in stock, leads; the rest follow in the search's order
    assert [card["image"] for card in cards(said)] == [
        "/images/demo/skirt-pleated.jpg", "/images/demo/dress-floral.jpg", "/images/demo/dress-knit.jpg"]


def test_a_shared_product_that_sold_out_or_left_the_catalog(search: Action, factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        for sku in ("dress-floral-1-S", "dress-floral-1-M", "dress-floral-1-L", "dress-floral-2-S",
                    "dress-floral-2-M", "dress-floral-2-L"):
            set_stock(session, sku_id=sku, stock=0)
    _, said = run(search, tracker("法式碎花连衣裙", intent="product_search",
                                  entities=[entity("product_id", "dress-floral")]))
    assert said == [{**said[0], "text": "法式碎花连衣裙 ¥259\n目前全部售罄，可以回复「补货」了解到货时间。"}]
    _, said = run(search, tracker("旧款连衣裙", intent="product_search", entities=[entity("product_id", "gone")]))
    assert said[0]["text"] == "这件商品「旧款连衣裙」已经下架了，看看别的款式吧～"
