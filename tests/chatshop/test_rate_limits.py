"""Request rate limits on POST /mp/login, POST /mp/checkout and POST /staff/api/login, over real HTTP, with the
counts in this process's memory and in Redis: per client address (X-Forwarded-For believed from the trusted
proxy only) and per customer or username; a refusal is 429 RATE_LIMITED with Retry-After and changes nothing."""

from __future__ import annotations

import itertools
import logging
import os
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis

from chatshop.logs import RedactSecrets, openid_mask
from commerce.catalog import import_catalog, load_catalog_file
from staff.accounts import add_staff
from staff.config import StaffConfig
from staff.roles import Role
from storage.db import make_session_factory, transaction
from tests.support import LiveServer, empty_tables, start_server
from tests.support.mp_client import ADDRESS, error_of, login_code
from tests.support.pay import Merchant
from tests.support.shop_fixtures import CATALOG, pay_settings
from web.rate_limits import MemoryCounter, RateLimits, RedisCounter, Rule

REDIS_URL = os.environ.get("CHATSHOP_TEST_REDIS_URL", "redis://localhost:6379/15")
PASSWORD = "correct horse battery"
LIMITS = {
    "CHATSHOP__RATE_LIMITS__ENABLED": "true",
    "CHATSHOP__RATE_LIMITS__MP_LOGIN_PER_ADDRESS": "3",
    "CHATSHOP__RATE_LIMITS__MP_LOGIN_PER_CUSTOMER": "2",
    "CHATSHOP__RATE_LIMITS__CHECKOUT_PER_ADDRESS": "5",
    "CHATSHOP__RATE_LIMITS__CHECKOUT_PER_CUSTOMER": "2",
    "CHATSHOP__RATE_LIMITS__STAFF_LOGIN_PER_ADDRESS": "3",
    "CHATSHOP__RATE_LIMITS__STAFF_LOGIN_PER_USERNAME": "2",
}
_addresses = (f"203.0.113.{n}" for n in itertools.count(1))


def redis_available() -> None:
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError:
        if os.environ.get("CI") == "true":
            raise  # CI has Redis: a missing one is a failure there, never a skip
        pytest.skip(f"no Redis at {REDIS_URL}")


