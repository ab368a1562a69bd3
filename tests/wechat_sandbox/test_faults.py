"""/control/faults: the next n calls to an API answer an errcode, after the token check."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from wechatpy import WeChatClient

from tests.support.sandbox import api, chat, errcode

USER = "o_fault"


def fault(http: httpx.Client, api_path: str, code: int, times: int = 1, account: str | None = None) -> None:
    body: dict[str, object] = {"api": api_path, "errcode": code, "times": times}
    if account:
        body["account"] = account
    http.post("/control/faults", json=body).raise_for_status()


def test_fault_answers_n_times_then_clears(http: httpx.Client, oa: WeChatClient) -> None:
    chat(http, "oa", USER)
    fault(http, "cgi-bin/message/custom/send", 45009, times=2)
    assert errcode(lambda: oa.message.send_text(USER, "1")) == 45009
    assert errcode(lambda: oa.message.send_text(USER, "2")) == 45009
    assert errcode(lambda: oa.message.send_text(USER, "3")) == 0


def test_fault_has_no_effect_on_quota_or_transcript(http: httpx.Client, oa: WeChatClient) -> None:
    chat(http, "oa", USER, type="event", event="CLICK", event_key="K")  # 3 sends allowed
    fault(http, "message/custom/send", -1, times=3)
    for _ in range(3):
        assert errcode(lambda: oa.message.send_text(USER, "x")) == -1
    for _ in range(3):
        assert errcode(lambda: oa.message.send_text(USER, "y")) == 0
    record = http.get("/control/calls", params={"api": "message/custom/send"}).json()
    assert [c["errcode"] for c in record] == [-1, -1, -1, 0, 0, 0]
    assert "system error" in record[0]["response"]["errmsg"]


def test_token_check_comes_first(http: httpx.Client, token: Callable[[str], str]) -> None:
    fault(http, "cgi-bin/tags/get", 45009)
    assert api(http, "cgi-bin/tags/get", "bad-token")["errcode"] == 40001  # fault not used up
    assert api(http, "cgi-bin/tags/get", token("oa"))["errcode"] == 45009
    assert api(http, "cgi-bin/tags/get", token("oa"))["errcode"] == 0


def test_fault_for_one_account_only(http: httpx.Client, token: Callable[[str], str]) -> None:
    fault(http, "cgi-bin/message/custom/typing", 45009, account="mp")
    typing = {"touser": USER, "command": "Typing"}
    assert api(http, "cgi-bin/message/custom/typing", token("oa"), typing)["errcode"] == 40003
    assert api(http, "cgi-bin/message/custom/typing", token("mp"), typing)["errcode"] == 45009


def test_fault_on_the_token_api(http: httpx.Client, wechat: Callable[..., WeChatClient]) -> None:
    fault(http, "cgi-bin/token", -1)
    client = wechat("oa")
    assert errcode(client.fetch_access_token) == -1
    assert client.fetch_access_token()["expires_in"] == 7200
