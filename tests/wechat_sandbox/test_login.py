"""sns/jscode2session: single-use codes of the form sandbox:<openid>:<nonce>."""

from __future__ import annotations

import httpx
from wechatpy import WeChatClient

from tests.support.sandbox import ACCOUNTS, errcode

MP = ACCOUNTS["mp"]


def login(http: httpx.Client, code: str, appid: str = MP.app_id, secret: str = MP.app_secret) -> dict[str, object]:
    params = {"appid": appid, "secret": secret, "js_code": code, "grant_type": "authorization_code"}
    result: dict[str, object] = http.get("/api/sns/jscode2session", params=params).json()
    return result


def test_code_works_once(http: httpx.Client) -> None:
    first = login(http, "sandbox:o_buyer:n1")
    assert first["openid"] == "o_buyer"
    assert isinstance(first["session_key"], str) and first["unionid"]
    assert "errcode" not in first  # like WeChat, success carries no errcode
    assert login(http, "sandbox:o_buyer:n1")["errcode"] == 40029
    second = login(http, "sandbox:o_buyer:n2")
    assert second["openid"] == "o_buyer" and second["unionid"] == first["unionid"]


def test_bad_codes_and_credentials(http: httpx.Client) -> None:
    assert login(http, "0a3bXk000abc")["errcode"] == 40029
    assert login(http, "sandbox::n")["errcode"] == 40029
    assert login(http, "sandbox:o_buyer:n3", secret="wrong")["errcode"] == 40125
    assert login(http, "sandbox:o_buyer:n3", appid="wx_nobody")["errcode"] == 40013
    oa = ACCOUNTS["oa"]
    assert login(http, "sandbox:o_buyer:n3", appid=oa.app_id, secret=oa.app_secret)["errcode"] == 40013
    assert login(http, "sandbox:o_buyer:n3")["openid"] == "o_buyer"  # failed tries did not burn the code


def test_login_makes_the_openid_known(http: httpx.Client, mp: WeChatClient) -> None:
    body = {"touser": "o_buyer", "msgtype": "text", "text": {"content": "hi"}}
    assert errcode(lambda: mp.post("message/custom/send", data=body)) == 40003
    assert mp.wxa.code_to_session("sandbox:o_buyer:n1")["openid"] == "o_buyer"
    assert errcode(lambda: mp.post("message/custom/send", data=body)) == 45015  # known, but no window
