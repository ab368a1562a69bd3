"""custom/typing: needs an exchange in the last 30 s; one Typing at a time for 15 s."""

from __future__ import annotations

import httpx
from wechatpy import WeChatClient

from tests.support.sandbox import chat, errcode

USER = "o_typing"


def typing(client: WeChatClient, command: str = "Typing", openid: str = USER) -> int:
    return errcode(lambda: client.post("message/custom/typing", data={"touser": openid, "command": command}))


def advance(http: httpx.Client, seconds: float) -> None:
    http.post("/control/advance-clock", json={"seconds": seconds}).raise_for_status()


def test_needs_a_recent_exchange(http: httpx.Client, oa: WeChatClient) -> None:
    assert typing(oa, openid="o_nobody") == 40003
    chat(http, "oa", USER, type="event", event="VIEW", event_key="https://shop.example/")
    assert typing(oa) == 45080  # a VIEW is no conversation
    chat(http, "oa", USER)
    assert typing(oa) == 0
    advance(http, 31)
    assert typing(oa, "CancelTyping") == 45080
    assert typing(oa) == 45080


def test_a_custom_send_counts_as_an_exchange(http: httpx.Client, oa: WeChatClient) -> None:
    http.post("/control/payment", json={"account": "oa", "openid": USER})
    advance(http, 40)
    assert typing(oa) == 45080
    oa.message.send_text(USER, "您的订单已发货")
    assert typing(oa) == 0


def test_typing_cannot_repeat_while_active(http: httpx.Client, oa: WeChatClient) -> None:
    chat(http, "oa", USER)
    assert typing(oa) == 0
    assert typing(oa) == 45081
    advance(http, 14)
    assert typing(oa) == 45081
    advance(http, 2)  # 16 s: the first Typing has lapsed
    assert typing(oa) == 0


def test_cancel_or_a_message_ends_typing(http: httpx.Client, oa: WeChatClient) -> None:
    chat(http, "oa", USER)
    assert typing(oa) == 0
    assert typing(oa, "CancelTyping") == 0
    assert typing(oa) == 0
    oa.message.send_text(USER, "好的")
    assert typing(oa) == 0


def test_bad_command_is_47001(http: httpx.Client, oa: WeChatClient, mp: WeChatClient) -> None:
    chat(http, "oa", USER)
    assert typing(oa, "typing") == 47001
    chat(http, "mp", USER, type="event", event="user_enter_tempsession")
    assert typing(mp) == 0
