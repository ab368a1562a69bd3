"""Both processes share one access token: WeChat issues one when they first need it, and when it runs out one
process fetches the next while the other waits and uses it (each fetch retires the token before it, so a fetch
per process would keep invalidating the other's)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import delete

from tests.cluster.conftest import REDIS_URL, Cluster
from tests.support import LOCAL_TLS
from wechat.client import TOKEN_REUSE_S
from wechat.tokens import CacheEntry

SEND = "cgi-bin/message/custom/send"
TOKEN = "cgi-bin/token"
CUSTOMERS = 4  # half of them write to each process; the agent answers each through the process it wrote to


def forget_stored_token(cluster: Cluster) -> None:
    """A deployment's first minutes: no token stored anywhere yet (and each process's copy gone stale)."""
    if cluster.redis_prefix is None:
        with cluster.engine.begin() as connection:
            connection.execute(delete(CacheEntry).where(CacheEntry.key.like("wechat:%")))
    else:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"{cluster.redis_prefix}wechat:*"):
            client.delete(key)
    time.sleep(TOKEN_REUSE_S + 0.2)


def reply_to_all(agents: list[httpx.Client], handoffs: list[int], text: str) -> None:
    """The agent answers every conversation at once, each through the process its customer wrote to."""
    def reply(n: int) -> httpx.Response:
        return agents[n % 2].post(f"/staff/api/conversations/{handoffs[n]}/reply", json={"text": text})

    with ThreadPoolExecutor(len(handoffs)) as pool:
        answers = list(pool.map(reply, range(len(handoffs))))
    assert all(answer.status_code == 201 for answer in answers), [answer.text for answer in answers]


def tokens_used(sends: list[dict[str, Any]]) -> set[str]:
    return {call["query"]["access_token"] for call in sends if call["errcode"] == 0}


def test_both_processes_use_one_token_and_refresh_it_once_when_it_runs_out(cluster: Cluster) -> None:
    openids = [f"o_token_{n}" for n in range(CUSTOMERS)]
    agents, mine = cluster.agent_serving("tokens", openids)
    handoffs = [mine[openid] for openid in openids]

    # Given no token stored yet, when both processes need one at the same moment
    forget_stored_token(cluster)
    start = cluster.last_call()
    reply_to_all(agents, handoffs, "您好，我来帮您看看")
    # Then WeChat issued one, and every message of both processes went out with it
    assert len(cluster.calls(TOKEN, after=start)) == 1
    first = cluster.calls(SEND, after=start)
    assert len(first) == CUSTOMERS and len(tokens_used(first)) == 1, first

    # Given that token expired, when both processes meet 42001 at the same moment
    expired = httpx.post(f"{cluster.sandbox_url}/control/expire-tokens", json={"account": "oa"},
                         verify=LOCAL_TLS, timeout=10)
    assert expired.json()["expired"] >= 1
    start = cluster.last_call()
    reply_to_all(agents, handoffs, "已经帮您查到了")
    # Then one of them fetched a new one, and the other used it
    assert len(cluster.calls(TOKEN, after=start)) == 1
    second = cluster.calls(SEND, after=start)
    assert len([call for call in second if call["errcode"] == 0]) == CUSTOMERS, second
    assert {call["errcode"] for call in second} <= {0, 42001}
    assert len(tokens_used(second)) == 1 and tokens_used(second) != tokens_used(first)
