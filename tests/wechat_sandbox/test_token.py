"""cgi-bin/token and the access_token checks every other API makes."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from wechatpy import WeChatClient

from tests.support.sandbox import ACCOUNTS, api, chat, errcode

OA = ACCOUNTS["oa"]
SEND = "cgi-bin/tags/get"  # any token-checked API will do


def token_params(**overrides: str) -> dict[str, str]:
    return {"grant_type": "client_credential", "appid": OA.app_id, "secret": OA.app_secret, **overrides}


def test_token_success_shape(http: httpx.Client) -> None:
    body = http.get("/api/cgi-bin/token", params=token_params()).json()
    assert set(body) == {"access_token", "expires_in"}
    assert body["expires_in"] == 7200


def test_token_errors(http: httpx.Client) -> None:
    def code(**overrides: str) -> int:
        return int(http.get("/api/cgi-bin/token", params=token_params(**overrides)).json()["errcode"])

    assert code(grant_type="password") == 40002
    assert code(appid="wx_nobody") == 40013
    assert code(secret="wrong") == 40125
    assert code(appid="") == 41002
    assert code(secret="") == 41004


def test_missing_unknown_and_expired_tokens(http: httpx.Client, token: Callable[[str], str]) -> None:
    assert api(http, SEND, None)["errcode"] == 41001
    assert api(http, SEND, "")["errcode"] == 41001
    assert api(http, SEND, "not-a-token")["errcode"] == 40001
    good = token("oa")
    assert api(http, SEND, good)["errcode"] == 0
    http.post("/control/advance-clock", json={"seconds": 7200})
    assert api(http, SEND, good)["errcode"] == 42001


def test_previous_token_lives_for_the_grace_period(http: httpx.Client, token: Callable[[str], str]) -> None:
    first = token("oa")
    second = token("oa")
    assert first != second
    http.post("/control/advance-clock", json={"seconds": 299})
    assert api(http, SEND, first)["errcode"] == 0
    http.post("/control/advance-clock", json={"seconds": 2})
    assert api(http, SEND, first)["errcode"] == 40001
    assert api(http, SEND, second)["errcode"] == 0


def test_tokens_are_per_account(http: httpx.Client, token: Callable[[str], str]) -> None:
    mp_token = token("mp")
    # A mini-program token works, but only for the mini-program: tags are OA-only.
    assert api(http, SEND, mp_token)["errcode"] == 48001
    token("oa")  # fetching an OA token does not retire the mini-program's
    assert (
        api(http, "cgi-bin/message/custom/typing", mp_token, {"touser": "x", "command": "Typing"})["errcode"] == 40003
    )


def test_expire_tokens_control(http: httpx.Client, token: Callable[[str], str]) -> None:
    oa_token, mp_token = token("oa"), token("mp")
    assert http.post("/control/expire-tokens", json={"account": "oa"}).json()["expired"] == 1
    assert api(http, SEND, oa_token)["errcode"] == 42001
    typing = {"touser": "x", "command": "Typing"}
    assert api(http, "cgi-bin/message/custom/typing", mp_token, typing)["errcode"] == 40003  # untouched


def test_wechatpy_without_retry_sees_42001(
    http: httpx.Client, wechat: Callable[..., WeChatClient], token: Callable[[str], str]
) -> None:
    client = wechat("oa")
    chat(http, "oa", "o_tok", type="event", event="subscribe")
    assert errcode(lambda: client.message.send_text("o_tok", "one")) == 0
    http.post("/control/expire-tokens", json={"account": "oa"})
    assert errcode(lambda: client.message.send_text("o_tok", "two")) == 42001


def test_wechatpy_auto_retry_fetches_a_new_token(http: httpx.Client, wechat: Callable[..., WeChatClient]) -> None:
    client = wechat("oa", auto_retry=True)
    chat(http, "oa", "o_tok", type="event", event="subscribe")
    client.message.send_text("o_tok", "one")
    http.post("/control/expire-tokens", json={"account": "oa"})
    client.message.send_text("o_tok", "two")  # 42001, new token, resent
    calls = http.get("/control/calls", params={"api": "cgi-bin/token"}).json()
    assert len(calls) == 2
    sends = http.get("/control/calls", params={"api": "message/custom/send"}).json()
    assert [c["errcode"] for c in sends] == [0, 42001, 0]
