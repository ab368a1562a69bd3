"""`chatshop serve --workers 2` as a store runs it, stopped with SIGTERM while it is busy.

The WeChat API is a stand-in served by the test that holds a customer-service send until the test lets it
go, so the send is certainly under way when the stop comes; a push whose body is still arriving is the
webhook request in flight. The supervisor also replaces a worker killed outright (its job leases, never
released, expire as they would after a crash).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from sqlalchemy import func, select

from bot.models import ConversationMessage, Delivery, InboundMessage, InboundState
from scheduler.models import JobLease
from storage.db import open_engine
from tests.support import (
    DEMO_KB,
    DEMO_TAG_RULES,
    LOCAL_TLS,
    TEST_DATA_KEYS,
    TEST_INDEX_KEY,
    Account,
    Push,
    free_port,
    make_push,
    next_msg_id,
    open_reply,
    render_fixture,
)
from tests.support.sandbox_client import wait_until

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = Account(app_id="wx5d9a1f0c3b7e2a64", token="graceful0token", original_id="gh_graceful0001",
                  aes_key="Gr4cefulShutd0wnTestKey0123456789abcdefABCD")
START_S = 90  # two workers importing chatshop on a busy 2-core machine
STOP_S = 40  # the requests' grace (10 s) and the deferred replies' (10 s), with room to spare
FALLBACK = ("zzqqxx 随便问问", "qqzz 这是什么")  # two in a row: the bot answers the second through the API


@dataclass
class SlowWeChat:
    """WeChat's API as far as the messenger uses it; a customer-service send waits for `release`."""

    sends: list[dict[str, object]] = field(default_factory=list)
    sending: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def answer(self, path: str, body: bytes) -> dict[str, object]:
        if path.endswith("/token"):
            return {"access_token": "slow-wechat-token", "expires_in": 7200}
        if path.endswith("/message/custom/send"):
            self.sending.set()
            self.release.wait(30)
            self.sends.append(json.loads(body))
        return {"errcode": 0, "errmsg": "ok"}


