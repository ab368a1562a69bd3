"""POST /mp/login and bearer tokens: single-use WeChat codes, hashed tokens, expiry, revocation."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.customers.models import MpSession
from storage.clock import utcnow
from storage.db import transaction
from tests.support import LiveServer
from tests.support.mp_client import Buyer, error_of, login_code


def test_login_issues_a_token_and_keeps_the_session_key(shop: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # Given a code wx.login() gave the mini-program
    with shop.client() as http:
        # When the mini-program logs in with it
        answer = http.post("/mp/login", json={"code": login_code("o_login_alice")})
        # Then it gets a token for that customer, and nothing of WeChat's session
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["openid"] == "o_login_alice" and set(body) == {"token", "openid", "expires_at"}
        token = body["token"]
        me = http.get("/mp/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json() == {"openid": "o_login_alice"}
    # And the server stored only the token's hash, with WeChat's session_key, which no log line shows
    with transaction(shop.services.factory) as session:
        row = session.scalars(select(MpSession).where(MpSession.openid == "o_login_alice")).one()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() != token
    assert row.session_key and row.openid == "o_login_alice"
    assert row.session_key not in caplog.text and token not in caplog.text


def test_a_code_works_once(shop: LiveServer) -> None:
    code = login_code("o_alice")
    with shop.client() as http:
        assert http.post("/mp/login", json={"code": code}).status_code == 200
        # When the same code is used again
        again = http.post("/mp/login", json={"code": code})
    # Then WeChat's refusal is named
    assert again.status_code == 401
    error = error_of(again)
    assert error["code"] == "LOGIN_REFUSED" and error["field"] == "code"
    assert error["wechat_errcode"] == 40029 and "40029" in error["message"]


@pytest.mark.parametrize("code", ["0a3bXk000abc", "sandbox::n1", "sandbox:o_alice"])
def test_a_code_wechat_never_issued_is_refused(shop: LiveServer, code: str) -> None:
    with shop.client() as http:
        answer = http.post("/mp/login", json={"code": code})
    assert answer.status_code == 401 and error_of(answer)["wechat_errcode"] == 40029


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "code"), ({"code": ""}, "code"), ({"code": 42}, "code"), ({"code": "x", "extra": 1}, "extra")],
)
def test_login_body_is_validated(shop: LiveServer, body: dict[str, object], field: str) -> None:
    with shop.client() as http:
        answer = http.post("/mp/login", json=body)
    assert answer.status_code == 422
    error = error_of(answer)
    assert error["code"] == "INVALID_INPUT" and error["field"] == field


def test_a_body_that_is_not_json_is_refused(shop: LiveServer) -> None:
    with shop.client() as http:
        answer = http.post("/mp/login", content=b"{not json", headers={"Content-Type": "application/json"})
    assert answer.status_code == 422 and error_of(answer)["field"] == "body"


def test_an_oversized_body_is_refused_unread(shop: LiveServer) -> None:
    with shop.client() as http:
        answer = http.post("/mp/login", json={"code": "x" * 20000})
    assert answer.status_code == 413 and error_of(answer)["code"] == "BODY_TOO_LARGE"


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer mp_not-a-token", "Basic bzphbGljZTpwdw==", "mp_no-scheme"]
)
def test_missing_or_unknown_tokens_are_refused(shop: LiveServer, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    with shop.client() as http:
        answer = http.get("/mp/me", headers=headers)
    assert answer.status_code == 401 and error_of(answer)["code"] == "UNAUTHORIZED"


def test_an_expired_token_is_refused(shop: LiveServer) -> None:
    # Given a customer whose login is past its expiry
    buyer = Buyer(shop, "o_login_expired")
    assert buyer.get("/mp/me").status_code == 200
    with transaction(shop.services.factory) as session:
        past = utcnow() - timedelta(seconds=1)
        session.execute(update(MpSession).where(MpSession.openid == "o_login_expired").values(expires_at=past))
    # When the token is used, then it is refused
    answer = buyer.get("/mp/me")
    assert answer.status_code == 401 and "expired" in error_of(answer)["message"]


def test_logout_revokes_only_that_token(shop: LiveServer) -> None:
    phone, tablet = Buyer(shop, "o_login_two_devices"), Buyer(shop, "o_login_two_devices")
    # When the phone logs out
    assert phone.post("/mp/logout").status_code == 204
    # Then its token is dead and the tablet's still works
    answer = phone.get("/mp/me")
    assert answer.status_code == 401 and "revoked" in error_of(answer)["message"]
    assert tablet.get("/mp/me").status_code == 200
