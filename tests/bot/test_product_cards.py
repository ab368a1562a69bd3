"""Product search and mini-program cards in the chat, end to end: a customer of the sandbox writes to the
Official Account or to mini-program customer service, and what counts is what WeChat (the sandbox)
accepted: `message/custom/send` calls with errcode 0, cards naming the store's mini-program and a
thumbnail uploaded to that very account.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.models import ConversationMessage, Customer, Direction
from commerce.catalog import import_catalog, load_catalog_file, set_stock
from commerce.models import Sku
from storage.db import transaction
from tests.support import LiveServer
from tests.support.sandbox_client import SandboxCustomer, wait_until

DEMO_CATALOG = Path(__file__).resolve().parents[2] / "chatshop" / "demo" / "catalog.yaml"
DRESS = ("dress-floral", "dress-knit", "dress-shirt")


def card_pages(server: LiveServer, openid: str, product_ids: tuple[str, ...]) -> list[str]:
    """The pages of product cards sent to a customer: each names the conversation (their customer row)."""
    with server.services.factory() as session:
        conversation = session.scalar(select(Customer.id).where(Customer.openid == openid))
    return [f"pages/product/index?id={pid}&src=card&conversation={conversation}" for pid in product_ids]


@pytest.fixture
def demo_shop(server_factory: Callable[..., LiveServer]) -> LiveServer:
    """A live server with the demo store's catalog (images under /images/demo/)."""
    return with_demo_catalog(server_factory())


def with_demo_catalog(server: LiveServer) -> LiveServer:
    with transaction(server.services.factory) as session:
        import_catalog(session, load_catalog_file(DEMO_CATALOG))
    return server


def card_sends(customer: SandboxCustomer) -> list[dict[str, Any]]:
    """Every miniprogrampage the service asked WeChat to send this customer, with WeChat's answer."""
    return [call for call in customer.calls("message/custom/send")
            if isinstance(call["body"], dict) and call["body"].get("touser") == customer.openid
            and call["body"].get("msgtype") == "miniprogrampage"]


def wait_for_cards(customer: SandboxCustomer, count: int) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = wait_until(lambda: card_sends(customer), lambda got: len(got) >= count)
    assert len(sent) == count, sent
    return sent


def thumbs_uploaded(customer: SandboxCustomer) -> dict[str, str]:
    """media id → file name of every thumbnail this customer's account took."""
    return {call["response"]["media_id"]: call["body"]["filename"] for call in customer.calls("media/upload")
            if call["errcode"] == 0 and call["body"]["type"] == "thumb"}


def test_a_search_on_the_official_account_is_answered_with_cards_wechat_delivers(demo_shop: LiveServer) -> None:
    # Given the demo catalog, one dress with a dearer size
    with transaction(demo_shop.services.factory) as session:
        sku = session.get(Sku, "dress-floral-1-L")
        assert sku is not None
        sku.price_fen = 29900
    customer = SandboxCustomer(demo_shop, "o_search_oa")
    # When the customer asks for dresses
    sent = customer.says("有没有连衣裙")
    # Then the answer's text comes back in the response, and three cards through the customer-service API
    assert sent["reply"]["content"] == "为您找到这些商品："
    calls = wait_for_cards(customer, 3)
    assert [call["errcode"] for call in calls] == [0, 0, 0]
    cards = [call["body"]["miniprogrampage"] for call in calls]
    assert [card["pagepath"] for card in cards] == card_pages(demo_shop, "o_search_oa", DRESS)
    assert cards[0]["title"] == "法式碎花连衣裙 ¥259–¥299"
    assert {card["appid"] for card in cards} == {demo_shop.settings.miniprogram.app_id}
    # each thumbnail was uploaded to the Official Account from the product's own image
    uploaded = thumbs_uploaded(customer)
    assert [uploaded.get(card["thumb_media_id"]) for card in cards] == [
        "dress-floral.jpg", "dress-knit.jpg", "dress-shirt.jpg"]
    # and the customer's phone shows them
    shown = [m["payload"]["pagepath"] for m in customer.received_via_api() if m["msgtype"] == "miniprogrampage"]
    assert shown == card_pages(demo_shop, "o_search_oa", DRESS)


