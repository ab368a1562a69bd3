"""Tag rules fired by conversations, live: an encrypted push through the webhook, a card sent from the
mini-program, a card opened in the mini-program (GET /mp/products/{id}?src=card). The demo rules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.customers.tag_models import CardOpen, CustomerTag, CustomerTagAudit, TagAction, TagSource
from bot.customers.tags import customer_tags
from bot.models import Channel, Customer
from commerce.catalog import import_catalog, load_catalog_file
from storage.clock import utcnow
from storage.db import transaction
from tests.support import LiveServer
from tests.support.mp_client import Buyer
from tests.support.sandbox_client import SandboxCustomer, wait_until

DEMO_CATALOG = Path(__file__).resolve().parents[3] / "chatshop" / "demo" / "catalog.yaml"


@pytest.fixture
def demo_shop(server_factory: Callable[..., LiveServer]) -> LiveServer:
    server = server_factory()
    with transaction(server.services.factory) as session:
        import_catalog(session, load_catalog_file(DEMO_CATALOG))
    return server


def live_tags(server: LiveServer, channel: Channel, openid: str) -> dict[str, CustomerTag]:
    with server.services.factory() as session:
        customer = session.scalar(select(Customer.id).where(Customer.channel == channel, Customer.openid == openid))
        if customer is None:
            return {}
        return {tag.name: tag for tag in customer_tags(session, customer, now=utcnow())}


def test_asking_for_a_dress_tags_the_customer_interested_in_its_category(demo_shop: LiveServer) -> None:
    # Given a follower of the Official Account
    customer = SandboxCustomer(demo_shop, "o_tag_dress")
    # When they ask, in an encrypted push, whether the shop has dresses
    customer.says("有没有连衣裙")
    # Then the demo rule (intent product_search with a product) tags them interested in 女装 for 30 days
    tags = wait_until(lambda: live_tags(demo_shop, Channel.OA, "o_tag_dress"), lambda t: "意向客户-女装" in t)
    tag = tags["意向客户-女装"]
    assert (tag.group, tag.source, tag.set_by) == ("意向", TagSource.RULE, "rule:intent@7")
    assert tag.expires_at is not None
    assert 29.9 < (tag.expires_at - tag.set_at).total_seconds() / 86400 <= 30
    with demo_shop.services.factory() as session:
        audit = session.scalars(select(CustomerTagAudit).where(CustomerTagAudit.name == "意向客户-女装")).all()
    assert [(a.action, a.actor) for a in audit] == [(TagAction.ADD, "rule:intent@7")]


def test_a_message_no_rule_fires_for_tags_nothing(demo_shop: LiveServer) -> None:
    customer = SandboxCustomer(demo_shop, "o_tag_hello")
    customer.says("你好")
    customer.says("有没有连衣裙")  # then one that does: the first one's turn is surely done by then
    wait_until(lambda: live_tags(demo_shop, Channel.OA, "o_tag_hello"), lambda t: bool(t))
    assert list(live_tags(demo_shop, Channel.OA, "o_tag_hello")) == ["意向客户-女装"]


def test_an_after_sales_faq_answered_tags_the_customer(demo_shop: LiveServer) -> None:
    customer = SandboxCustomer(demo_shop, "o_tag_faq")
    reply = customer.says("支持7天无理由退货吗？")
    assert "7天内可申请无理由退货" in str(reply)  # the KB's 售后 answer
    tags = wait_until(lambda: live_tags(demo_shop, Channel.OA, "o_tag_faq"), lambda t: "咨询售后" in t)
    assert (tags["咨询售后"].group, tags["咨询售后"].set_by) == ("售后", "rule:faq_answered@42")


def test_a_card_sent_from_the_mini_program_counts_as_opened(demo_shop: LiveServer) -> None:
    customer = SandboxCustomer(demo_shop, "o_tag_card_sent", account="mp")
    customer.shares_page("法式碎花连衣裙", "pages/product/index?id=dress-floral&src=card")
    tags = wait_until(lambda: live_tags(demo_shop, Channel.MP, "o_tag_card_sent"), lambda t: "看过-女装" in t)
    assert tags["看过-女装"].set_by == "rule:card_opened@15"


def test_a_card_opened_in_the_mini_program_is_recorded_and_tags_the_customer(demo_shop: LiveServer) -> None:
    # Given a logged-in mini-program customer
    buyer = Buyer(demo_shop, "o_tag_card_open")
    # When they open a product from a card in a chat
    answer = buyer.get("/mp/products/dress-floral", params={"src": "card", "conversation": "c-42"})
    assert answer.status_code == 200, answer.text
    # Then the open is recorded and the card_opened rule tags them (7 days)
    tags = live_tags(demo_shop, Channel.MP, "o_tag_card_open")
    assert list(tags) == ["看过-女装"]
    with demo_shop.services.factory() as session:
        opens = session.scalars(select(CardOpen)).all()
    assert [(o.product_id, o.conversation) for o in opens] == [("dress-floral", "c-42")]


def test_a_product_opened_otherwise_or_anonymously_records_nothing(demo_shop: LiveServer) -> None:
    buyer = Buyer(demo_shop, "o_tag_browse")
    assert buyer.get("/mp/products/dress-floral").status_code == 200  # not from a card
    with demo_shop.client() as anonymous:
        assert anonymous.get("/mp/products/dress-floral", params={"src": "card"}).status_code == 200
        stale = anonymous.get("/mp/products/dress-floral", params={"src": "card"},
                              headers={"Authorization": "Bearer mp_not-a-token"})
        assert stale.status_code == 200  # the token is optional here: a stale one is no refusal
    with demo_shop.services.factory() as session:
        assert session.scalars(select(CardOpen)).all() == []
        assert session.scalars(select(CustomerTag)).all() == []
