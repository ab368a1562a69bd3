"""The message-push protocol through the real endpoint: signatures, modes, replays, bad input."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from bot.models import ConversationMessage, Customer, InboundMessage
from tests.support import (
    Account,
    LiveServer,
    Push,
    fixture_text,
    make_push,
    next_msg_id,
    open_reply,
    render_fixture,
    sha1_signature,
    text_push,
)

ServerFactory = Callable[..., LiveServer]

# WeChat's documented URL-check example (token AAAAA) and wechatpy's AES vector (token 123456).
DOC_TOKEN = "AAAAA"
DOC_CHECKS = [
    ("1714036504", "1514711492", "f464b24fc39322e44b38aa78f5edd27bd1441696"),
    ("1714037059", "486452656", "899cf89e464efb63f54ddac96b0a0a235f53aa78"),
]
VECTOR = {
    "token": "123456",
    "aes_key": "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
    "app_id": "wx49f0ab532d5d035a",
    "timestamp": "1411525903",
    "nonce": "461056294",
    "msg_signature": "74d92dfeb87ba7c714f89d98870ae5eb62dff26d",
}


def count(server: LiveServer, model: type) -> int:
    with server.services.factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def metric(server: LiveServer, name: str, **labels: str) -> float:
    """A counter's current value from GET /metrics (0 when the series does not exist yet)."""
    with server.client() as client:
        text = client.get("/metrics").text
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and line.split("{", 1)[1].split("}", 1)[0] == wanted:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def post(server: LiveServer, push: Push, path: str = "/wechat") -> tuple[int, str]:
    with server.client() as client:
        response = client.post(path, params=push.params, content=push.body)
    return response.status_code, response.text


@pytest.mark.parametrize(("timestamp", "nonce", "signature"), DOC_CHECKS)
def test_documented_url_check_echoes_echostr(server_factory: ServerFactory, timestamp: str, nonce: str,
                                             signature: str) -> None:
    server = server_factory({"CHATSHOP__WECHAT__TOKEN": DOC_TOKEN, "CHATSHOP__WECHAT__MAX_CLOCK_SKEW_S": "0"})
    echostr = "7395946137129482139"
    with server.client() as client:
        response = client.get("/wechat", params={"signature": signature, "timestamp": timestamp,
                                                 "nonce": nonce, "echostr": echostr})
    assert response.status_code == 200
    assert response.content == echostr.encode()


def test_mini_program_url_check_uses_its_own_token(server: LiveServer) -> None:
    timestamp, nonce = str(int(time.time())), "42"
    mp, oa = server.account("mp"), server.account("oa")
    with server.client() as client:
        good = client.get("/wechat/mp", params={"signature": sha1_signature(mp.token, timestamp, nonce),
                                                "timestamp": timestamp, "nonce": nonce, "echostr": "mp-ok"})
        wrong = client.get("/wechat/mp", params={"signature": sha1_signature(oa.token, timestamp, nonce),
                                                 "timestamp": timestamp, "nonce": nonce, "echostr": "x"})
    assert (good.status_code, good.text) == (200, "mp-ok")
    assert wrong.status_code == 403


def test_a_retried_event_is_handled_once(server: LiveServer) -> None:
    account = server.account()
    xml = render_fixture("wechat/subscribe.xml", to=account.original_id, openid="o_double_follow",
                         create_time=int(time.time()))
    push = make_push(xml, account)
    first, again = post(server, push), post(server, push)
    assert open_reply(first[1], account, encrypted=True) == open_reply(again[1], account, encrypted=True)
    assert count(server, InboundMessage) == 1


def test_url_check_with_a_wrong_signature_is_forbidden(server: LiveServer) -> None:
    with server.client() as client:
        response = client.get("/wechat", params={"signature": "0" * 40, "timestamp": str(int(time.time())),
                                                 "nonce": "1", "echostr": "hello"})
    assert response.status_code == 403
    assert "hello" not in response.text


def test_wechatpy_aes_vector_is_decrypted_and_answered_encrypted(server_factory: ServerFactory) -> None:
    # Given the account of wechatpy's published test vector, with the replay check off (it is from 2014)
    server = server_factory({
        "CHATSHOP__WECHAT__APP_ID": VECTOR["app_id"], "CHATSHOP__WECHAT__TOKEN": VECTOR["token"],
        "CHATSHOP__WECHAT__ENCODING_AES_KEY": VECTOR["aes_key"], "CHATSHOP__WECHAT__MAX_CLOCK_SKEW_S": "0",
    })
    params = {
        "signature": sha1_signature(VECTOR["token"], VECTOR["timestamp"], VECTOR["nonce"]),
        "timestamp": VECTOR["timestamp"], "nonce": VECTOR["nonce"],
        "encrypt_type": "aes", "msg_signature": VECTOR["msg_signature"],
    }
    # When the vector's exact bytes are pushed
    with server.client() as client:
        response = client.post("/wechat", params=params, content=fixture_text("wechat/wechatpy_vector_push.xml"))
    # Then the reply is encrypted, addressed to "messense", and the message "test" was logged
    assert response.status_code == 200
    account = Account(VECTOR["app_id"], VECTOR["token"], VECTOR["aes_key"], VECTOR["app_id"])
    reply = open_reply(response.text, account, encrypted=True)
    assert reply["ToUserName"] == "messense"
    assert reply["MsgType"] == "text"
    with server.services.factory() as session:
        logged = session.scalars(select(ConversationMessage).order_by(ConversationMessage.id)).all()
        assert [(m.direction, m.kind) for m in logged] == [("in", "text"), ("out", "text")]
        assert logged[0].body["content"] == "test"
        assert logged[0].wechat_msg_id == 4363689963896700987


