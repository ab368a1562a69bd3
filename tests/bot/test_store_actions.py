"""The store's dialogue actions (orders, products) through a rasa_sdk Tracker, as Rasa (or the bot) runs them."""

from __future__ import annotations

import pytest
from rasa_sdk import Action
from sqlalchemy.orm import Session, sessionmaker

from bot.actions import Store, build_store_actions
from intents.actions import ActionTexts
from tests.support.rasa import entity, run, tracker


@pytest.fixture(scope="module")
def actions() -> dict[str, Action]:
    return build_store_actions(None, ActionTexts())


@pytest.fixture
def store_actions(store: sessionmaker[Session]) -> dict[str, Action]:
    """The actions on the test store's database (tests/support/commerce_fixtures.py)."""
    return build_store_actions(Store(factory=store), ActionTexts())


def test_an_order_request_asks_for_the_number_then_looks_it_up(store_actions: dict[str, Action]) -> None:
    # Given a follower the store knows no orders of
    events, said = run(store_actions["action_handle_request"], tracker("我的快递到哪了", intent="track_package"))
    assert "订单号" in said[0]["text"]
    assert events == [{"event": "slot", "timestamp": None, "name": "pending_request", "value": "track_package"}]
    # When the number comes alone next turn, the remembered request is served: not theirs, so not found
    number = "20261120113000000999"
    events, said = run(store_actions["action_handle_request"], tracker(number, intent="nlu_fallback",
                       entities=[entity("order_no", number)], slots={"pending_request": "track_package"}))
    assert said[0]["text"].startswith(f"没有找到订单 {number}")
    assert {e["name"]: e["value"] for e in events} == {"pending_request": None}


def test_without_a_store_the_order_action_says_it_cannot_look(actions: dict[str, Action]) -> None:
    _, said = run(actions["action_handle_request"], tracker("我的快递到哪了", intent="track_package"))
    assert "订单系统暂时查不到" in said[0]["text"]


def test_product_search_echoes_what_was_understood(actions: dict[str, Action]) -> None:
    given = tracker("有没有红色M码的法式碎花连衣裙", intent="product_search", entities=[
        entity("colour", "红色"), entity("size", "M"), entity("product", "法式碎花连衣裙")])
    events, said = run(actions["action_search_product"], given)
    assert "法式碎花连衣裙" in said[0]["text"] and "红色" in said[0]["text"] and "M码" in said[0]["text"]
    assert {e["name"]: e["value"] for e in events} == {"product": "法式碎花连衣裙", "colour": "红色", "size": "M"}
