"""Tag rules fired by the commerce core's events, consumed from its outbox by the scheduler's job:
an order paid (WeChat Pay's signed notification from the sandbox), a refund asked for, a large order.
The demo rules; the shop's catalog files the T-shirt under 男装 and the lipstick under 美妆."""

from __future__ import annotations

from sqlalchemy import select

from bot.conversation import customer_id
from bot.customers.tag_models import CustomerTagAudit, TagAction, TagSource
from bot.customers.tags import customer_tags, tag_customer
from bot.models import Channel
from storage.clock import utcnow
from storage.db import transaction
from tests.support import LiveServer
from tests.support.mp_client import Buyer, placed_order, sandbox_pays
from tests.support.sandbox_client import wait_until


def tags_of(shop: LiveServer, openid: str) -> list[str]:
    with transaction(shop.services.factory) as session:
        customer = customer_id(session, channel=Channel.MP, openid=openid, now=utcnow())
        return [tag.name for tag in customer_tags(session, customer, now=utcnow())]


def run_tag_job(shop: LiveServer) -> int:
    """The scheduler's job, run now (the scheduler also runs it every second)."""
    tags = shop.services.tags
    assert tags is not None
    return tags.consume_commerce_events(shop.services.factory)


def interested(shop: LiveServer, openid: str, category: str) -> None:
    with transaction(shop.services.factory) as session:
        customer = customer_id(session, channel=Channel.MP, openid=openid, now=utcnow())
        tag_customer(session, customer, name=f"意向客户-{category}", group="意向", source=TagSource.RULE,
                     set_by="rule:intent@7", now=utcnow())


def test_an_order_paid_adds_bought_and_removes_interested(shop: LiveServer) -> None:
    # Given a customer interested in 男装 and 美妆
    buyer = Buyer(shop, "o_tags_paid")
    interested(shop, "o_tags_paid", "男装")
    interested(shop, "o_tags_paid", "美妆")
    # When they buy a T-shirt (男装) and pay
    order_no = placed_order(buyer, ("tee-basic-white-M", 1))["order_no"]
    assert tags_of(shop, "o_tags_paid") == ["意向客户-男装", "意向客户-美妆"]  # placing is not paying
    sandbox_pays(shop, order_no)
    run_tag_job(shop)
    # Then they have bought 男装 and are no longer merely interested in it; 美妆 is untouched
    tags = wait_until(lambda: tags_of(shop, "o_tags_paid"), lambda t: "已购-男装" in t)
    assert tags == ["已购-男装", "意向客户-美妆"]
    with shop.services.factory() as session:
        audit = session.scalars(select(CustomerTagAudit).where(CustomerTagAudit.actor == "rule:order_paid@21")
                                .order_by(CustomerTagAudit.id)).all()
    assert [(a.name, a.action) for a in audit] == [("已购-男装", TagAction.ADD), ("意向客户-男装", TagAction.REMOVE)]
    # And the event is applied once: the job running again changes nothing
    run_tag_job(shop)
    with shop.services.factory() as session:
        assert len(session.scalars(select(CustomerTagAudit).where(
            CustomerTagAudit.actor == "rule:order_paid@21")).all()) == 2


def test_a_large_order_makes_a_vip(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_tags_vip")
    order_no = placed_order(buyer, ("tee-basic-black-L", 12))["order_no"]  # ¥1068
    sandbox_pays(shop, order_no)
    run_tag_job(shop)
    assert wait_until(lambda: tags_of(shop, "o_tags_vip"), lambda t: "VIP" in t) == ["VIP", "已购-男装"]


def test_a_refund_asked_for_tags_after_sales_for_two_weeks(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_tags_refund")
    order_no = placed_order(buyer, ("lipstick-velvet-999", 1))["order_no"]
    sandbox_pays(shop, order_no)
    answer = buyer.post(f"/mp/orders/{order_no}/refund-request", json={"reason": "颜色不喜欢"})
    assert answer.status_code == 200, answer.text
    run_tag_job(shop)
    assert wait_until(lambda: tags_of(shop, "o_tags_refund"), lambda t: "售后" in t) == ["售后", "已购-美妆"]
