"""Drives the sandbox over HTTP as a WeChat customer does, and reads what WeChat recorded."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.support import LOCAL_TLS, LiveServer


class SandboxCustomer:
    def __init__(self, server: LiveServer | str, openid: str, account: str = "oa") -> None:
        base = server if isinstance(server, str) else server.base_url + "/sandbox"
        self._http = httpx.Client(base_url=base, verify=LOCAL_TLS, timeout=20)
        self.openid = openid
        self.account = account

    def says(self, content: str, **extra: Any) -> dict[str, Any]:
        return self._send({"type": "text", "content": content, **extra})

    def taps(self, item_id: str, content: str) -> dict[str, Any]:
        return self._send({"type": "text", "content": content, "bizmsgmenuid": item_id})

    def shares_page(self, title: str, pagepath: str, **extra: Any) -> dict[str, Any]:
        """A mini-program page sent into customer service (mini-program customers only)."""
        return self._send({"type": "miniprogrampage", "title": title, "pagepath": pagepath, **extra})

    def event(self, event: str, **extra: Any) -> dict[str, Any]:
        return self._send({"type": "event", "event": event, **extra})

    def _send(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self._http.post("/chat/send", json={"account": self.account, "openid": self.openid, **body})
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def transcript(self) -> list[dict[str, Any]]:
        response = self._http.get("/chat/transcript", params={"account": self.account, "openid": self.openid})
        entries: list[dict[str, Any]] = response.json()
        return entries

    def received_via_api(self) -> list[dict[str, Any]]:
        return [entry for entry in self.transcript() if entry["via"] == "custom_send"]

    def wait_for_api_messages(self, count: int, timeout_s: float = 10) -> list[dict[str, Any]]:
        return wait_until(lambda: self.received_via_api(), lambda got: len(got) >= count, timeout_s)

    def calls(self, api: str, *, any_account: bool = False) -> list[dict[str, Any]]:
        # A call with a bad token cannot be tied to an account, so the sandbox records it without one.
        params = {"api": api} if any_account else {"api": api, "account": self.account}
        response = self._http.get("/control/calls", params=params)
        calls: list[dict[str, Any]] = response.json()
        return calls

    def inject_fault(self, api: str, errcode: int, times: int) -> None:
        body = {"api": api, "errcode": errcode, "times": times, "account": self.account}
        assert self._http.post("/control/faults", json=body).status_code == 200

    def advance_clock(self, seconds: float) -> None:
        """Move WeChat's clock (windows, tokens) forward without sleeping."""
        assert self._http.post("/control/advance-clock", json={"seconds": seconds}).status_code == 200

    def expire_tokens(self) -> None:
        assert self._http.post("/control/expire-tokens", json={"account": self.account}).status_code == 200


def wait_until(read: Callable[[], Any], ready: Callable[[Any], bool], timeout_s: float = 10) -> Any:
    """Poll until `ready(read())`; return the last value (the caller asserts on it)."""
    deadline = time.monotonic() + timeout_s
    value = read()
    while not ready(value) and time.monotonic() < deadline:
        time.sleep(0.05)
        value = read()
    return value
