"""`chatshop serve --workers N`: what the parent sets up before it starts the workers.

The sandbox keeps WeChat's state in memory, so with several workers it is served once, by the parent: the
workers call it directly, and /sandbox on any worker forwards to it (the same tokens, windows and
transcript whichever worker a request lands on). The supervisor and the graceful stop of real worker
processes are tested in test_graceful_shutdown.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from chatshop.cli import main
from chatshop.sandbox_proxy import sandbox_proxy
from chatshop.settings import DEFAULT_CONFIG_PATH, Settings, load_settings
from chatshop.workers import SandboxServer
from tests.support import TEST_DATA_KEYS, TEST_INDEX_KEY, free_port


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(DEFAULT_CONFIG_PATH, environ={
        "CHATSHOP__SERVER__PORT": "8123",
        "CHATSHOP__SANDBOX__CREDENTIALS_PATH": str(tmp_path / "sandbox-credentials.json"),
        "CHATSHOP__DATA__KEYS": TEST_DATA_KEYS,
        "CHATSHOP__DATA__INDEX_KEY": TEST_INDEX_KEY,
    })


@pytest.fixture
def sandbox(settings: Settings) -> Iterator[SandboxServer]:
    served = SandboxServer.start(settings)
    yield served
    served.stop()


@contextmanager
def worker_forwarding_to(sandbox_url: str) -> Iterator[httpx.Client]:
    """/sandbox as a worker serves it, over real HTTP."""
    port = free_port()
    app = Starlette(routes=[Mount("/sandbox", sandbox_proxy(sandbox_url))])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=15, trust_env=False) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_the_workers_call_the_one_sandbox_directly_and_forward_the_page_to_it(sandbox: SandboxServer) -> None:
    # Given the sandbox served once by the parent, the workers' settings point straight at it
    worker = sandbox.settings
    assert worker.sandbox_enabled
    assert worker.api_base_url == sandbox.url + "/api/"
    assert worker.pay.api_base_url == sandbox.url + "/pay/"
    # And its accounts push to the shared port, whichever worker takes the push
    with httpx.Client(base_url=sandbox.url, trust_env=False) as direct:
        [oa, *_] = direct.get("/control/accounts").json()
        assert oa["webhook_url"] == "http://127.0.0.1:8123/wechat"
        # When a worker takes an access token from it
        token = direct.get("/api/cgi-bin/token", params={
            "grant_type": "client_credential", "appid": worker.wechat.app_id,
            "secret": worker.wechat.app_secret.get_secret_value()}).json()
        assert "access_token" in token, token
    # Then /sandbox on a worker shows the same sandbox: the page, and the token call in its record
    with worker_forwarding_to(sandbox.url) as through_worker:
        page = through_worker.get("/sandbox/")
        assert page.status_code == 200 and "<html" in page.text.lower()
        calls = through_worker.get("/sandbox/control/calls", params={"api": "cgi-bin/token"}).json()
        assert [call["response"].get("access_token") for call in calls] == [token["access_token"]]
        # And what a customer sends through a worker reaches the one sandbox (here refused: unknown account)
        refused = through_worker.post("/sandbox/chat/send", json={"account": "nobody", "openid": "o_x", "type": "text",
                                                                    "content": "你好"})
        assert refused.status_code == 404 and "unknown account" in refused.json()["error"]


def test_a_sandbox_that_is_gone_answers_502_through_the_worker(sandbox: SandboxServer) -> None:
    url = sandbox.url
    sandbox.stop()
    with worker_forwarding_to(url) as through_worker:
        answer = through_worker.get("/sandbox/control/accounts")
    assert answer.status_code == 502 and "the sandbox did not answer" in answer.text


def test_several_workers_on_an_in_memory_database_are_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CHATSHOP__DATABASE__URL", "sqlite:///:memory:")
    assert main(["serve", "--workers", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("chatshop: configuration error: server.workers: an in-memory SQLite database is one per process; "
                   "use a SQLite file or PostgreSQL for --workers > 1")
