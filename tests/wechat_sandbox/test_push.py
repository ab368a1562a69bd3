"""Pushes to a webhook in all three modes, passive replies, and WeChat's retry on timeout.

The receiver (helpers.Receiver) verifies every signature and decrypts with werobot.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import xmltodict
from werobot.crypto import MessageCrypt

from tests.support.sandbox import ACCOUNTS, PUSH_TIMEOUT_S, SLOW_S, Receiver, chat, get_json, text_reply

USER = "o_push"


def reply_xml(message: dict[str, Any], msgtype: str, inner: str) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{message['FromUserName']}]]></ToUserName>"
        f"<FromUserName><![CDATA[{message['ToUserName']}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{msgtype}]]></MsgType>{inner}</xml>"
    )


def transcript(http: httpx.Client, account: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = get_json(http, "/chat/transcript", account=ACCOUNTS[account].app_id, openid=USER)
    return result


@pytest.mark.parametrize("account", ["oa_plain", "oa_compat", "oa"])
def test_text_push_and_passive_reply_in_each_mode(http: httpx.Client, receiver: Receiver, account: str) -> None:
    receiver.reply = lambda m: text_reply(m, f"收到：{m['Content']}")
    result = chat(http, account, USER, content="有红色的吗？")
    assert receiver.failures == []
    (got,) = receiver.received
    spec = ACCOUNTS[account]
    message = got.message
    assert message["ToUserName"] == spec.original_id and message["FromUserName"] == USER
    assert message["MsgType"] == "text" and message["Content"] == "有红色的吗？"
    assert int(message["MsgId"]) == result["msg_id"] and abs(int(message["CreateTime"]) - time.time()) < 5
    assert got.params["openid"] == USER
    assert result["status"] == 200 and result["tries"] == 1 and result["reply_error"] is None
    assert result["reply"] == {"msgtype": "text", "content": "收到：有红色的吗？"}
    assert [(e["direction"], e["via"]) for e in transcript(http, account)] == [("in", "customer"), ("out", "passive")]


def test_mode_specific_envelopes(http: httpx.Client, receiver: Receiver) -> None:
    for account in ("oa_plain", "oa_compat", "oa"):
        chat(http, account, USER)
    plain, compat, safe = receiver.received
    assert "encrypt_type" not in plain.params and "msg_signature" not in plain.params
    assert "Encrypt" not in plain.envelope
    assert compat.params["encrypt_type"] == "aes"
    assert {k: v for k, v in compat.envelope.items() if k != "Encrypt"} == compat.message
    assert safe.params["encrypt_type"] == "aes"
    assert set(safe.envelope) == {"ToUserName", "Encrypt"}


def test_msg_ids_are_unique_and_events_have_none(http: httpx.Client, receiver: Receiver) -> None:
    chat(http, "oa", USER)
    chat(http, "oa", USER)
    chat(http, "oa", USER, type="event", event="subscribe")
    first, second, event = (r.message for r in receiver.received)
    assert first["MsgId"] != second["MsgId"]
    assert "MsgId" not in event and event["MsgType"] == "event" and event["Event"] == "subscribe"
    assert "EventKey" not in event


def test_event_fields(http: httpx.Client, receiver: Receiver) -> None:
    chat(http, "oa", USER, type="event", event="subscribe", event_key="store_42")
    chat(http, "oa", USER, type="event", event="SCAN", event_key="store_42")
    chat(http, "oa", USER, type="event", event="CLICK", event_key="MY_ORDERS")
    chat(http, "mp", USER, type="event", event="user_enter_tempsession", session_from="order:9")
    qr, scan, click, enter = (r.message for r in receiver.received)
    assert qr["EventKey"] == "qrscene_store_42" and qr["Ticket"]
    assert scan["EventKey"] == "store_42" and scan["Event"] == "SCAN"
    assert click["EventKey"] == "MY_ORDERS"
    assert enter["Event"] == "user_enter_tempsession" and enter["SessionFrom"] == "order:9"
    assert enter["ToUserName"] == ACCOUNTS["mp"].original_id


def test_menu_tap_image_and_card(http: httpx.Client, receiver: Receiver) -> None:
    chat(http, "oa", USER, content="满意", bizmsgmenuid="101")
    chat(http, "oa", USER, type="image")
    chat(http, "mp", USER, type="miniprogrampage", title="这件多少钱", pagepath="pages/item?id=3")
    tap, image, card = (r.message for r in receiver.received)
    assert tap["Content"] == "满意" and tap["bizmsgmenuid"] == "101"
    assert image["MsgType"] == "image" and image["PicUrl"] and image["MediaId"]
    assert http.get(f"/chat/media/{image['MediaId']}", params={"account": "oa"}).status_code == 200
    assert card["MsgType"] == "miniprogrampage" and card["Title"] == "这件多少钱"
    assert card["PagePath"] == "pages/item?id=3" and card["ThumbMediaId"]


def test_compat_accepts_a_plain_reply_but_safe_does_not(http: httpx.Client, receiver: Receiver) -> None:
    receiver.reply = lambda m: text_reply(m, "明文回复")
    receiver.encrypt_reply = False
    assert chat(http, "oa_compat", USER)["reply"] == {"msgtype": "text", "content": "明文回复"}
    refused = chat(http, "oa", USER)
    assert refused["reply"] is None and "encrypted" in refused["reply_error"]
    assert [e["via"] for e in transcript(http, "oa")] == ["customer"]


def test_bad_reply_signature_is_reported(http: httpx.Client, receiver: Receiver) -> None:
    spec = ACCOUNTS["oa"]

    def forged(message: dict[str, Any]) -> str:
        envelope = MessageCrypt(spec.token, spec.encoding_aes_key, spec.app_id).encrypt_message(
            text_reply(message, "x")
        )
        fields = xmltodict.parse(envelope)["xml"]
        return envelope.replace(fields["MsgSignature"], "0" * 40)

    receiver.reply = forged
    receiver.encrypt_reply = False
    result = chat(http, "oa", USER)
    assert result["status"] == 200 and result["reply"] is None and "MsgSignature" in result["reply_error"]


def test_reply_rules(http: httpx.Client, receiver: Receiver) -> None:
    article = "<item><Title><![CDATA[新品]]></Title><Description><![CDATA[d]]></Description><PicUrl><![CDATA[]]></PicUrl><Url><![CDATA[https://shop.example/]]></Url></item>"
    receiver.reply = lambda m: reply_xml(m, "news", f"<ArticleCount>2</ArticleCount><Articles>{article * 2}</Articles>")
    assert "1 article" in chat(http, "oa", USER)["reply_error"]
    receiver.reply = lambda m: reply_xml(m, "news", f"<ArticleCount>1</ArticleCount><Articles>{article}</Articles>")
    news = chat(http, "oa", USER)["reply"]
    assert news["msgtype"] == "news" and news["articles"][0]["title"] == "新品"
    transfer = "<TransInfo><KfAccount><![CDATA[kf2001@gh_oa_safe]]></KfAccount></TransInfo>"
    receiver.reply = lambda m: reply_xml(m, "transfer_customer_service", transfer)
    assert chat(http, "oa", USER)["reply"] == {
        "msgtype": "transfer_customer_service",
        "kf_account": "kf2001@gh_oa_safe",
    }
    assert "not events" in chat(http, "oa", USER, type="event", event="subscribe")["reply_error"]


def test_mini_program_pushes_take_no_passive_text(http: httpx.Client, receiver: Receiver) -> None:
    receiver.reply = lambda m: text_reply(m, "您好")
    assert "mini-program" in chat(http, "mp", USER)["reply_error"]
    receiver.reply = lambda m: reply_xml(m, "transfer_customer_service", "")
    assert chat(http, "mp", USER)["reply"] == {"msgtype": "transfer_customer_service", "kf_account": None}


def test_success_and_empty_bodies_mean_no_reply(http: httpx.Client, receiver: Receiver) -> None:
    result = chat(http, "oa", USER)
    assert result["raw"] == "success" and result["reply"] is None and result["reply_error"] is None
    receiver.reply = lambda m: ""
    receiver.encrypt_reply = False
    assert chat(http, "oa", USER)["reply"] is None


def test_retry_sends_the_same_bytes_after_a_timeout(http: httpx.Client, receiver: Receiver) -> None:
    receiver.delays = [SLOW_S]
    receiver.reply = lambda m: text_reply(m, "第二次才回复")
    result = chat(http, "oa", USER, retry=True)
    assert result["tries"] == 2 and result["status"] == 200
    assert result["elapsed_ms"] >= PUSH_TIMEOUT_S * 1000
    assert result["reply"] == {"msgtype": "text", "content": "第二次才回复"}
    first, second = receiver.received
    assert first.params == second.params and first.body == second.body


def test_no_retry_unless_asked(http: httpx.Client, receiver: Receiver) -> None:
    receiver.delays = [SLOW_S]
    result = chat(http, "oa", USER)
    assert result["tries"] == 1 and result["status"] is None and "no answer" in result["reply_error"]


def test_gives_up_after_three_tries(http: httpx.Client, receiver: Receiver) -> None:
    receiver.delays = [SLOW_S] * 3
    result = chat(http, "oa_plain", USER, retry=True)
    assert result["tries"] == 3 and result["status"] is None
    assert len(receiver.received) == 3
    # The customer's message still counts as an action: the window is open.
    customer = get_json(http, "/control/customer", account=ACCOUNTS["oa_plain"].app_id, openid=USER)
    assert customer["window"]["open"]


def test_broken_replies_are_reported(http: httpx.Client, receiver: Receiver) -> None:
    receiver.reply = lambda m: "<html>oops</html>"
    receiver.encrypt_reply = False
    result = chat(http, "oa_plain", USER)
    assert result["status"] == 200 and result["reply"] is None and result["reply_error"]
    receiver.status = 500
    result = chat(http, "oa_plain", USER)
    assert result["status"] == 500 and result["reply"] is None and "500" in result["reply_error"]


def test_verify_url(http: httpx.Client) -> None:
    result = http.post("/control/verify-url", json={"account": "oa"}).json()
    assert result["ok"] is True and result["status"] == 200


def test_bad_requests(http: httpx.Client) -> None:
    def post(**body: Any) -> int:
        return http.post("/chat/send", json={"openid": USER, **body}).status_code

    assert post(account="wx_nobody", type="text", content="x") == 404
    assert post(account="oa", type="event", event="user_enter_tempsession") == 400
    assert post(account="mp", type="event", event="subscribe") == 400
    assert post(account="oa", type="miniprogrampage") == 400
    assert post(account="oa", type="event", event="CLICK") == 400  # CLICK needs event_key
    assert post(account="oa", type="text") == 400
    assert post(account="oa", type="voice") == 422
