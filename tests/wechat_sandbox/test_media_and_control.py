"""media/upload, the call record, reset, unknown APIs, and the page."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import httpx
from wechatpy import WeChatClient

from tests.support.sandbox import ServerThread, api, chat, errcode, free_port
from wechat_sandbox import SandboxConfig, create_sandbox_app


def test_upload_types_and_limits(http: httpx.Client, oa: WeChatClient, token: Callable[[str], str]) -> None:
    uploaded = oa.media.upload("image", ("a.png", io.BytesIO(b"\x89PNG"), "image/png"))
    assert uploaded["type"] == "image" and uploaded["media_id"] and isinstance(uploaded["created_at"], int)
    assert errcode(lambda: oa.media.upload("gif", ("a.gif", io.BytesIO(b"GIF8"), "image/gif"))) == 40004
    big = io.BytesIO(b"\0" * (10 * 1024 * 1024 + 1))
    assert errcode(lambda: oa.media.upload("image", ("big.png", big, "image/png"))) == 40009
    assert errcode(lambda: oa.media.upload("thumb", ("t.jpg", io.BytesIO(b"\0" * 65537), "image/jpeg"))) == 40012
    no_file = http.post("/api/cgi-bin/media/upload", params={"type": "image", "access_token": token("oa")}, json={})
    assert no_file.json()["errcode"] == 41005


def test_call_record_filters_and_hides_secrets(http: httpx.Client, oa: WeChatClient, mp: WeChatClient) -> None:
    chat(http, "oa", "o_rec")
    oa.message.send_text("o_rec", "hi")
    mp.wxa.code_to_session("sandbox:o_rec:1")
    everything = http.get("/control/calls").json()
    assert {c["api"] for c in everything} == {"cgi-bin/token", "cgi-bin/message/custom/send", "sns/jscode2session"}
    assert all(c["query"].get("secret") in (None, "***") for c in everything)
    sends = http.get("/control/calls", params={"api": "custom/send", "account": "oa"}).json()
    assert len(sends) == 1
    assert sends[0]["body"] == {"touser": "o_rec", "msgtype": "text", "text": {"content": "hi"}}
    assert sends[0]["time"].endswith("Z")
    assert http.get("/control/calls", params={"api": "custom/send", "account": "mp"}).json() == []


def test_reset_clears_everything(http: httpx.Client, oa: WeChatClient, token: Callable[[str], str]) -> None:
    old = token("oa")
    chat(http, "oa", "o_reset")
    oa.tag.create("x")
    http.post("/control/reset")
    assert http.get("/control/calls").json() == []
    assert http.get("/chat/transcript", params={"account": "oa", "openid": "o_reset"}).json() == []
    assert api(http, "cgi-bin/tags/get", old)["errcode"] == 40001
    assert oa.tag.get() == []


def test_unknown_api_is_404_48001(http: httpx.Client) -> None:
    response = http.post("/api/cgi-bin/no/such/thing", json={})
    assert response.status_code == 404 and response.json()["errcode"] == 48001


def test_menu_and_user_info(http: httpx.Client, oa: WeChatClient) -> None:
    menu = {"button": [{"type": "click", "name": "我的订单", "key": "MY_ORDERS"}]}
    oa.menu.create(menu)
    assert oa.menu.get()["menu"] == menu
    assert http.get("/control/menu", params={"account": "oa"}).json()["menu"] == menu
    assert errcode(lambda: oa.menu.create({"button": []})) == 40016
    chat(http, "oa", "o_info", type="event", event="subscribe")
    assert oa.user.get("o_info")["subscribe"] == 1
    chat(http, "oa", "o_info", type="event", event="unsubscribe")
    assert oa.user.get("o_info")["subscribe"] == 0


def test_page_is_self_contained(http: httpx.Client) -> None:
    page = http.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    html = page.text
    assert "/chat/send" in html and "/chat/transcript" in html and "location.pathname" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # nothing from a CDN


def test_works_mounted_under_sandbox(sandbox_config: SandboxConfig) -> None:
    from fastapi import FastAPI

    parent = FastAPI()
    parent.mount("/sandbox", create_sandbox_app(sandbox_config))
    server = ServerThread(parent, free_port())
    try:
        with httpx.Client(base_url=server.base_url, follow_redirects=True) as http:
            assert "location.pathname" in http.get("/sandbox/").text
            assert http.get("/sandbox").status_code == 200
            spec = sandbox_config.accounts[0]
            params = {"grant_type": "client_credential", "appid": spec.app_id, "secret": spec.app_secret}
            assert "access_token" in http.get("/sandbox/api/cgi-bin/token", params=params).json()
            assert len(http.get("/sandbox/control/accounts").json()) == len(sandbox_config.accounts)
    finally:
        server.stop()
