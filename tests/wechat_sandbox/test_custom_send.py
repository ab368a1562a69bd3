"""custom/send: message types, and the reply window and quota each customer action opens."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from wechatpy import WeChatClient

from tests.support.sandbox import api, chat, errcode, get_json

USER = "o_window"
ARTICLE = {"title": "新品", "description": "秋冬上新", "url": "https://shop.example/n"}


def advance(http: httpx.Client, seconds: float) -> None:
    http.post("/control/advance-clock", json={"seconds": seconds}).raise_for_status()


def send_until_refused(client: WeChatClient, openid: str = USER, limit: int = 30) -> tuple[int, int]:
    """(how many sends succeeded, the errcode that stopped them)."""
    for sent in range(limit):
        text = f"第 {sent + 1} 条"
        code = errcode(lambda: client.message.send_text(openid, text))  # noqa: B023 - called at once
        if code:
            return sent, code
    return limit, 0


def mp_send(client: WeChatClient, openid: str = USER) -> int:
    body = {"touser": openid, "msgtype": "text", "text": {"content": "您好"}}
    return errcode(lambda: client.post("message/custom/send", data=body))


def mp_send_until_refused(client: WeChatClient, limit: int = 30) -> tuple[int, int]:
    for sent in range(limit):
        code = mp_send(client)
        if code:
            return sent, code
    return limit, 0


def test_unknown_openid_is_40003(oa: WeChatClient) -> None:
    assert errcode(lambda: oa.message.send_text("o_stranger", "hi")) == 40003


def test_known_user_without_window_is_45015(http: httpx.Client, oa: WeChatClient) -> None:
    chat(http, "oa", USER, type="event", event="VIEW", event_key="https://shop.example/")  # opens no window
    assert errcode(lambda: oa.message.send_text(USER, "hi")) == 45015


def test_user_message_allows_five_in_48_hours(http: httpx.Client, oa: WeChatClient) -> None:
    chat(http, "oa", USER)
    assert send_until_refused(oa) == (5, 45047)
    chat(http, "oa", USER)
    advance(http, 172800 - 5)
    assert errcode(lambda: oa.message.send_text(USER, "still inside")) == 0
    advance(http, 10)
    assert errcode(lambda: oa.message.send_text(USER, "too late")) == 45015


@pytest.mark.parametrize(
    "action",
    [
        {"type": "event", "event": "subscribe"},
        {"type": "event", "event": "subscribe", "event_key": "store_1"},
        {"type": "event", "event": "SCAN", "event_key": "store_1"},
        {"type": "event", "event": "CLICK", "event_key": "MENU_ORDERS"},
    ],
)
def test_click_follow_and_scan_allow_three_in_a_minute(
    http: httpx.Client, oa: WeChatClient, action: dict[str, Any]
) -> None:
    chat(http, "oa", USER, **action)
    assert send_until_refused(oa) == (3, 45047)
    chat(http, "oa", USER, **action)
    advance(http, 61)
    assert errcode(lambda: oa.message.send_text(USER, "late")) == 45015


def test_payment_is_unlimited_for_48_hours(http: httpx.Client, oa: WeChatClient) -> None:
    http.post("/control/payment", json={"account": "oa", "openid": USER}).raise_for_status()
    assert send_until_refused(oa, limit=12) == (12, 0)
    advance(http, 172801)
    assert errcode(lambda: oa.message.send_text(USER, "late")) == 45015


def test_each_action_resets_the_window(http: httpx.Client, oa: WeChatClient) -> None:
    chat(http, "oa", USER, type="event", event="CLICK", event_key="K")
    assert send_until_refused(oa) == (3, 45047)
    chat(http, "oa", USER, content="在吗")  # a message resets to 5 in 48 h
    assert send_until_refused(oa) == (5, 45047)
    http.post("/control/payment", json={"account": "oa", "openid": USER})
    assert send_until_refused(oa, limit=8) == (8, 0)
    chat(http, "oa", USER, type="event", event="CLICK", event_key="K")  # back to the click rule
    assert send_until_refused(oa) == (3, 45047)


def test_unsubscribe_closes_the_window(http: httpx.Client, oa: WeChatClient) -> None:
    chat(http, "oa", USER)
    chat(http, "oa", USER, type="event", event="unsubscribe")
    assert errcode(lambda: oa.message.send_text(USER, "come back")) == 45015


def test_mini_program_message_allows_five(http: httpx.Client, mp: WeChatClient) -> None:
    chat(http, "mp", USER, content="咨询一下")
    assert mp_send_until_refused(mp) == (5, 45047)
    advance(http, 172801)
    assert mp_send(mp) == 45015


def test_mini_program_session_entry_allows_two_in_a_minute(http: httpx.Client, mp: WeChatClient) -> None:
    chat(http, "mp", USER, type="event", event="user_enter_tempsession", session_from="order:7")
    assert mp_send_until_refused(mp) == (2, 45047)
    chat(http, "mp", USER, type="event", event="user_enter_tempsession")
    advance(http, 61)
    assert mp_send(mp) == 45015


def test_message_types(http: httpx.Client, oa: WeChatClient, token: Callable[[str], str]) -> None:
    http.post("/control/payment", json={"account": "oa", "openid": USER})
    access = token("oa")

    def send(body: dict[str, Any]) -> int:
        return int(api(http, "cgi-bin/message/custom/send", access, {"touser": USER, **body})["errcode"])

    article = {"title": "新品", "description": "秋冬上新", "url": "https://shop.example/n", "picurl": ""}
    assert send({"msgtype": "news", "news": {"articles": [article]}}) == 0
    assert send({"msgtype": "news", "news": {"articles": [article, article]}}) == 45008
    assert send({"msgtype": "wxcard", "wxcard": {"card_id": "c"}}) == 40008
    assert send({"text": {"content": "no msgtype"}}) == 40008
    assert send({"msgtype": "text", "text": {"content": ""}}) == 44004
    assert send({"msgtype": "image", "image": {"media_id": "never-uploaded"}}) == 40007
    menu = {"head_content": "您对本次服务满意吗？", "list": [{"id": "101", "content": "满意"}], "tail_content": "谢谢"}
    assert send({"msgtype": "msgmenu", "msgmenu": menu}) == 0
    media_id = oa.media.upload("thumb", ("card.jpg", io.BytesIO(b"\xff\xd8 thumb"), "image/jpeg"))["media_id"]
    page = {"title": "订单详情", "appid": "wx_mp_safe", "pagepath": "pages/order?id=1", "thumb_media_id": media_id}
    assert send({"msgtype": "miniprogrampage", "miniprogrampage": page}) == 0
    assert api(http, "cgi-bin/message/custom/send", access, b"{not json")["errcode"] == 47001


def test_mini_program_sends_only_its_four_types(http: httpx.Client, token: Callable[[str], str]) -> None:
    http.post("/control/payment", json={"account": "mp", "openid": USER})
    access = token("mp")

    def send(body: dict[str, Any]) -> int:
        return int(api(http, "cgi-bin/message/custom/send", access, {"touser": USER, **body})["errcode"])

    link = {"title": "查看物流", "description": "点击查看", "url": "https://shop.example/t", "thumb_url": ""}
    assert send({"msgtype": "link", "link": link}) == 0
    assert send({"msgtype": "text", "text": {"content": "您好"}}) == 0
    menu = {"list": [{"id": "1", "content": "是"}]}
    assert send({"msgtype": "msgmenu", "msgmenu": menu}) == 40008
    assert send({"msgtype": "voice", "voice": {"media_id": "m"}}) == 40008


def test_image_with_uploaded_media_reaches_the_transcript(http: httpx.Client, oa: WeChatClient) -> None:
    chat(http, "oa", USER)
    media_id = oa.media.upload("image", ("shoe.png", io.BytesIO(b"\x89PNG fake"), "image/png"))["media_id"]
    oa.message.send_image(USER, media_id)
    transcript = get_json(http, "/chat/transcript", account="oa", openid=USER)
    assert [(e["direction"], e["via"], e["msgtype"]) for e in transcript] == [
        ("in", "customer", "text"),
        ("out", "custom_send", "image"),
    ]
    assert http.get(f"/chat/media/{media_id}", params={"account": "oa"}).content == b"\x89PNG fake"


def test_refused_send_consumes_no_quota_and_leaves_no_transcript(http: httpx.Client, oa: WeChatClient) -> None:
    chat(http, "oa", USER, type="event", event="subscribe")
    assert errcode(lambda: oa.message.send_articles(USER, [ARTICLE, ARTICLE])) == 45008
    assert send_until_refused(oa) == (3, 45047)
    transcript = get_json(http, "/chat/transcript", account="oa", openid=USER)
    assert sum(1 for e in transcript if e["via"] == "custom_send") == 3
