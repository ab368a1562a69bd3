"""Subscribe messages: one-time consents are a counter; values are checked by key type.

The templates are the sandbox's default library (test_templates.py covers the library itself)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from tests.support.sandbox import chat, errcode, get_json

USER = "o_sub"
TEMPLATE = "sbx_mp_order_delivered"  # 订单签收通知: character_string1 订单号, thing2 商品名称, time3 签收时间
OTHER_TEMPLATE = "sbx_mp_refund"
OA_TEMPLATE = "sbx_oa_new_arrival"  # 上新通知: thing1 活动名称, thing2 活动内容, time3 活动时间
DATA = {
    "character_string1": {"value": "CS20240501001"},
    "thing2": {"value": "蓝色帆布鞋"},
    "time3": {"value": "2024-05-01 15:01"},
}
OA_DATA = {
    "thing1": {"value": "春季新品上市"},
    "thing2": {"value": "帆布鞋系列上新"},
    "time3": {"value": "2024-05-01 10:00"},
}


def consent(http: httpx.Client, account: str, count: int = 1, template: str = TEMPLATE) -> int:
    body = {"account": account, "openid": USER, "template_id": template, "count": count}
    credits: int = http.post("/control/consent", json=body).json()["credits"]
    return credits


def mp_send(mp: WeChatClient, data: dict[str, Any] = DATA, template: str = TEMPLATE) -> int:
    return errcode(lambda: mp.wxa.send_subscribe_message(USER, template, data, page="pages/order/detail?id=1"))


def test_each_consent_allows_one_send(http: httpx.Client, mp: WeChatClient) -> None:
    chat(http, "mp", USER)
    assert mp_send(mp) == 43101
    assert consent(http, "mp", count=2) == 2
    assert mp_send(mp) == 0
    assert mp_send(mp) == 0
    assert mp_send(mp) == 43101
    refund = {
        "character_string1": {"value": "CS20240501001"},
        "amount2": {"value": "¥199.00"},
        "phrase3": {"value": "退款成功"},
        "time4": {"value": "2024-05-02 10:00"},
    }
    assert mp_send(mp, refund, template=OTHER_TEMPLATE) == 43101  # consents are per template


def test_invalid_data_is_47003_and_consumes_nothing(http: httpx.Client, mp: WeChatClient) -> None:
    consent(http, "mp")
    too_long = {**DATA, "thing2": {"value": "这是一个超过二十个字的非常非常非常长的商品名称啊"}}
    with pytest.raises(WeChatClientException) as info:
        mp.wxa.send_subscribe_message(USER, TEMPLATE, too_long)
    assert info.value.errcode == 47003
    assert "thing2" in info.value.errmsg
    assert mp_send(mp) == 0  # the credit was still there


def test_unknown_user_and_bad_options(http: httpx.Client, mp: WeChatClient) -> None:
    assert mp_send(mp) == 40003
    consent(http, "mp")
    body = {"touser": USER, "template_id": TEMPLATE, "data": DATA, "miniprogram_state": "production"}
    assert errcode(lambda: mp.post("message/subscribe/send", data=body)) == 47003
    body = {**body, "miniprogram_state": "formal", "lang": "zh_CN"}
    assert errcode(lambda: mp.post("message/subscribe/send", data=body)) == 0


def test_official_account_uses_bizsend(http: httpx.Client, oa: WeChatClient, mp: WeChatClient) -> None:
    consent(http, "oa", template=OA_TEMPLATE)
    miniprogram = {"appid": "wx_mp_safe", "pagepath": "pages/order/detail?id=1"}
    oa.message.send_subscribe_message(USER, OA_TEMPLATE, OA_DATA, miniprogram=miniprogram)
    assert errcode(lambda: oa.message.send_subscribe_message(USER, OA_TEMPLATE, OA_DATA)) == 43101
    # Each account has its own endpoint: the other one is unauthorized.
    assert errcode(lambda: oa.wxa.send_subscribe_message(USER, OA_TEMPLATE, OA_DATA)) == 48001
    consent(http, "mp")
    assert errcode(lambda: mp.message.send_subscribe_message(USER, TEMPLATE, DATA)) == 48001
    transcript = get_json(http, "/chat/transcript", account="oa", openid=USER)
    assert [(e["via"], e["payload"]["template_id"]) for e in transcript] == [("subscribe", OA_TEMPLATE)]
    assert transcript[0]["payload"]["miniprogram"] == miniprogram
