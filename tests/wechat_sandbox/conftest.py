"""Live sandbox fixtures: the sandbox and a small webhook receiver, each under uvicorn on a free port.

Both servers are started once per session; every test starts from a reset sandbox and an empty
receiver. The receiver checks signatures and decrypts with werobot (the implementation the
service uses), so the sandbox's own crypto is checked against an independent one on every push.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from wechatpy import WeChatClient

from tests.support import LOCAL_TLS
from tests.support.sandbox import (
    ACCOUNTS,
    PUSH_TIMEOUT_S,
    Receiver,
    SandboxClient,
    ServerThread,
    build_receiver_app,
    free_port,
)
from wechat_sandbox import SandboxAccount, SandboxConfig, create_sandbox_app


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver(ACCOUNTS)
    server = ServerThread(build_receiver_app(receiver), free_port())
    yield receiver, server.base_url
    server.stop()


@pytest.fixture(scope="session")
def sandbox_config(receiver_server: tuple[Receiver, str]) -> SandboxConfig:
    _, receiver_url = receiver_server
    accounts = tuple(
        SandboxAccount(**{**vars(spec), "webhook_url": f"{receiver_url}/wechat"}) for spec in ACCOUNTS.values()
    )
    return SandboxConfig(accounts=accounts, push_timeout_s=PUSH_TIMEOUT_S, push_tries=3)


@pytest.fixture(scope="session")
def sandbox_url(sandbox_config: SandboxConfig) -> Iterator[str]:
    server = ServerThread(create_sandbox_app(sandbox_config), free_port())
    yield server.base_url
    server.stop()


@pytest.fixture
def receiver(receiver_server: tuple[Receiver, str]) -> Receiver:
    return receiver_server[0]


@pytest.fixture(scope="session")
def http(sandbox_url: str) -> Iterator[httpx.Client]:
    # One client for the session: building an httpx client (its SSL context) costs ~50 ms.
    with httpx.Client(base_url=sandbox_url, verify=LOCAL_TLS, timeout=15) as client:
        yield client


@pytest.fixture(autouse=True)
def clean_state(receiver_server: tuple[Receiver, str], http: httpx.Client) -> None:
    receiver_server[0].clear()
    http.post("/control/reset").raise_for_status()


@pytest.fixture
def wechat(sandbox_url: str) -> Callable[..., WeChatClient]:
    """wechatpy clients pointed at the sandbox; auto_retry off so tests see every errcode."""

    def make(account: str = "oa", auto_retry: bool = False, secret: str | None = None) -> WeChatClient:
        spec = ACCOUNTS[account]
        return SandboxClient(sandbox_url, spec.app_id, secret or spec.app_secret, auto_retry=auto_retry)

    return make


@pytest.fixture
def oa(wechat: Callable[..., WeChatClient]) -> WeChatClient:
    # Re-fetches its token on 40001/42001, so tests can move the clock past a token's life.
    return wechat("oa", auto_retry=True)


@pytest.fixture
def mp(wechat: Callable[..., WeChatClient]) -> WeChatClient:
    return wechat("mp", auto_retry=True)


@pytest.fixture
def token(http: httpx.Client) -> Callable[[str], str]:
    def fetch(account: str = "oa") -> str:
        spec = ACCOUNTS[account]
        params = {"grant_type": "client_credential", "appid": spec.app_id, "secret": spec.app_secret}
        body: dict[str, Any] = http.get("/api/cgi-bin/token", params=params).json()
        return str(body["access_token"])

    return fetch