def test_mini_program_cards_carry_thumbnails_of_the_mini_program_and_thumbnails_are_reused(
    demo_shop: LiveServer,
) -> None:
    # Given a customer of the Official Account who got the dresses' cards
    oa = SandboxCustomer(demo_shop, "o_search_oa_first")
    oa.says("有没有连衣裙")
    oa_thumbs = {call["body"]["miniprogrampage"]["thumb_media_id"] for call in wait_for_cards(oa, 3)}
    # When a mini-program customer asks the same
    mp = SandboxCustomer(demo_shop, "o_search_mp", account="mp")
    assert mp.says("有冇裙子")["reply"] is None  # mini-program service answers through the API only
    calls = wait_for_cards(mp, 3)
    # Then WeChat took the cards with thumbnails uploaded to the mini-program's account, not the OA's
    assert [call["errcode"] for call in calls] == [0, 0, 0]
    mp_thumbs = {call["body"]["miniprogrampage"]["thumb_media_id"] for call in calls}
    assert mp_thumbs <= set(thumbs_uploaded(mp)) and not mp_thumbs & oa_thumbs
    assert {call["body"]["miniprogrampage"]["appid"] for call in calls} == {demo_shop.settings.miniprogram.app_id}
    # and another customer's search reuses the thumbnails: nothing is uploaded again
    uploads_before = len(oa.calls("media/upload"))
    again = SandboxCustomer(demo_shop, "o_search_oa_again")
    again.says("连衣裙")
    reused = {call["body"]["miniprogrampage"]["thumb_media_id"] for call in wait_for_cards(again, 3)}
    assert reused == oa_thumbs and len(oa.calls("media/upload")) == uploads_before


def test_the_kb_card_answer_is_delivered_on_both_channels(demo_shop: LiveServer) -> None:
    for openid, account in (("o_kb_card_oa", "oa"), ("o_kb_card_mp", "mp")):
        customer = SandboxCustomer(demo_shop, openid, account=account)
        # When the customer asks where the size chart is
        customer.says("尺码表在哪里看？")
        # Then the FAQ's card reached them: the store's mini-program, a thumbnail of the KB's image
        [call] = wait_for_cards(customer, 1)
        assert call["errcode"] == 0, (account, call)
        card = call["body"]["miniprogrampage"]
        assert (card["title"], card["pagepath"]) == ("尺码对照表", "pages/size-guide/index")
        assert card["appid"] == demo_shop.settings.miniprogram.app_id
        assert thumbs_uploaded(customer)[card["thumb_media_id"]] == "size-guide.jpg"


def test_a_search_that_finds_nothing_offers_the_closest_categories_and_a_tap_searches_one(
    demo_shop: LiveServer,
) -> None:
    customer = SandboxCustomer(demo_shop, "o_no_match")
    # When the customer asks for something the store does not sell
    assert customer.says("有没有帽子")["reply"] is None  # a menu goes through the API
    [menu] = customer.wait_for_api_messages(1)
    # Then a menu of categories comes, the closest first (加绒连帽卫衣 is menswear)
    assert menu["msgtype"] == "msgmenu"
    assert "帽子" in menu["payload"]["head_content"]
    items = menu["payload"]["list"]
    assert [item["content"] for item in items] == ["男装", "女装", "彩妆"]
    assert customer.calls("message/custom/send")[-1]["errcode"] == 0
    # When the customer taps 男装
    customer.taps(items[0]["id"], items[0]["content"])
    # Then the first menswear products come as cards
    pages = [call["body"]["miniprogrampage"]["pagepath"] for call in wait_for_cards(customer, 3)]
    assert pages == card_pages(demo_shop, "o_no_match", ("shirt-oxford", "shirt-linen", "tee-basic"))


def test_a_failed_thumbnail_upload_answers_with_text_and_no_card(demo_shop: LiveServer) -> None:
    customer = SandboxCustomer(demo_shop, "o_upload_fails")
    # Given WeChat refuses uploads for now (system busy)
    customer.inject_fault("media/upload", -1, times=10)
    # When the customer asks for dresses
    sent = customer.says("有没有连衣裙")
    # Then the answer is one text listing the products with their prices, and no card is sent
    assert sent["reply"]["content"].split("\n") == [
        "为您找到这些商品：", "1. 法式碎花连衣裙 ¥259", "2. 针织修身连衣裙 ¥329", "3. 衬衫式连衣裙 ¥299"]
    assert [call["errcode"] for call in customer.calls("media/upload")] == [-1, -1, -1]
    assert card_sends(customer) == [] and customer.received_via_api() == []


