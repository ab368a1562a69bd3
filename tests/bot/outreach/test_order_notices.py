"""Order notices through real bytes: the customer consents in the mini-program (the sandbox's
wx.requestSubscribeMessage side and POST /mp/subscriptions), pays through the sandbox's pay gateway,
and the paid notice reaches the sandbox as a subscribe message WeChat accepted; without a credit the
notice falls back to the reply window or is recorded as not sent, with the reason."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from bot.outreach.models import NoticeVia, OrderNotice, SendState, SubscribeCredit, SubscribeMessage
from storage.db import make_session_factory
from tests.support import LiveServer
from tests.support.mp_client import Buyer, placed_order, sandbox_pays
from tests.support.sandbox_client import SandboxCustomer, wait_until
from tests.support.shop_fixtures import ADMIN_KEY


def consents(shop: LiveServer, buyer: Buyer, answers: dict[str, str]) -> dict[str, Any]:
    """What wx.requestSubscribeMessage does: WeChat records each accept, the client posts the result."""
    with httpx.Client(base_url=shop.base_url + "/sandbox") as sandbox:
        for template_id, answer in answers.items():
            if answer == "accept":
                granted = sandbox.post("/control/consent", json={"account": "mp", "openid": buyer.openid,
                                                                 "template_id": template_id})
                assert granted.status_code == 200, granted.text
    posted = buyer.post("/mp/subscriptions", json={**answers, "errMsg": "requestSubscribeMessage:ok"})
    assert posted.status_code == 200, posted.text
    body: dict[str, Any] = posted.json()
    return body


def notices_for(shop: LiveServer, order_no: str) -> list[OrderNotice]:
    shop.services.outreach.notices.consume()  # type: ignore[union-attr]
    with make_session_factory(shop.services.engine)() as session:
        return list(session.scalars(select(OrderNotice).where(OrderNotice.order_no == order_no)
                                    .order_by(OrderNotice.created_at)))


def subscribe_messages_received(shop: LiveServer, openid: str) -> list[dict[str, Any]]:
    return [e for e in SandboxCustomer(shop, openid, account="mp").transcript() if e["via"] == "subscribe"]


def test_the_client_is_told_which_templates_to_ask_for(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_notice_templates")
    answer = buyer.get("/mp/subscriptions/templates", params={"purpose": "order"})
    assert answer.status_code == 200
    templates = answer.json()["templates"]
    # At most three (wx.requestSubscribeMessage's limit), the order's, in the registry's order
    assert [t["template_id"] for t in templates] == ["sbx_mp_order_paid", "sbx_mp_order_shipped", "sbx_mp_refund"]
    assert templates[0] == {"template_id": "sbx_mp_order_paid", "title": "订单支付成功通知", "purpose": "order_paid"}
    cart = buyer.get("/mp/subscriptions/templates", params={"purpose": "cart"}).json()["templates"]
    assert [t["template_id"] for t in cart] == ["sbx_mp_cart_reminder"]
    assert buyer.get("/mp/subscriptions/templates", params={"purpose": "nothing"}).json() == {"templates": []}


def test_a_consent_that_is_not_what_wechat_returns_is_refused_and_records_nothing(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_notice_bad_consent")
    for body in ({"sbx_mp_order_paid": "yes"}, ["accept"], {}, {"errMsg": "requestSubscribeMessage:ok"}):
        refused = buyer.post("/mp/subscriptions", json=body)
        assert refused.status_code == 422, body
        assert refused.json()["error"]["code"] in ("INVALID_CONSENT", "INVALID_INPUT")
    with make_session_factory(shop.services.engine)() as session:
        assert session.scalar(select(SubscribeCredit).where(SubscribeCredit.template_id == "sbx_mp_order_paid",
                                                            SubscribeCredit.credits > 0,
                                                            SubscribeCredit.customer_id == -1)) is None
    assert Buyer(shop, "o_notice_bad_consent").post("/mp/subscriptions", json={"x": "accept"}).status_code == 200


def test_a_paid_order_with_a_consent_gets_one_subscribe_message(shop: LiveServer) -> None:
    # Given a customer who accepted the paid notice and turned down the shipping one
    buyer = Buyer(shop, "o_notice_paid")
    recorded = consents(shop, buyer, {"sbx_mp_order_paid": "accept", "sbx_mp_order_shipped": "reject"})
    assert recorded["credits"] == {"sbx_mp_order_paid": 1, "sbx_mp_order_shipped": 0}
    # When they order and pay
    order = placed_order(buyer, ("tee-basic-white-M", 2))
    sandbox_pays(shop, order["order_no"])
    paid = wait_until(lambda: [n for n in notices_for(shop, order["order_no"]) if n.purpose == "order_paid"],
                      lambda found: bool(found))
    # Then WeChat delivered one subscribe message with the order's number, amount and items
    assert paid[0].via == NoticeVia.SUBSCRIBE
    received = wait_until(lambda: subscribe_messages_received(shop, buyer.openid), lambda got: bool(got))
    assert len(received) == 1
    message = received[0]["payload"]
    assert message["template_id"] == "sbx_mp_order_paid"
    assert message["data"]["character_string1"] == {"value": order["order_no"]}
    assert message["data"]["amount2"]["value"] == f"¥{order['amount_fen'] // 100}.{order['amount_fen'] % 100:02d}"
    assert message["data"]["thing3"]["value"].endswith("等2件")
    assert message["page"] == f"pages/order/index?no={order['order_no']}&src=notice"
    # And the credit is spent; running the consumer again sends nothing more
    assert [n.key for n in notices_for(shop, order["order_no"])] == [paid[0].key]
    assert len(subscribe_messages_received(shop, buyer.openid)) == 1
    with make_session_factory(shop.services.engine)() as session:
        row = session.scalar(select(SubscribeMessage).where(SubscribeMessage.id == paid[0].message_id))
        assert row is not None and row.state == SendState.SENT and row.credits_left == 0
        assert buyer_credits(session, buyer.openid, "sbx_mp_order_paid") == 0


def test_without_a_credit_the_shipping_notice_is_not_a_subscribe_message(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_notice_ship")
    order = placed_order(buyer, ("tee-basic-black-L", 1))
    sandbox_pays(shop, order["order_no"])
    with shop.client() as http:
        shipped = http.post(f"/admin/orders/{order['order_no']}/ship", headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                            json={"carrier": "顺丰速运", "tracking_no": "SF1234567890"})
        assert shipped.status_code == 200
    notices = wait_until(lambda: notices_for(shop, order["order_no"]), lambda found: len(found) == 2)
    shipping = next(n for n in notices if n.purpose == "order_shipped")
    # No consent: a customer-service message if the payment opened the reply window, else nothing, with why
    assert shipping.via in (NoticeVia.SERVICE, NoticeVia.NONE)
    if shipping.via is NoticeVia.NONE:
        assert shipping.reason == "no consent credit for the template and the reply window is closed"
    assert subscribe_messages_received(shop, buyer.openid) == []


def buyer_credits(session: Any, openid: str, template_id: str) -> int:
    from bot.models import Channel, Customer

    customer = session.scalar(select(Customer.id).where(Customer.channel == Channel.MP, Customer.openid == openid))
    credits = session.scalar(select(SubscribeCredit.credits).where(SubscribeCredit.customer_id == customer,
                                                                   SubscribeCredit.template_id == template_id))
    return int(credits or 0)


def test_a_page_opened_from_a_message_is_recorded_for_attribution(shop: LiveServer) -> None:
    from bot.outreach.models import PageOpen

    buyer = Buyer(shop, "o_opens")
    assert buyer.post("/mp/opens", json={"src": "campaign", "ref": 7, "page": "pages/index/index"}).status_code == 204
    assert buyer.post("/mp/opens", json={"src": "spam", "ref": 7}).status_code == 422
    assert buyer.post("/mp/opens", json={"src": "campaign", "ref": -1}).status_code == 422
    with shop.client() as anonymous:
        assert anonymous.post("/mp/opens", json={"src": "campaign", "ref": 7}).status_code == 401
    with make_session_factory(shop.services.engine)() as session:
        opens = session.execute(select(PageOpen.src, PageOpen.ref_id).where(PageOpen.openid == "o_opens")).all()
    assert [tuple(o) for o in opens] == [("campaign", 7)]


def test_an_unpaid_order_about_to_close_is_reminded_once(shop: LiveServer) -> None:
    from datetime import timedelta

    from bot.outreach.notices import NoticeConfig, OrderNotices
    from storage.clock import utcnow

    buyer = Buyer(shop, "o_notice_expiring")
    consents(shop, buyer, {"sbx_mp_order_expiring": "accept"})
    order = placed_order(buyer, ("lipstick-velvet-999", 1))
    outreach = shop.services.outreach
    assert outreach is not None
    ttl = shop.settings.pay.order_ttl_s
    # Ten minutes before it closes (the clock moved instead of waiting)
    clock = [utcnow() + timedelta(seconds=ttl - 500)]
    notices = OrderNotices(factory=shop.services.factory, sender=outreach.sender, messenger=shop.services.messenger,
                           templates=outreach.registry, config=NoticeConfig(expiring_warning_s=600),
                           clock=lambda: clock[0])
    assert notices.warn_expiring() >= 1
    assert notices.warn_expiring() == 0  # once
    [message] = [m for m in subscribe_messages_received(shop, buyer.openid)
                 if m["payload"]["template_id"] == "sbx_mp_order_expiring"]
    data = message["payload"]["data"]
    assert data["character_string1"]["value"] == order["order_no"]
    assert data["thing4"]["value"] == "订单即将关闭，请尽快完成支付"
    assert len(data["time3"]["value"]) == len("2026-12-04 15:30")


def test_a_buyer_who_follows_the_official_account_is_told_there_when_that_is_where_they_consented(
    shop: LiveServer,
) -> None:
    from bot.customers.models import MpSession
    from bot.models import Channel, Customer
    from storage.db import transaction

    # Given a buyer who also follows the Official Account (the same person: one unionid) and accepted its
    # one-time subscription to shipping notices, but none in the mini-program
    openid = "o_notice_follower"
    buyer = Buyer(shop, openid)
    follower = SandboxCustomer(shop, openid)
    follower.event("subscribe")
    with httpx.Client(base_url=shop.base_url + "/sandbox", timeout=20) as sandbox:
        popup = sandbox.post("/control/subscribe-popup", json={"account": "oa", "openid": openid,
                                                                "results": {"sbx_oa_order_shipped": "accept"}})
        assert popup.status_code == 200, popup.text
    with transaction(shop.services.factory) as session:
        unionid = session.scalar(select(MpSession.unionid).where(MpSession.openid == openid))
        session.execute(Customer.__table__.update().where(Customer.channel == Channel.OA, Customer.openid == openid)
                        .values(unionid=unionid))
    order = placed_order(buyer, ("tee-basic-black-L", 1))
    sandbox_pays(shop, order["order_no"])
    with shop.client() as http:
        shipped = http.post(f"/admin/orders/{order['order_no']}/ship", headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                            json={"carrier": "中通快递", "tracking_no": "ZT2026120401"})
        assert shipped.status_code == 200
    notices = wait_until(lambda: notices_for(shop, order["order_no"]),
                         lambda found: any(n.purpose == "order_shipped" for n in found))
    assert next(n for n in notices if n.purpose == "order_shipped").via == NoticeVia.SUBSCRIBE
    # Then the Official Account's subscribe message (bizsend) carries the tracking number and opens the order
    received = wait_until(lambda: [e["payload"] for e in follower.transcript() if e["via"] == "subscribe"],
                          lambda got: bool(got))
    assert received[0]["template_id"] == "sbx_oa_order_shipped"
    assert received[0]["data"]["character_string3"] == {"value": "ZT2026120401"}
    assert received[0]["miniprogram"]["pagepath"] == f"pages/order/index?no={order['order_no']}&src=notice"
