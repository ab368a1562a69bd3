"""Servers started with settings of their own (each on an emptied database): the login token's
lifetime, and the admin API with no key."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from commerce.db import transaction
from miniprogram.models import MpSession
from tests.miniprogram.mp_client import error_of, login_code
from tests.support import LiveServer


def test_the_token_lifetime_is_a_setting(server_factory: Callable[..., LiveServer]) -> None:
    # Given a store whose logins last a minute
    server = server_factory({"CHATSHOP__MP_API__SESSION_TTL_S": "60"})
    # When a customer logs in
    with server.client() as http:
        body = http.post("/mp/login", json={"code": login_code("o_alice")}).json()
    # Then the token expires a minute after it was issued, and the answer says when
    with transaction(server.services.factory) as session:
        row = session.scalars(select(MpSession)).one()
    assert row.expires_at - row.created_at == timedelta(seconds=60)
    assert body["expires_at"].startswith(row.expires_at.strftime("%Y-%m-%dT%H:%M:%S"))


def test_without_a_key_the_admin_api_is_disabled(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory({"CHATSHOP__ADMIN__API_KEY": ""})
    with server.client() as http:
        answer = http.get("/admin/orders", headers={"Authorization": "Bearer anything"})
        blank = http.post("/admin/skus/x/stock-adjustments", json={"delta": 1}, headers={"X-Api-Key": ""})
    assert answer.status_code == 503 and error_of(answer)["code"] == "ADMIN_DISABLED"
    assert "admin API disabled" in error_of(answer)["message"]
    assert blank.status_code == 503