@pytest.mark.parametrize("mode", ["plain", "compat", "safe"])
def test_each_message_mode_gets_a_reply_in_kind(server_factory: ServerFactory, mode: str) -> None:
    server = server_factory({"CHATSHOP__WECHAT__MESSAGE_MODE": mode})
    account, push = text_push(server, "什么时候发货", mode=mode)
    status, body = post(server, push)
    assert status == 200
    reply = open_reply(body, account, encrypted=mode != "plain")
    assert reply["MsgType"] == "text"
    assert reply["ToUserName"] == "o_test_customer"
    assert "发" in reply["Content"]  # the shipping FAQ, not the fallback
    if mode != "plain":
        assert "<Encrypt>" in body and "Content" not in body.split("<Encrypt>")[0]


def test_safe_mode_refuses_a_plaintext_push(server: LiveServer) -> None:
    _, push = text_push(server, "你好", mode="plain")
    status, body = post(server, push)
    assert (status, body) == (200, "success")
    assert count(server, InboundMessage) == 0


def test_forged_url_signature_is_forbidden_and_changes_nothing(server: LiveServer) -> None:
    _, push = text_push(server, "什么时候发货")
    push.params["signature"] = sha1_signature("not-the-token", push.params["timestamp"], push.params["nonce"])
    assert post(server, push)[0] == 403
    assert count(server, Customer) == count(server, InboundMessage) == count(server, ConversationMessage) == 0


def test_forged_msg_signature_is_forbidden_and_changes_nothing(server: LiveServer) -> None:
    _, push = text_push(server, "什么时候发货")
    push.params["msg_signature"] = "f" * 40
    assert post(server, push)[0] == 403
    assert count(server, InboundMessage) == 0


def test_missing_signature_is_forbidden(server: LiveServer) -> None:
    _, push = text_push(server, "什么时候发货")
    del push.params["signature"]
    assert post(server, push)[0] == 403


# Timestamps are whole seconds and time passes while the test runs: stay clear of the 300 s edge.
@pytest.mark.parametrize("offset_s", [-310, 310])
def test_stale_or_future_timestamps_are_refused_as_replays(server: LiveServer, offset_s: int) -> None:
    _, push = text_push(server, "什么时候发货", timestamp=int(time.time()) + offset_s)
    assert post(server, push)[0] == 403
    assert count(server, InboundMessage) == 0


@pytest.mark.parametrize("offset_s", [-290, 290])
def test_timestamps_within_the_allowed_skew_are_accepted(server: LiveServer, offset_s: int) -> None:
    account, push = text_push(server, "什么时候发货", timestamp=int(time.time()) + offset_s)
    status, body = post(server, push)
    assert status == 200 and open_reply(body, account, encrypted=True)["MsgType"] == "text"


def test_clock_skew_check_can_be_turned_off(server_factory: ServerFactory) -> None:
    server = server_factory({"CHATSHOP__WECHAT__MAX_CLOCK_SKEW_S": "0"})
    account, push = text_push(server, "什么时候发货", timestamp=int(time.time()) - 86400)
    status, body = post(server, push)
    assert status == 200 and open_reply(body, account, encrypted=True)["MsgType"] == "text"


@pytest.mark.parametrize("fixture", ["wechat/malformed.xml", "wechat/xml_bomb.xml",
                                     "wechat/external_entity.xml", "wechat/unknown_type.xml"])
@pytest.mark.parametrize("mode", ["plain", "safe"])
def test_bad_input_is_answered_success_and_the_server_stays_healthy(
    server_factory: ServerFactory, fixture: str, mode: str
) -> None:
    server = server_factory({"CHATSHOP__WECHAT__MESSAGE_MODE": mode})
    account = server.account()
    xml = render_fixture(fixture, to=account.original_id, openid="o_attacker", create_time=int(time.time()),
                         msg_id=next_msg_id())
    malformed_before = metric(server, "chatshop_webhook_errors_total", channel="oa", reason="malformed")
    status, body = post(server, make_push(xml, account, mode=mode))
    assert (status, body) == (200, "success")
    well_formed = fixture.endswith("unknown_type.xml")  # logged, but nothing to say
    assert count(server, ConversationMessage) == (1 if well_formed else 0)
    malformed_after = metric(server, "chatshop_webhook_errors_total", channel="oa", reason="malformed")
    assert malformed_after - malformed_before == (0 if well_formed else 1)
    with server.client() as client:
        assert client.get("/healthz").status_code == 200


def test_oversized_body_is_answered_success_without_being_read(server: LiveServer) -> None:
    _, push = text_push(server, "大" * 70000, mode="safe")
    status, body = post(server, push)
    assert (status, body) == (200, "success")
    assert count(server, ConversationMessage) == 0
    assert metric(server, "chatshop_webhook_errors_total", channel="oa", reason="oversized") >= 1


def test_garbage_ciphertext_is_answered_success(server: LiveServer) -> None:
    account, push = text_push(server, "你好")
    encrypt = "bm90IHJlYWxseSBjaXBoZXJ0ZXh0IGF0IGFsbCEhISE="
    ts, nonce = push.params["timestamp"], push.params["nonce"]
    push.params["msg_signature"] = sha1_signature(account.token, ts, nonce, encrypt)
    body = f"<xml><ToUserName>{account.original_id}</ToUserName><Encrypt>{encrypt}</Encrypt></xml>".encode()
    with server.client() as client:
        response = client.post("/wechat", params=push.params, content=body)
    assert (response.status_code, response.text) == (200, "success")
    assert count(server, ConversationMessage) == 0
