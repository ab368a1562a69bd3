"""What every API group shares: wechatpy's client underneath, and the call that maps its failures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
Call = Callable[[Callable[[], Any]], Any]


class ApiGroup:
    def __init__(self, client: Any, call: Call) -> None:
        self._client = client  # wechatpy's WeChatClient, relocated to the configured base URL
        self._call = call

    def _post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST cgi-bin/<endpoint> with a JSON body; WeChat's JSON answer (errcode 0 checked)."""
        result: dict[str, Any] = self._call(lambda: self._client.post(endpoint, data=body))
        return result

    def _get(self, endpoint: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._call(lambda: self._client.get(endpoint, params=params or {}))
        return result
