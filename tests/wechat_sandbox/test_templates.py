"""The template library: gettemplate, WeChat's checks of a send against the named template
(40037, 47003, then 43101), custom templates, and the popup and settings events pushed to the store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.support.sandbox import ACCOUNTS, Receiver, api, chat, get_json
from wechat_sandbox.fields import validate_field
from wechat_sandbox.templates import default_library

USER = "o_tmpl"
PAID = "sbx_mp_order_paid"  # character_string1 订单号, amount2 支付金额, thing3 商品名称, time4 支付时间
PAID_DATA = {
    "character_string1": {"value": "SO202405011200001"},
    "amount2": {"value": "¥199.00"},
    "thing3": {"value": "蓝色帆布鞋"},
    "time4": {"value": "2024-05-01 12:00:00"},
}
SHIPPED = "sbx_oa_order_shipped"
ARRIVAL = "sbx_oa_new_arrival"
SHIPPED_DATA = {
    "character_string1": {"value": "SO202405011200001"},
    "thing2": {"value": "顺丰速运"},
    "character_string3": {"value": "SF1234567890123"},
    "thing4": {"value": "蓝色帆布鞋"},
}
MP_IDS = {
    "sbx_mp_order_paid",
    "sbx_mp_order_shipped",
    "sbx_mp_order_delivered",
    "sbx_mp_refund",
    "sbx_mp_order_expiring",
    "sbx_mp_cart_reminder",
    "sbx_mp_new_arrival",
}
OA_IDS = {SHIPPED, ARRIVAL}

Send = Callable[..., dict[str, Any]]


@pytest.fixture
def send(http: httpx.Client, token: Callable[[str], str]) -> Send:
    """A raw subscribe send (JSON over HTTP), so tests can post data no client library would build."""
    tokens: dict[str, str] = {}

    def post(template_id: Any, data: Any, account: str = "mp") -> dict[str, Any]:
        if account not in tokens:
            tokens[account] = token(account)
        path = "cgi-bin/message/subscribe/send" if account == "mp" else "cgi-bin/message/subscribe/bizsend"
        return api(http, path, tokens[account], {"touser": USER, "template_id": template_id, "data": data})

    return post


def consent(http: httpx.Client, template_id: str, account: str = "mp", count: int = 1) -> None:
    body = {"account": account, "openid": USER, "template_id": template_id, "count": count}
    http.post("/control/consent", json=body).raise_for_status()


def credits(http: httpx.Client, account: str = "mp") -> dict[str, int]:
    found: dict[str, int] = get_json(http, "/control/customer", account=account, openid=USER)["credits"]
    return found


def test_the_default_library_and_its_examples() -> None:
    library = default_library()
    assert {t.pri_tmpl_id for t in library["mp"]} == MP_IDS
    assert {t.pri_tmpl_id for t in library["oa"]} == OA_IDS
    for template in (*library["mp"], *library["oa"]):
        assert template.type == 2
        # Every example is a valid send: "label:value" lines in the template's keyword order.
        values = [line.split(":", 1)[1] for line in template.example.splitlines()]
        assert len(values) == len(template.keywords)
        for keyword, value in zip(template.keywords, values, strict=True):
            validate_field(keyword.key, {"value": value})
    paid = next(t for t in library["mp"] if t.pri_tmpl_id == PAID)
    assert [(k.key, k.label) for k in paid.keywords] == [
        ("character_string1", "订单号"),
        ("amount2", "支付金额"),
        ("thing3", "商品名称"),
        ("time4", "支付时间"),
    ]


def test_gettemplate_lists_each_accounts_library(http: httpx.Client, token: Callable[[str], str]) -> None:
    mp = api(http, "wxaapi/newtmpl/gettemplate", token("mp"))
    assert mp["errcode"] == 0 and mp["errmsg"] == "ok"
    assert {t["priTmplId"] for t in mp["data"]} == MP_IDS
    paid = next(t for t in mp["data"] if t["priTmplId"] == PAID)
    assert set(paid) == {"priTmplId", "title", "content", "example", "type"}
    assert paid["title"] == "订单支付成功通知" and paid["type"] == 2
    assert paid["content"].startswith("订单号:{{character_string1.DATA}}\n支付金额:{{amount2.DATA}}\n")
    oa = api(http, "wxaapi/newtmpl/gettemplate", token("oa"))
    assert {t["priTmplId"] for t in oa["data"]} == OA_IDS
    assert api(http, "wxaapi/newtmpl/gettemplate", None)["errcode"] == 41001


def test_unknown_template_is_40037_before_anything_else(http: httpx.Client, send: Send) -> None:
    chat(http, "mp", USER)
    assert send("no_such_template", PAID_DATA)["errcode"] == 40037
    assert send("no_such_template", {"bad": 1})["errcode"] == 40037  # the template is checked before the data
    assert send(None, PAID_DATA)["errcode"] == 40037
    assert send("", PAID_DATA)["errcode"] == 40037
    # A library is the account's own: the Official Account's template is unknown to the mini-program.
    assert send(SHIPPED, SHIPPED_DATA)["errcode"] == 40037
    answer = send("no_such_template", PAID_DATA)
    assert answer["errmsg"] == "invalid template_id"


def test_data_must_match_the_template_keywords(http: httpx.Client, send: Send) -> None:
    chat(http, "mp", USER)
    consent(http, PAID)

    def refused(data: Any, naming: str) -> None:
        answer = send(PAID, data)
        assert answer["errcode"] == 47003, answer
        assert naming in answer["errmsg"], answer

    missing = {k: v for k, v in PAID_DATA.items() if k != "thing3"}
    refused(missing, "data.thing3.value is empty")
    refused({**PAID_DATA, "thing5": {"value": "多余"}}, "thing5")
    refused({**PAID_DATA, "thing3": {"value": "一" * 21}}, "thing3")
    refused({**PAID_DATA, "amount2": {"value": "199"}}, "amount2")  # no currency symbol
    refused({**PAID_DATA, "amount2": {"value": "¥12345678901"}}, "amount2")  # more than 10 digits
    refused({**PAID_DATA, "time4": {"value": "昨天下午"}}, "time4")
    refused({**PAID_DATA, "thing3": "蓝色帆布鞋"}, "data.thing3.value is empty")  # not {"value": ...}
    refused({**PAID_DATA, "thing3": {"value": ""}}, "data.thing3.value is empty")
    refused({}, "data")
    refused(None, "data")
    assert credits(http) == {PAID: 1}  # nothing refused used the consent
    assert send(PAID, {**PAID_DATA, "thing3": {"value": "一" * 20}})["errcode"] == 0  # 20 is the limit


def test_consent_is_checked_last_and_used_once(http: httpx.Client, send: Send) -> None:
    chat(http, "mp", USER)
    assert send(PAID, PAID_DATA)["errcode"] == 43101
    assert send(PAID, {**PAID_DATA, "amount2": {"value": "199"}})["errcode"] == 47003  # data before consent
    consent(http, PAID, count=2)
    assert send(PAID, PAID_DATA) == {"errcode": 0, "errmsg": "ok"}
    assert credits(http) == {PAID: 1}
    assert send(PAID, PAID_DATA)["errcode"] == 0
    assert credits(http) == {PAID: 0}
    assert send(PAID, PAID_DATA)["errcode"] == 43101


def test_the_transcript_shows_the_card_as_the_user_sees_it(http: httpx.Client, send: Send) -> None:
    chat(http, "mp", USER)
    consent(http, PAID)
    assert send(PAID, PAID_DATA)["errcode"] == 0
    entry = get_json(http, "/chat/transcript", account="mp", openid=USER)[-1]
    assert entry["via"] == "subscribe" and entry["msgtype"] == "subscribe"
    assert entry["payload"]["title"] == "订单支付成功通知"
    assert entry["payload"]["lines"] == [
        {"label": "订单号", "value": "SO202405011200001"},
        {"label": "支付金额", "value": "¥199.00"},
        {"label": "商品名称", "value": "蓝色帆布鞋"},
        {"label": "支付时间", "value": "2024-05-01 12:00:00"},
    ]


def test_custom_templates_are_added_replaced_and_reset(
    http: httpx.Client, send: Send, token: Callable[[str], str]
) -> None:
    chat(http, "mp", USER)
    custom = {
        "account": "mp",
        "priTmplId": "custom_stock",
        "title": "到货提醒",
        "content": "商品名称:{{thing1.DATA}}\n到货数量:{{number2.DATA}}\n",
        "example": "商品名称:蓝色帆布鞋\n到货数量:20\n",
    }
    added = http.post("/control/templates", json=custom).json()
    assert added["ok"] is True and added["replaced"] is False
    assert added["template"]["type"] == 2
    consent(http, "custom_stock", count=2)
    assert send("custom_stock", {"thing1": {"value": "帆布鞋"}, "number2": {"value": "20"}})["errcode"] == 0
    # Replaced: the same id now has other keywords, and the old data no longer fits.
    changed = {**custom, "content": "商品名称:{{thing1.DATA}}\n到货时间:{{date2.DATA}}\n"}
    assert http.post("/control/templates", json=changed).json()["replaced"] is True
    answer = send("custom_stock", {"thing1": {"value": "帆布鞋"}, "number2": {"value": "20"}})
    assert answer["errcode"] == 47003 and "date2" in answer["errmsg"]
    listed = {t["priTmplId"] for t in api(http, "wxaapi/newtmpl/gettemplate", token("mp"))["data"]}
    assert listed == {*MP_IDS, "custom_stock"}
    assert {t["priTmplId"] for t in get_json(http, "/control/templates", account="mp")} == listed
    http.post("/control/reset").raise_for_status()
    chat(http, "mp", USER)
    consent(http, "custom_stock")
    fresh = api(http, "cgi-bin/message/subscribe/send", token("mp"),
                {"touser": USER, "template_id": "custom_stock", "data": {"thing1": {"value": "x"}}})
    assert fresh["errcode"] == 40037  # reset restored the default library
    listed = {t["priTmplId"] for t in api(http, "wxaapi/newtmpl/gettemplate", token("mp"))["data"]}
    assert listed == MP_IDS


def test_a_template_the_admin_could_not_pick_is_refused(http: httpx.Client) -> None:
    base = {"account": "mp", "priTmplId": "bad", "title": "坏模板"}
    assert http.post("/control/templates", json={**base, "content": "没有关键词"}).status_code == 400
    bad_type = {**base, "content": "备注:{{remark1.DATA}}\n"}
    assert http.post("/control/templates", json=bad_type).status_code == 400
    twice = {**base, "content": "a:{{thing1.DATA}}\nb:{{thing1.DATA}}\n"}
    assert http.post("/control/templates", json=twice).status_code == 400
    good = {**base, "content": "a:{{thing1.DATA}}"}
    assert http.post("/control/templates", json={**good, "type": 1}).status_code == 422
    assert http.post("/control/templates", json={**good, "account": "nope"}).status_code == 404
    assert http.post("/control/templates", json=good).status_code == 200


def test_a_long_term_template_is_not_used_up(http: httpx.Client, send: Send) -> None:
    chat(http, "mp", USER)
    body = {"account": "mp", "priTmplId": "long_term", "title": "物流状态更新", "type": 3,
            "content": "快递单号:{{character_string1.DATA}}\n物流状态:{{phrase2.DATA}}\n"}
    http.post("/control/templates", json=body).raise_for_status()
    data = {"character_string1": {"value": "SF1234567890123"}, "phrase2": {"value": "运输中"}}
    assert send("long_term", data)["errcode"] == 43101  # long-term still needs the user's consent
    consent(http, "long_term")
    assert [send("long_term", data)["errcode"] for _ in range(3)] == [0, 0, 0]


def test_the_popup_pushes_the_event_and_grants_the_accepted(
    http: httpx.Client, receiver: Receiver, send: Send
) -> None:
    results = {SHIPPED: "accept", ARRIVAL: "reject"}
    answer = http.post("/control/subscribe-popup", json={"account": "oa", "openid": USER, "results": results})
    assert answer.status_code == 200
    body = answer.json()
    assert body["credits"] == {SHIPPED: 1, ARRIVAL: 0}
    assert body["push"]["status"] == 200 and body["push"]["reply_error"] is None
    # The receiver checked the signature and decrypted the event with werobot.
    assert receiver.failures == []
    (got,) = receiver.received
    assert got.params["encrypt_type"] == "aes" and got.params["openid"] == USER
    message = got.message
    assert message["ToUserName"] == ACCOUNTS["oa"].original_id and message["FromUserName"] == USER
    assert message["MsgType"] == "event" and message["Event"] == "subscribe_msg_popup_event"
    assert "MsgId" not in message
    assert message["SubscribeMsgPopupEvent"]["List"] == [
        {"TemplateId": SHIPPED, "SubscribeStatusString": "accept", "PopupScene": "2"},
        {"TemplateId": ARRIVAL, "SubscribeStatusString": "reject", "PopupScene": "2"},
    ]
    # The accepted template allows one bizsend; the rejected one none.
    assert send(SHIPPED, SHIPPED_DATA, account="oa")["errcode"] == 0
    assert send(SHIPPED, SHIPPED_DATA, account="oa")["errcode"] == 43101
    arrival = {"thing1": {"value": "春季上新"}, "thing2": {"value": "全场包邮"}, "time3": {"value": "2024-05-01 10:00"}}
    assert send(ARRIVAL, arrival, account="oa")["errcode"] == 43101
    events = [e for e in get_json(http, "/chat/transcript", account="oa", openid=USER) if e["msgtype"] == "event"]
    assert events[0]["payload"]["event"] == "subscribe_msg_popup_event"
    assert events[0]["payload"]["list"][0] == {"template_id": SHIPPED, "title": "订单发货通知", "status": "accept"}


def test_popup_xml_on_the_wire_in_plain_mode(http: httpx.Client, receiver: Receiver) -> None:
    body = {"account": ACCOUNTS["oa_plain"].app_id, "openid": USER, "results": {ARRIVAL: "accept"}, "scene": 1}
    assert http.post("/control/subscribe-popup", json=body).status_code == 200
    (got,) = receiver.received
    raw = got.body.decode("utf-8")
    assert (
        "<Event><![CDATA[subscribe_msg_popup_event]]></Event>\n<SubscribeMsgPopupEvent>\n<List>\n"
        f"<TemplateId><![CDATA[{ARRIVAL}]]></TemplateId>\n"
        "<SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString>\n<PopupScene>1</PopupScene>\n"
        "</List>\n</SubscribeMsgPopupEvent>\n</xml>"
    ) in raw
    # A single <List> is still one element per template.
    assert got.message["SubscribeMsgPopupEvent"]["List"]["TemplateId"] == ARRIVAL


def test_a_popup_wechat_could_not_show_is_refused(http: httpx.Client, receiver: Receiver) -> None:
    def popup(results: dict[str, str], **extra: Any) -> int:
        body = {"account": "mp", "openid": USER, "results": results, **extra}
        return http.post("/control/subscribe-popup", json=body).status_code

    assert popup({SHIPPED: "accept"}) == 400  # the Official Account's template, not the mini-program's
    assert popup({}) == 400
    four = sorted(MP_IDS)[:4]
    assert popup(dict.fromkeys(four, "accept")) == 400  # at most three templates a popup
    assert popup({PAID: "maybe"}) == 422
    assert popup({PAID: "accept"}, scene=2) == 400  # scene 2 is an Official Account message
    assert receiver.received == []
    assert popup({PAID: "accept"}) == 200
    (got,) = receiver.received
    assert got.message["SubscribeMsgPopupEvent"]["List"]["PopupScene"] == "0"  # in the mini-program


def test_turning_a_template_off_pushes_the_change_and_voids_its_consents(
    http: httpx.Client, receiver: Receiver, send: Send
) -> None:
    consent(http, SHIPPED, account="oa", count=3)
    consent(http, ARRIVAL, account="oa")
    answer = http.post("/control/subscribe-change", json={"account": "oa", "openid": USER, "template_ids": [SHIPPED]})
    assert answer.status_code == 200 and answer.json()["credits"] == {SHIPPED: 0}
    assert answer.json()["push"]["status"] == 200
    (got,) = receiver.received
    assert got.message["Event"] == "subscribe_msg_change_event"
    assert got.message["SubscribeMsgChangeEvent"]["List"] == {"TemplateId": SHIPPED, "SubscribeStatusString": "reject"}
    assert send(SHIPPED, SHIPPED_DATA, account="oa")["errcode"] == 43101
    assert credits(http, "oa")[ARRIVAL] == 1  # the other template keeps its consent
    unknown = {"account": "oa", "openid": USER, "template_ids": ["no_such_template"]}
    assert http.post("/control/subscribe-change", json=unknown).status_code == 400
