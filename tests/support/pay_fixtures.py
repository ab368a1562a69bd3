"""Fixtures for WeChat Pay tests (registered for the whole suite by tests/conftest.py).

`pay_sandbox` is the sandbox with its pay gateway, served alone under uvicorn for the session,
reset before each test; its merchant's keys are generated here, and its notifications go to a
receiver the test steers (`pay_sandbox.receiver.answer_with(500, 500)`).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support import LOCAL_TLS
from tests.support.pay import Merchant, NotifyReceiver, PaySandbox, build_sandbox_app, new_merchant
from tests.support.sandbox import ServerThread, free_port


@pytest.fixture(scope="session")
def merchant() -> Merchant:
    return new_merchant()


@pytest.fixture(scope="session")
def notify_receiver() -> Iterator[tuple[NotifyReceiver, str]]:
    receiver = NotifyReceiver()
    server = ServerThread(receiver.app(), free_port())
    yield receiver, server.base_url
    server.stop()


@pytest.fixture(scope="session")
def pay_sandbox_server(merchant: Merchant) -> Iterator[str]:
    server = ServerThread(build_sandbox_app(merchant), free_port())
    yield server.base_url
    server.stop()


@pytest.fixture
def pay_sandbox(
    merchant: Merchant, notify_receiver: tuple[NotifyReceiver, str], pay_sandbox_server: str
) -> Iterator[PaySandbox]:
    receiver, receiver_url = notify_receiver
    with httpx.Client(base_url=pay_sandbox_server, verify=LOCAL_TLS, timeout=15, trust_env=False) as http:
        http.post("/control/reset").raise_for_status()
        http.post("/control/pay/reset").raise_for_status()
        receiver.clear()
        yield PaySandbox(pay_sandbox_server, receiver_url, merchant, receiver, http)
