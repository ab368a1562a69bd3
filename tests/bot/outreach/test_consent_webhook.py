"""Consents from the Official Account through real pushes: the sandbox plays WeChat's one-time
subscription popup and its later switch-off, signed and encrypted to /wechat; the consent ledger
follows. 退订 in the chat turns reminders and campaigns off, 订阅 on again."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import select

from bot.models import Channel, Customer
from bot.outreach.models import ConsentEvent, OptOut, SubscribeCredit
from storage.db import make_session_factory
from tests.support import LiveServer
from tests.support.sandbox_client import SandboxCustomer

OPENID = "o_popup_customer"


def ledger(server: LiveServer, openid: str) -> dict[str, int]:
    with make_session_factory(server.services.engine)() as session:
        customer = session.scalar(select(Customer.id).where(Customer.channel == Channel.OA, Customer.openid == openid))
        rows = session.execute(select(SubscribeCredit.template_id, SubscribeCredit.credits)
                               .where(SubscribeCredit.customer_id == customer)).all()
    return {template_id: credits for template_id, credits in rows}


def popup(server: LiveServer, results: dict[str, str]) -> dict[str, Any]:
    with httpx.Client(base_url=server.base_url + "/sandbox", timeout=20) as sandbox:
        answer = sandbox.post("/control/subscribe-popup", json={"account": "oa", "openid": OPENID, "results": results})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_the_popup_and_its_switch_off_reach_the_ledger(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory()
    SandboxCustomer(server, OPENID).event("subscribe")
    # When the follower accepts one template and rejects another in the popup
    pushed = popup(server, {"sbx_oa_new_arrival": "accept", "sbx_oa_order_shipped": "reject"})
    assert pushed["push"]["status"] == 200
    # Then the store counts one credit for the accepted one, none for the other, as WeChat does
    assert ledger(server, OPENID) == {"sbx_oa_new_arrival": 1, "sbx_oa_order_shipped": 0}
    assert pushed["credits"]["sbx_oa_new_arrival"] == 1
    # And a second popup adds a second credit (a second later: WeChat tells events apart by their time)
    time.sleep(1.1)
    popup(server, {"sbx_oa_new_arrival": "accept"})
    assert ledger(server, OPENID)["sbx_oa_new_arrival"] == 2
    time.sleep(1.1)
    # When they switch the template off in the chat's settings, no credit is left
    with httpx.Client(base_url=server.base_url + "/sandbox", timeout=20) as sandbox:
        changed = sandbox.post("/control/subscribe-change", json={"account": "oa", "openid": OPENID,
                                                                  "template_ids": ["sbx_oa_new_arrival"]})
    assert changed.status_code == 200, changed.text
    assert ledger(server, OPENID)["sbx_oa_new_arrival"] == 0
    with make_session_factory(server.services.engine)() as session:
        changes = list(session.scalars(select(ConsentEvent.change).order_by(ConsentEvent.id)))
    assert changes == ["accepted", "refused", "accepted", "turned_off"]


def test_an_unsigned_popup_event_changes_nothing(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory()
    body = (f"<xml><ToUserName>gh_x</ToUserName><FromUserName>{OPENID}</FromUserName><CreateTime>1</CreateTime>"
            "<MsgType>event</MsgType><Event>subscribe_msg_popup_event</Event><SubscribeMsgPopupEvent><List>"
            "<TemplateId>sbx_oa_new_arrival</TemplateId><SubscribeStatusString>accept</SubscribeStatusString>"
            "<PopupScene>2</PopupScene></List></SubscribeMsgPopupEvent></xml>")
    with server.client() as http:
        answer = http.post("/wechat", params={"signature": "0" * 40, "timestamp": "1", "nonce": "n"},
                           content=body.encode())
    assert answer.status_code in (200, 403)
    assert ledger(server, OPENID) == {}


def test_tuiding_opts_out_of_reminders_and_campaigns_and_dingyue_back_in(
    server_factory: Callable[..., LiveServer],
) -> None:
    server = server_factory()
    customer = SandboxCustomer(server, "o_optout")
    reply = customer.says("退订")
    assert "已为您退订" in str(reply)
    with make_session_factory(server.services.engine)() as session:
        assert session.scalar(select(OptOut.customer_id)) is not None
    back = customer.says("订阅")
    assert "已恢复" in str(back)
    with make_session_factory(server.services.engine)() as session:
        assert session.scalar(select(OptOut.customer_id)) is None
