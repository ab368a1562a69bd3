"""One base URL moves every WeChat API the wrapper uses, the mini-program's included."""

from __future__ import annotations

import pytest

from tests.support import LiveServer, free_port
from tests.support.sandbox_client import SandboxCustomer
from wechat.client import WeChatClient
from wechat.errors import TRANSPORT_ERRCODE, WeChatApiError
from wechat.tokens import DatabaseTokenStore


def mini_program_api(server: LiveServer, base_url: str | None = None) -> WeChatClient:
    account = server.settings.miniprogram
    return WeChatClient(app_id=account.app_id, app_secret=account.app_secret.get_secret_value(),
                        base_url=base_url or server.settings.api_base_url,
                        token_store=DatabaseTokenStore(server.services.factory))


def test_jscode2session_goes_to_the_configured_base_and_a_code_works_once(server: LiveServer) -> None:
    api = mini_program_api(server)
    session = api.login.code_to_session("sandbox:o_mp_buyer:n1")
    assert session.openid == "o_mp_buyer"
    assert session.session_key
    with pytest.raises(WeChatApiError) as reused:
        api.login.code_to_session("sandbox:o_mp_buyer:n1")
    assert reused.value.errcode == 40029
    calls = SandboxCustomer(server, "o_mp_buyer", account="mp").calls("sns/jscode2session")
    assert [call["errcode"] for call in calls] == [0, 40029]


def test_subscribe_message_without_consent_is_refused_with_43101(server: LiveServer) -> None:
    api = mini_program_api(server)
    api.login.code_to_session("sandbox:o_mp_sub:n1")  # makes the customer known to the mini-program
    data = {"character_string1": {"value": "SO1"}, "amount2": {"value": "¥99.00"}, "thing3": {"value": "连衣裙"},
            "time4": {"value": "2024-05-01 12:00"}}
    payload = {"touser": "o_mp_sub", "template_id": "sbx_mp_order_paid", "data": data}
    with pytest.raises(WeChatApiError) as refused:
        api.subscribe.send(payload, mini_program=True)
    assert refused.value.errcode == 43101


def test_an_unreachable_base_url_is_a_transport_error_safe_to_retry(server: LiveServer) -> None:
    api = mini_program_api(server, base_url=f"http://127.0.0.1:{free_port()}/")
    with pytest.raises(WeChatApiError) as failed:
        api.access_token()
    assert failed.value.errcode == TRANSPORT_ERRCODE
