"""The API groups of `wechat.client` against the sandbox over HTTP: media, user tags, customer-service
messages and typing, subscribe messages; each failure is a WeChatApiError carrying WeChat's errcode."""

from __future__ import annotations

import httpx
import pytest

from tests.support import LiveServer
from tests.support.sandbox_client import SandboxCustomer
from wechat.client import WeChatClient
from wechat.customer_service import TypingCommand
from wechat.errors import WeChatApiError
from wechat.media import MediaType
from wechat.tags import MAX_OPENIDS_PER_CALL
from wechat.tokens import DatabaseTokenStore

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def client_for(server: LiveServer, kind: str = "oa") -> WeChatClient:
    account = server.settings.wechat if kind == "oa" else server.settings.miniprogram
    return WeChatClient(app_id=account.app_id, app_secret=account.app_secret.get_secret_value(),
                        base_url=server.settings.api_base_url, token_store=DatabaseTokenStore(server.services.factory))


def known_followers(server: LiveServer, count: int, prefix: str) -> list[str]:
    openids = [f"{prefix}{n}" for n in range(count)]
    with httpx.Client(base_url=server.base_url + "/sandbox", timeout=20) as http:
        for openid in openids:  # a payment makes the follower known to WeChat without a chat
            http.post("/control/payment", json={"account": "oa", "openid": openid}).raise_for_status()
    return openids


def test_an_uploaded_thumb_is_stored_by_wechat_under_the_id_it_returns(server: LiveServer) -> None:
    oa = client_for(server)
    media_id = oa.media.upload(MediaType.THUMB, "card.jpg", PNG)
    calls = SandboxCustomer(server, "o_media").calls("cgi-bin/media/upload")
    assert calls[-1]["body"] == {"type": "thumb", "filename": "card.jpg", "bytes": len(PNG)}
    with httpx.Client(base_url=server.base_url + "/sandbox/api/", timeout=20) as http:
        stored = http.get("cgi-bin/media/get", params={"access_token": oa.access_token(), "media_id": media_id})
    assert stored.content == PNG


def test_a_media_type_wechat_does_not_know_is_its_errcode_40004(server: LiveServer) -> None:
    with pytest.raises(WeChatApiError) as refused:
        client_for(server).media.upload("gif", "a.gif", b"GIF89a")  # type: ignore[arg-type]
    assert refused.value.errcode == 40004 and refused.value.details() == {"wechat_errcode": 40004}


def test_tags_are_created_listed_and_given_in_batches_of_fifty(server: LiveServer) -> None:
    oa = client_for(server)
    followers = known_followers(server, MAX_OPENIDS_PER_CALL + 5, "o_tagged")
    tag = oa.tags.create("意向客户-连衣裙")
    oa.tags.tag_users(tag.id, followers)  # 55 openids: two calls, as WeChat takes at most 50 a call
    assert [t.count for t in oa.tags.all() if t.id == tag.id] == [len(followers)]
    assert [len(c["body"]["openid_list"]) for c in SandboxCustomer(server, "x").calls("batchtagging")] == [50, 5]
    assert oa.tags.tags_of_user(followers[0]) == [tag.id]
    oa.tags.untag_users(tag.id, followers[:3])
    assert oa.tags.tags_of_user(followers[0]) == [] and oa.tags.tags_of_user(followers[3]) == [tag.id]


def test_a_tag_name_over_30_bytes_is_refused_with_45158(server: LiveServer) -> None:
    with pytest.raises(WeChatApiError) as refused:
        client_for(server).tags.create("长" * 11)  # 33 bytes of UTF-8
    assert refused.value.errcode == 45158


def test_customer_service_text_and_typing_reach_the_customer_inside_the_window(server: LiveServer) -> None:
    customer = SandboxCustomer(server, "o_cs_direct")
    customer.says("在吗")  # opens the 48-hour window
    oa = client_for(server)
    oa.customer_service.typing(customer.openid, TypingCommand.TYPING)
    with pytest.raises(WeChatApiError) as refused:
        oa.customer_service.typing(customer.openid, TypingCommand.TYPING)  # still showing
    assert refused.value.errcode == 45081
    oa.customer_service.send({"touser": customer.openid, "msgtype": "text", "text": {"content": "在的"}})
    assert [entry["payload"] for entry in customer.received_via_api()][-1] == {"content": "在的"}


def test_customer_service_outside_the_window_is_refused_with_45015(server: LiveServer) -> None:
    known_followers(server, 1, "o_cs_closed")
    customer = SandboxCustomer(server, "o_cs_closed0")
    customer.advance_clock(49 * 3600)  # the payment's 48-hour window has closed
    with pytest.raises(WeChatApiError) as refused:
        client_for(server).customer_service.send(
            {"touser": customer.openid, "msgtype": "text", "text": {"content": "迟到的消息"}})
    assert refused.value.errcode == 45015


def test_an_official_account_subscribe_message_goes_to_bizsend(server: LiveServer) -> None:
    known_followers(server, 1, "o_biz")
    data = {"character_string1": {"value": "SO1"}, "thing2": {"value": "顺丰速运"},
            "character_string3": {"value": "SF123"}, "thing4": {"value": "连衣裙"}}
    payload = {"touser": "o_biz0", "template_id": "sbx_oa_order_shipped", "data": data}
    with pytest.raises(WeChatApiError) as refused:
        client_for(server).subscribe.send(payload, mini_program=False)
    assert refused.value.errcode == 43101  # no consent given
    assert SandboxCustomer(server, "o_biz0").calls("cgi-bin/message/subscribe/bizsend")


def test_an_upload_after_the_access_token_expired_still_carries_the_file(server: LiveServer) -> None:
    # Given a client holding a token WeChat has since expired
    oa = client_for(server)
    oa.access_token()
    SandboxCustomer(server, "o_media_token").expire_tokens()
    # When it uploads, WeChat answers 42001, the client takes a new token and sends the upload again
    media_id = oa.media.upload(MediaType.THUMB, "again.jpg", PNG)
    # Then the second request carried the file too (a spent stream would be 41005, media data missing)
    uploads = SandboxCustomer(server, "o_media_token").calls("cgi-bin/media/upload", any_account=True)
    assert [call["errcode"] for call in uploads][-2:] == [42001, 0]  # 42001: the token expired
    with httpx.Client(base_url=server.base_url + "/sandbox/api/", timeout=20) as http:
        stored = http.get("cgi-bin/media/get", params={"access_token": oa.access_token(), "media_id": media_id})
    assert stored.content == PNG
