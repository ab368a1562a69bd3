"""The mini-program side of the tests: logs in with sandbox codes and calls /mp/ with its token."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from tests.support import LiveServer

_nonces = itertools.count(1)


def login_code(openid: str) -> str:
    """A fresh code as wx.login() would give it; the sandbox accepts each one once."""
    return f"sandbox:{openid}:n{next(_nonces)}"


class Buyer:
    """One customer with a logged-in mini-program."""

    def __init__(self, server: LiveServer, openid: str) -> None:
        self.openid = openid
        self.http = server.client()
        answer = self.http.post("/mp/login", json={"code": login_code(openid)})
        assert answer.status_code == 200, answer.text
        self.token: str = answer.json()["token"]
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.post(path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.patch(path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.delete(path, **kwargs)


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The {"code", "message", "field"} of a refusal."""
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}, body
    detail: dict[str, Any] = body["error"]
    assert {"code", "message", "field"} <= set(detail), detail
    return detail
