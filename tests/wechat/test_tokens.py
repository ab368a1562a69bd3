"""Access tokens are fetched once and shared by every process (database or Redis)."""

from __future__ import annotations

import os
import threading
import uuid

import pytest
import redis
from wechatpy.session import SessionStorage

from bot.outgoing import Text, to_custom_send
from tests.support import LiveServer
from tests.support.sandbox_client import SandboxCustomer
from wechat.client import WeChatClient
from wechat.tokens import DatabaseTokenStore, RedisTokenStore

REDIS_URL = os.environ.get("CHATSHOP_TEST_REDIS_URL", "redis://localhost:6379/15")


def api_for(server: LiveServer, store: SessionStorage) -> WeChatClient:
    account = server.settings.wechat
    return WeChatClient(app_id=account.app_id, app_secret=account.app_secret.get_secret_value(),
                        base_url=server.settings.api_base_url, token_store=store)


def redis_store(prefix: str) -> RedisTokenStore:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError:
        if os.environ.get("CI"):
            raise  # CI has Redis: a missing one is a failure there, never a skip
        pytest.skip(f"no Redis at {REDIS_URL}")
    return RedisTokenStore(REDIS_URL, prefix=prefix)


@pytest.mark.parametrize("backend", ["database", "redis"])
def test_two_processes_share_one_access_token(server: LiveServer, backend: str) -> None:
    # Given two independent clients (as two processes would build them) over one shared store
    prefix = f"chatshop-test:{uuid.uuid4().hex}:"

    def store() -> SessionStorage:
        return DatabaseTokenStore(server.services.factory) if backend == "database" else redis_store(prefix)

    first, second = api_for(server, store()), api_for(server, store())
    customer = SandboxCustomer(server, f"o_shared_{backend}")
    customer.says("在吗")
    # When both send
    first.customer_service.send(to_custom_send(Text("一"), customer.openid))
    second.customer_service.send(to_custom_send(Text("二"), customer.openid))
    # Then WeChat issued one token, not one per process
    assert len(customer.calls("cgi-bin/token")) == 1
    assert first.access_token() == second.access_token()


def test_a_token_retired_by_another_fetch_is_refreshed_on_40001(server: LiveServer) -> None:
    # Given two clients that do not share a store, so the second fetch retires the first's token
    from wechatpy.session.memorystorage import MemoryStorage

    first, second = api_for(server, MemoryStorage()), api_for(server, MemoryStorage())
    customer = SandboxCustomer(server, "o_retired")
    customer.says("在吗")
    first.customer_service.send(to_custom_send(Text("一"), customer.openid))
    second.customer_service.send(to_custom_send(Text("二"), customer.openid))
    # When WeChat's 5-minute grace for the old token has passed
    customer.advance_clock(301)
    # Then the first client's call meets 40001, fetches a new token and goes through
    first.customer_service.send(to_custom_send(Text("三"), customer.openid))
    codes = [call["errcode"] for call in customer.calls("cgi-bin/message/custom/send", any_account=True)]
    assert codes == [0, 0, 40001, 0]
    assert len(customer.calls("cgi-bin/token")) == 3


THREADS = 24


@pytest.mark.parametrize("attempt", range(3))
def test_processes_storing_a_new_token_at_once_all_succeed(server: LiveServer, attempt: int) -> None:
    # Given many processes that fetched a token at the same moment, none cached yet
    store = DatabaseTokenStore(server.services.factory, prefix=f"race-{attempt}-{uuid.uuid4().hex}:")
    barrier = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def store_token(n: int) -> None:
        barrier.wait()
        try:
            store.set("access_token", f"token-{n}", ttl=7200)
        except BaseException as exc:  # collected: the test asserts there are none
            failures.append(exc)

    threads = [threading.Thread(target=store_token, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every write succeeds and one of the tokens is what every process reads
    assert failures == []
    assert store.get("access_token") in {f"token-{n}" for n in range(THREADS)}