@pytest.fixture
def slow_wechat() -> Iterator[tuple[SlowWeChat, str]]:
    wechat = SlowWeChat()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._reply(b"")

        def do_POST(self) -> None:
            self._reply(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

        def _reply(self, body: bytes) -> None:
            payload = json.dumps(wechat.answer(urlparse(self.path).path, body)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield wechat, f"http://127.0.0.1:{server.server_address[1]}/"
    wechat.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def cluster(empty_database: str, tmp_path: Path,
            slow_wechat: tuple[SlowWeChat, str]) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`chatshop serve --workers 2` on the test database, WeChat being the slow stand-in."""
    port = free_port()
    environ = {
        **os.environ,
        "CHATSHOP__DATABASE__URL": empty_database,
        "CHATSHOP__KB__PATH": str(DEMO_KB),
        "CHATSHOP__TAGS__RULES_PATH": str(DEMO_TAG_RULES),
        "CHATSHOP__LOGGING__LEVEL": "WARNING",
        "CHATSHOP__DATA__KEYS": TEST_DATA_KEYS,
        "CHATSHOP__DATA__INDEX_KEY": TEST_INDEX_KEY,
        "CHATSHOP__WECHAT__SANDBOX": "off",
        "CHATSHOP__WECHAT__API_BASE_URL": slow_wechat[1],
        "CHATSHOP__WECHAT__APP_ID": ACCOUNT.app_id,
        "CHATSHOP__WECHAT__APP_SECRET": "graceful-shutdown-app-secret",
        "CHATSHOP__WECHAT__TOKEN": ACCOUNT.token,
        "CHATSHOP__WECHAT__ENCODING_AES_KEY": ACCOUNT.aes_key,
        "CHATSHOP__WECHAT__ORIGINAL_ID": ACCOUNT.original_id,
    }
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "chatshop.cli", "serve", "--port", str(port), "--workers", "2"],
                               cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert wait_until(lambda: _answers(port), bool, START_S), (tmp_path / "serve.log").read_text()
        assert wait_until(lambda: len(workers_of(process.pid)), lambda n: n == 2, START_S) == 2
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=20)
        for pid in workers_of(process.pid):
            os.kill(pid, signal.SIGKILL)
        log.close()


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", verify=LOCAL_TLS, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def workers_of(parent: int) -> set[int]:
    """The supervisor's worker processes (not multiprocessing's resource tracker)."""
    try:
        children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    except OSError:
        return set()
    found = set()
    for pid in children:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in command:
            found.add(int(pid))
    return found


def push(content: str, openid: str) -> Push:
    xml = render_fixture("wechat/text.xml", to=ACCOUNT.original_id, openid=openid, create_time=int(time.time()),
                         content=content, msg_id=next_msg_id())
    return make_push(xml, ACCOUNT)


def post(port: int, pushed: Push) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{port}/wechat", params=pushed.params, content=pushed.body,
                      verify=LOCAL_TLS, timeout=20)


def start_slow_post(port: int, pushed: Push) -> tuple[socket.socket, bytes]:
    """A push whose headers and first half of body have arrived; the rest is returned to send later."""
    query = str(httpx.QueryParams(pushed.params))
    head = (f"POST /wechat?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {len(pushed.body)}\r\nConnection: close\r\n\r\n").encode()
    half = len(pushed.body) // 2
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    connection.sendall(head + pushed.body[:half])
    return connection, pushed.body[half:]


def read_response(connection: socket.socket) -> tuple[int, bytes]:
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_a_stopped_cluster_finishes_its_replies_and_sends_and_leaves_nothing_held(
    empty_database: str, slow_wechat: tuple[SlowWeChat, str],
    cluster: tuple[subprocess.Popen[bytes], int],
) -> None:
    wechat, _ = slow_wechat
    parent, port = cluster
    # Given a worker killed outright: the supervisor starts another in its place (the test goes on with the
    # other one meanwhile; the newcomer is stopped while it starts)
    first = workers_of(parent.pid)
    killed = min(first)
    os.kill(killed, signal.SIGKILL)
    replaced = wait_until(lambda: workers_of(parent.pid), lambda now: len(now) == 2 and killed not in now, START_S)
    assert len(replaced) == 2 and killed not in replaced, (first, replaced)
    # And a customer's answer on its way through the customer-service API, held by WeChat
    assert post(port, push(FALLBACK[0], "o_graceful_menu")).status_code == 200
    assert post(port, push(FALLBACK[1], "o_graceful_menu")).text == "success"
    assert wechat.sending.wait(20), "the menu was never sent"
    # And another customer's push still arriving
    connection, rest = start_slow_post(port, push("你好", "o_graceful_hello"))
    time.sleep(1.0)  # the worker has read the request's head: the request is under way
    # When the supervisor is told to stop, and only then the push completes and WeChat answers the send
    parent.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    connection.sendall(rest)
    status, body = read_response(connection)
    connection.close()
    wechat.release.set()
    # Then the push got the bot's reply
    assert status == 200
    reply = open_reply(body.decode(), ACCOUNT, encrypted=True)
    assert reply["MsgType"] == "text" and reply["Content"], reply
    # And every process exited, the supervisor with 0
    assert parent.wait(timeout=STOP_S) == 0
    assert workers_of(parent.pid) == set()
    # And the send finished and was recorded: nothing is left sending, claimed or leased
    assert [sent["msgtype"] for sent in wechat.sends] == ["msgmenu"]
    engine = open_engine(empty_database)
    try:
        with engine.connect() as db:
            deliveries = dict(db.execute(select(ConversationMessage.delivery, func.count())
                                         .group_by(ConversationMessage.delivery)).all())
            claims = dict(db.execute(select(InboundMessage.state, func.count()).group_by(InboundMessage.state)).all())
            holders = set(db.scalars(select(JobLease.holder)))
    finally:
        engine.dispose()
    assert Delivery.SENDING not in deliveries and deliveries.get(Delivery.SENT) == 1, deliveries
    assert claims == {InboundState.ANSWERED: 3}, claims
    # (the killed worker's leases simply expire: it could release nothing)
    assert {int(holder.split(":")[-2]) for holder in holders if holder} <= {killed}, holders
