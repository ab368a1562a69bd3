"""Servers of their own (each on an emptied database): the login token's lifetime, the admin API
with no key, and a burst of checkouts."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import select

from bot.customers.models import MpSession
from commerce.catalog import import_catalog, load_catalog_file
from storage.db import transaction
from tests.support import FIXTURES, LiveServer
from tests.support.mp_client import ADDRESS, Buyer, error_of, login_code


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


def test_a_burst_of_checkouts_all_get_pay_params(server_factory: Callable[..., LiveServer]) -> None:
    # Given a store whose sandbox (WeChat Pay too) is served by the same process, and 60 buyers with a cart
    server = server_factory()
    with transaction(server.services.factory) as session:
        import_catalog(session, load_catalog_file(FIXTURES / "catalog" / "mp_shop.yaml"))
    buyers = [Buyer(server, f"o_burst_{n}") for n in range(60)]
    for buyer in buyers:
        assert buyer.post("/mp/cart/items", json={"sku_id": "tee-basic-white-M"}).status_code == 200
    # When they check out at once, more of them than the server has request threads (40)
    with ThreadPoolExecutor(60) as pool:
        answers = list(pool.map(lambda b: b.post("/mp/checkout", json={"address": ADDRESS}), buyers))
    # Then every one gets its pay params: calls to WeChat Pay wait on threads of their own, so the
    # request threads stay free to answer them
    assert [a.status_code for a in answers] == [201] * 60
