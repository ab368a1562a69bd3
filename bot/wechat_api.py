"""A typed wrapper over wechatpy whose one base URL moves every API it uses.

wechatpy hard-codes the token URL and gives some API groups (wxa, customservice) their own
absolute base; `_RelocatedClient` rewrites all of them, so one setting points the whole client
at WeChat or at the sandbox.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from urllib3.exceptions import NewConnectionError
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session import SessionStorage

from bot.errors import WeChatApiError

log = logging.getLogger(__name__)

WECHAT_HOST_BASE = "https://api.weixin.qq.com/"
# Our own codes for transport failures, which WeChat never sends:
TRANSPORT_ERRCODE = -2  # the request never left (connection refused or not established): safe to resend
IN_DOUBT_ERRCODE = -3  # the request may have reached WeChat (timeout mid-call, HTTP error): do not resend
HTTP_POOL_SIZE = 32  # kept connections to WeChat; more than the threads that call it at once


class _RelocatedClient(WeChatClient):  # type: ignore[misc]
    def __init__(self, app_id: str, secret: str, base_url: str, session: SessionStorage, timeout: float):
        super().__init__(app_id, secret, session=session, timeout=timeout, auto_retry=True)
        # requests keeps 10 connections per host by default; the bot's, the messenger's and the
        # mini-program API's threads call WeChat at once, and a full pool drops connections.
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=HTTP_POOL_SIZE)
        self._http.mount("http://", adapter)
        self._http.mount("https://", adapter)
        self._base_url = base_url
        self.API_BASE_URL = base_url + "cgi-bin/"

    def _relocate(self, url: str) -> str:
        return self._base_url + url.removeprefix(WECHAT_HOST_BASE) if url.startswith(WECHAT_HOST_BASE) else url

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        if "api_base_url" in kwargs:
            kwargs["api_base_url"] = self._relocate(kwargs["api_base_url"])
        return super()._request(method, self._relocate(url_or_endpoint), **kwargs)

    def fetch_access_token(self) -> Any:
        return self._fetch_access_token(
            url=self._base_url + "cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


class WeChatApi:
    """The calls chatshop makes, each raising `WeChatApiError` with WeChat's errcode."""

    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str,
        base_url: str,
        token_store: SessionStorage,
        timeout_s: float = 5.0,
    ) -> None:
        self.app_id = app_id
        self._client = _RelocatedClient(app_id, app_secret, base_url, token_store, timeout_s)

    def send_custom_message(self, payload: dict[str, Any]) -> None:
        self._call(lambda: self._client.post("message/custom/send", data=payload))

    def send_typing(self, openid: str, command: str) -> None:
        body = {"touser": openid, "command": command}
        self._call(lambda: self._client.post("message/custom/typing", data=body))

    def send_subscribe_message(self, payload: dict[str, Any], *, mini_program: bool) -> None:
        endpoint = "message/subscribe/send" if mini_program else "message/subscribe/bizsend"
        self._call(lambda: self._client.post(endpoint, data=payload))

    def code_to_session(self, js_code: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(lambda: self._client.wxa.code_to_session(js_code))
        return result

    def access_token(self) -> str:
        token: str = self._call(lambda: self._client.access_token)
        return token

    def _call(self, call: Any) -> Any:
        try:
            return call()
        except WeChatClientException as exc:
            if isinstance(exc.errcode, int):
                raise WeChatApiError(exc.errcode, str(exc.errmsg)) from None
            raise WeChatApiError(IN_DOUBT_ERRCODE, "HTTP error from WeChat") from None
        except requests.RequestException as exc:
            raise WeChatApiError(_transport_errcode(exc), type(exc).__name__) from None


def _transport_errcode(exc: requests.RequestException) -> int:
    if isinstance(exc, requests.ConnectTimeout):
        return TRANSPORT_ERRCODE
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(reason, NewConnectionError):
        return TRANSPORT_ERRCODE
    return IN_DOUBT_ERRCODE