@pytest.fixture(scope="module", params=["memory", "redis"])
def limited(request: pytest.FixtureRequest, database_url: str, merchant: Merchant,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A shop with small limits, counted in memory or in Redis (under a prefix of this run's own)."""
    overrides = dict(LIMITS)
    if request.param == "redis":
        redis_available()
        overrides |= {"CHATSHOP__REDIS__URL": REDIS_URL, "CHATSHOP__REDIS__KEY_PREFIX": f"test-{uuid.uuid4().hex}:"}
    empty_tables(database_url)
    var = tmp_path_factory.mktemp("limits")
    server = start_server(database_url, var, pay_settings(merchant, var / "keys") | overrides)
    with transaction(make_session_factory(server.services.engine)) as session:
        import_catalog(session, load_catalog_file(CATALOG))
    yield server
    server.stop()


def through_proxy(server: LiveServer) -> httpx.Client:
    """A client behind the trusted proxy (127.0.0.1), which names a client address of its own."""
    return httpx.Client(base_url=server.base_url, timeout=15, headers={"X-Forwarded-For": next(_addresses)})


def mp_login(http: httpx.Client, openid: str, **kwargs: str) -> httpx.Response:
    return http.post("/mp/login", json={"code": kwargs.get("code") or login_code(openid)})


def assert_rate_limited(answer: httpx.Response) -> int:
    assert answer.status_code == 429, answer.text
    error = error_of(answer)
    assert error["code"] == "RATE_LIMITED" and "秒后再试" in error["message"]
    retry_after = int(answer.headers["Retry-After"])
    assert 1 <= retry_after <= 60 and error["retry_after"] == retry_after
    return retry_after


def test_logins_from_one_address_are_limited_before_wechat_is_asked(limited: LiveServer) -> None:
    with through_proxy(limited) as http:
        # Given three logins of different customers from one address (the limit)
        for n in range(3):
            assert mp_login(http, f"o_rl_addr_{n}").status_code == 200
        # When a fourth comes within the window
        code = login_code("o_rl_addr_3")
        refused = mp_login(http, "o_rl_addr_3", code=code)
    # Then it is refused with when to try again
    assert_rate_limited(refused)
    # And WeChat was not asked: the single-use code still logs its customer in from another address
    with through_proxy(limited) as elsewhere:
        assert mp_login(elsewhere, "o_rl_addr_3", code=code).status_code == 200


def test_logins_of_one_customer_are_limited_from_any_address(limited: LiveServer,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.handler.addFilter(RedactSecrets())  # as the service's own handler does
    for _ in range(2):
        with through_proxy(limited) as http:
            assert mp_login(http, "o_rl_same").status_code == 200
    with caplog.at_level(logging.WARNING, logger="web.rate_limits"), through_proxy(limited) as http:
        refused = mp_login(http, "o_rl_same")
    assert_rate_limited(refused)
    # The refusal is logged once, naming the customer only masked
    assert f"rate limit mp_login: customer openid={openid_mask('o_rl_same')}" in caplog.text
    assert "o_rl_same" not in caplog.text


def test_checkouts_of_one_customer_are_limited_and_a_refused_one_places_nothing(limited: LiveServer) -> None:
    with through_proxy(limited) as http:
        token = mp_login(http, "o_rl_checkout").json()["token"]
        http.headers["Authorization"] = f"Bearer {token}"
        items = [{"sku_id": "tee-basic-white-M", "quantity": 1}]
        for _ in range(2):
            placed = http.post("/mp/checkout", json={"address": ADDRESS, "items": items})
            assert placed.status_code == 201, placed.text
        # When the customer checks out a third time within the window
        refused = http.post("/mp/checkout", json={"address": ADDRESS, "items": items})
        orders = http.get("/mp/orders").json()["orders"]
    # Then it is refused, and no third order was placed
    assert_rate_limited(refused)
    assert len(orders) == 2


def test_a_checkout_with_an_unknown_token_is_refused_as_such_not_counted(limited: LiveServer) -> None:
    with through_proxy(limited) as http:
        answers = [http.post("/mp/checkout", json={"address": ADDRESS}, headers={"Authorization": "Bearer nope"})
                   for _ in range(3)]
    assert [a.status_code for a in answers] == [401, 401, 401]


def test_staff_logins_are_limited_per_username_in_front_of_the_failed_login_throttle(limited: LiveServer) -> None:
    with transaction(limited.services.factory) as session:
        add_staff(session, config=StaffConfig(), username="rl_wang", password=PASSWORD, role=Role.AGENT,
                  display_name="Wang", groups=("presale",), max_chats=3)
    answers = []
    for _ in range(3):
        with through_proxy(limited) as http:
            answers.append(http.post("/staff/api/login", json={"username": "RL_Wang", "password": PASSWORD}))
    # Two logins pass (right password); the third within the window is refused, right password or not
    assert [a.status_code for a in answers[:2]] == [200, 200]
    assert_rate_limited(answers[2])


def test_x_forwarded_for_from_an_untrusted_peer_is_not_believed(limited: LiveServer) -> None:
    # Given a client at 127.0.0.2 (not a trusted proxy) that names a new address in every request
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=limited.base_url, timeout=15, transport=transport) as http:
        answers = [http.post("/staff/api/login", json={"username": f"rl_nobody{n}", "password": "x" * 10},
                             headers={"X-Forwarded-For": next(_addresses)}) for n in range(4)]
    # Then its requests count as its own address's: the fourth is over staff_login_per_address
    assert [a.status_code for a in answers[:3]] == [401, 401, 401]
    assert_rate_limited(answers[3])


def test_the_limited_operations_document_their_429(limited: LiveServer) -> None:
    with limited.client() as http:
        paths = http.get("/openapi.json").json()["paths"]
    for path in ("/mp/login", "/mp/checkout", "/staff/api/login"):
        documented = paths[path]["post"]["responses"]["429"]
        assert "RATE_LIMITED" in documented["description"]
        assert documented["headers"]["Retry-After"]["schema"] == {"type": "integer"}


def test_a_window_frees_when_it_ends() -> None:
    now = [1000.0]
    limits = RateLimits(MemoryCounter(clock=lambda: now[0]), {"op": Rule(per_address=2, per_subject=0, window_s=60)})
    limits.check("op", address="a")
    now[0] += 20
    limits.check("op", address="a")
    with pytest.raises(Exception, match="40 秒后再试"):
        limits.check("op", address="a")
    now[0] += 40  # the window opened by the first request has ended
    limits.check("op", address="a")


def test_requests_are_let_through_when_redis_does_not_answer(caplog: pytest.LogCaptureFixture) -> None:
    counter = RedisCounter("redis://127.0.0.1:1/0", prefix="unused:", timeout_s=0.2)
    limits = RateLimits(counter, {"op": Rule(per_address=1, per_subject=1)})
    with caplog.at_level(logging.WARNING, logger="web.rate_limits"):
        for _ in range(3):
            limits.check("op", address="a", subject="o_someone")
    assert caplog.text.count("rate limits not counted (requests let through)") == 1
