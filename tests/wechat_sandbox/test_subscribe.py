"""Subscribe messages: one-time consents are a counter; values are checked by key type."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from tests.support.sandbox import chat, errcode, get_json

USER = "o_sub"
TEMPLATE = "tmpl_shipped"
DATA = {
    "thing1": {"value": "蓝色帆布鞋"},
    "character_string2": {"value": "CS20240501001"},
    "time3": {"value": "2024-05-01 15:01"},
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
    assert mp_send(mp, template="tmpl_other") == 43101  # consents are per template


def test_invalid_data_is_47003_and_consumes_nothing(http: httpx.Client, mp: WeChatClient) -> None:
    consent(http, "mp")
    too_long = {**DATA, "thing1": {"value": "这是一个超过二十个字的非常非常非常长的商品名称啊"}}
    with pytest.raises(WeChatClientException) as info:
        mp.wxa.send_subscribe_message(USER, TEMPLATE, too_long)
    assert info.value.errcode == 47003
    assert "thing1" in info.value.errmsg
    assert mp_send(mp) == 0  # the credit was still there


def test_unknown_user_and_bad_options(http: httpx.Client, mp: WeChatClient) -> None:
    assert mp_send(mp) == 40003
    consent(http, "mp")
    body = {"touser": USER, "template_id": TEMPLATE, "data": DATA, "miniprogram_state": "production"}
    assert errcode(lambda: mp.post("message/subscribe/send", data=body)) == 47003
    body = {**body, "miniprogram_state": "formal", "lang": "zh_CN"}
    assert errcode(lambda: mp.post("message/subscribe/send", data=body)) == 0


def test_official_account_uses_bizsend(http: httpx.Client, oa: WeChatClient, mp: WeChatClient) -> None:
    consent(http, "oa")
    miniprogram = {"appid": "wx_mp_safe", "pagepath": "pages/order/detail?id=1"}
    oa.message.send_subscribe_message(USER, TEMPLATE, DATA, miniprogram=miniprogram)
    assert errcode(lambda: oa.message.send_subscribe_message(USER, TEMPLATE, DATA)) == 43101
    # Each account has its own endpoint: the other one is unauthorized.
    assert errcode(lambda: oa.wxa.send_subscribe_message(USER, TEMPLATE, DATA)) == 48001
    consent(http, "mp")
    assert errcode(lambda: mp.message.send_subscribe_message(USER, TEMPLATE, DATA)) == 48001
    transcript = get_json(http, "/chat/transcript", account="oa", openid=USER)
    assert [(e["via"], e["payload"]["template_id"]) for e in transcript] == [("subscribe", TEMPLATE)]
    assert transcript[0]["payload"]["miniprogram"] == miniprogram