def test_a_store_without_a_mini_program_lists_products_with_prices(
    server_factory: Callable[..., LiveServer], tmp_path: Path,
) -> None:
    # Given a store with an Official Account and no mini-program
    credentials = {kind: {"app_id": f"wx{kind}0000000000001" if kind == "oa" else "", "original_id": f"gh_{kind}",
                          "app_secret": "s" * 32, "token": "t" * 32, "encoding_aes_key": "k" * 43}
                   for kind in ("oa", "mp")}
    (tmp_path / "sandbox-credentials.json").write_text(json.dumps(credentials), encoding="utf-8")
    server = with_demo_catalog(server_factory({"CHATSHOP__PAY__APPID": "wxoa0000000000001"}))
    assert server.settings.miniprogram.app_id == ""
    customer = SandboxCustomer(server, "o_no_mini_program")
    # When the customer asks for dresses
    sent = customer.says("有没有连衣裙")
    # Then the products come as a text list with prices, and nothing else
    assert sent["reply"]["content"].split("\n") == [
        "为您找到这些商品：", "1. 法式碎花连衣裙 ¥259", "2. 针织修身连衣裙 ¥329", "3. 衬衫式连衣裙 ¥299",
        "回复商品名称可以查看有货的颜色和尺码。"]
    assert customer.calls("media/upload") == [] and customer.received_via_api() == []


def test_a_product_card_a_customer_sends_is_kept_whole_and_answered_with_prices_and_stock(
    demo_shop: LiveServer,
) -> None:
    # Given the misty blue floral dress is sold out
    with transaction(demo_shop.services.factory) as session:
        for size in "SML":
            set_stock(session, sku_id=f"dress-floral-2-{size}", stock=0)
    customer = SandboxCustomer(demo_shop, "o_shares_card", account="mp")
    # When the customer sends the dress's card from the mini-program
    customer.shares_page("法式碎花连衣裙", "pages/product/index?id=dress-floral&src=card",
                         thumb_url="https://mmbiz.qpic.cn/sandbox/dress/0")
    # Then the bot answers with the price and what is in stock
    [answer] = customer.wait_for_api_messages(1)
    assert answer["payload"]["content"].split("\n") == ["法式碎花连衣裙 ¥259", "有货：", "颜色：米白", "尺码：S、M、L"]
    # and the card is in the conversation log with everything WeChat pushed
    [received] = [call for call in customer.calls("message/custom/send") if call["body"]["touser"] == "o_shares_card"]
    assert received["errcode"] == 0
    with demo_shop.services.factory() as session:
        body = session.scalars(
            select(ConversationMessage.body).join(Customer, Customer.id == ConversationMessage.customer_id)
            .where(Customer.openid == "o_shares_card", ConversationMessage.direction == Direction.IN)
        ).one()
    assert body["title"] == "法式碎花连衣裙"
    assert body["pagepath"] == "pages/product/index?id=dress-floral&src=card"
    assert body["appid"] == demo_shop.settings.miniprogram.app_id
    assert body["thumb_url"] == "https://mmbiz.qpic.cn/sandbox/dress/0" and body["thumb_media_id"]


def test_a_thumbnail_wechat_forgot_is_uploaded_again_for_the_next_card(demo_shop: LiveServer) -> None:
    # Given cards delivered with thumbnails the service keeps for three days
    customer = SandboxCustomer(demo_shop, "o_forgotten_media")
    customer.says("有没有连衣裙")
    first = wait_for_cards(customer, 3)
    # When WeChat no longer knows those media ids (the sandbox starts afresh, as after a restart)
    with demo_shop.client() as http:
        assert http.post("/sandbox/control/reset").status_code == 200
    customer = SandboxCustomer(demo_shop, "o_forgotten_media")
    customer.says("有没有连衣裙")
    refused = wait_for_cards(customer, 3)
    # Then the cards carrying them are refused with 40007, and the ids are dropped
    assert [call["errcode"] for call in refused] == [40007, 40007, 40007]
    assert {c["body"]["miniprogrampage"]["thumb_media_id"] for c in refused} == {
        c["body"]["miniprogrampage"]["thumb_media_id"] for c in first}
    # So the next search uploads the images again and WeChat takes the cards
    customer.says("有没有连衣裙")
    again = wait_for_cards(customer, 6)[3:]
    assert [call["errcode"] for call in again] == [0, 0, 0]
    assert set(thumbs_uploaded(customer)) == {c["body"]["miniprogrampage"]["thumb_media_id"] for c in again}


def test_a_new_process_with_the_sandbox_forgets_the_thumbnails_kept_for_the_old_one(
    server_factory: Callable[..., LiveServer],
) -> None:
    first = with_demo_catalog(server_factory())
    customer = SandboxCustomer(first, "o_restart_media")
    customer.says("有没有连衣裙")
    assert [call["errcode"] for call in wait_for_cards(customer, 3)] == [0, 0, 0]
    first.stop()
    # the same database, a new process and so a new sandbox: the cards still arrive
    second = server_factory()
    customer = SandboxCustomer(second, "o_restart_media")
    customer.says("有没有连衣裙")
    assert [call["errcode"] for call in wait_for_cards(customer, 3)] == [0, 0, 0]
