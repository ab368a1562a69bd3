"""Two real `chatshop serve` processes on the test database, talking to one WeChat.

The sandbox runs on its own (in this process, as WeChat outlives any of ours), and both servers' `wechat.api_base_url`
point at it, so its records (tokens issued, messages received, calls made) are the evidence. WeChat pushes to the
store's one URL: here a small balancer that spreads pushes over the two processes, or sends them to the one a test
pins. On PostgreSQL the processes also share Redis, under a key prefix of this run's own. The pair is started once
for the whole package (a start costs seconds); a test that kills one of them runs last, and a test that finds one
dead starts it again.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.handoff.models import AgentStatus, RoutingAgent
from chatshop.settings import Settings
from staff.accounts import add_staff
from staff.config import StaffConfig
from staff.roles import Role
from storage.db import make_session_factory, open_engine, transaction
from tests.staff.test_conversations_api import go_online, skill_groups
from tests.staff.test_staff_api import PASSWORD
from tests.support import (
    DEMO_KB,
    DEMO_TAG_RULES,
    LOCAL_TLS,
    Account,
    LiveSandbox,
    empty_tables,
    free_port,
    settings_for_test,
    start_sandbox,
)
from tests.support.sandbox_client import SandboxCustomer, wait_until

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("CHATSHOP_TEST_REDIS_URL", "redis://localhost:6379/15")
LEASE_TTL_S = 3.0  # job leases: a killed holder's jobs move within this and a beat (default 30 s)
TEMPLATES = ROOT / "chatshop" / "demo" / "subscribe_templates.yaml"
START_TIMEOUT_S = 90  # two processes importing everything at once on a busy 2-core machine


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the test that kills a process after the package's others, which then share one pair."""
    here = str(Path(__file__).parent)
    ours = [item for item in items if str(item.path).startswith(here)]
    killing = [item for item in ours if getattr(getattr(item, "module", None), "KILLS_A_PROCESS", False)]
    if not killing:
        return
    for item in killing:
        items.remove(item)
    last = max(i for i, item in enumerate(items) if item in ours)
    items[last + 1:last + 1] = killing


class Balancer:
    """What sits between WeChat and the processes: each push goes to the next process in turn, or to the
    one pinned. `served` records which process took each push."""

    def __init__(self) -> None:
        self.backends: list[str] = []
        self.pinned: int | None = None
        self.served: list[int] = []
        self._turns = itertools.count()
        self._lock = threading.Lock()
        self._http = httpx.AsyncClient(timeout=15)
        self.app = Starlette(routes=[Route("/{path:path}", self._forward, methods=["GET", "POST"])])

    def _pick(self) -> int:
        with self._lock:
            index = self.pinned if self.pinned is not None else next(self._turns) % len(self.backends)
            self.served.append(index)
            return index

    async def _forward(self, request: Request) -> Response:
        backend = self.backends[self._pick()]
        body = await request.body()
        headers = {"content-type": request.headers.get("content-type", "text/xml")}
        try:
            answer = await self._http.request(request.method, f"{backend}{request.url.path}",
                                              params=request.query_params, content=body, headers=headers)
        except httpx.HTTPError:
            return Response(status_code=502)
        return Response(answer.content, status_code=answer.status_code,
                        media_type=answer.headers.get("content-type"))


@dataclass
class Process:
    index: int
    port: int
    environ: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen([sys.executable, "-m", "chatshop.cli", "serve", "--port", str(self.port)],
                                          cwd=ROOT, env=self.environ, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=out)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def answers(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/healthz", verify=LOCAL_TLS, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self) -> None:
        ready = wait_until(lambda: self.answers() or not self.alive(), bool, START_TIMEOUT_S)
        assert ready and self.alive(), f"process {self.index} did not start:\n{self.log.read_text()[-3000:]}"

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.terminate()
        try:
            self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10)


@dataclass
class Cluster:
    database_url: str
    engine: Engine
    factory: sessionmaker[Session]
    sandbox: LiveSandbox
    balancer: Balancer
    processes: list[Process]
    redis_prefix: str | None
    settings: Settings  # the accounts' credentials, as both processes read them
    _clients: list[httpx.Client] = field(default_factory=list)

    @property
    def a(self) -> Process:
        return self.processes[0]

    @property
    def b(self) -> Process:
        return self.processes[1]

    @property
    def sandbox_url(self) -> str:
        return self.sandbox.base_url

    def account(self) -> Account:
        """The Official Account's push credentials (what WeChat signs and encrypts with)."""
        section = self.settings.wechat
        return Account(app_id=section.app_id, token=section.token.get_secret_value(),
                       aes_key=section.encoding_aes_key.get_secret_value(), original_id=section.original_id)

    def revive(self) -> None:
        """Start again whichever process an earlier test killed or stopped."""
        dead = [process for process in self.processes if not process.alive()]
        for process in dead:
            process.start()
        for process in dead:
            process.wait_ready()

    def customer(self, openid: str, account: str = "oa") -> SandboxCustomer:
        return SandboxCustomer(self.sandbox_url, openid, account)

    def sandbox_http(self) -> httpx.Client:
        return self.client(self.sandbox_url)

    def client(self, base_url: str) -> httpx.Client:
        http = httpx.Client(base_url=base_url, verify=LOCAL_TLS, timeout=20)
        self._clients.append(http)
        return http

    def calls(self, api: str, *, after: int = 0) -> list[dict[str, Any]]:
        """WeChat's record of the Official Account's calls to `api`, in order (those after sequence number `after`)."""
        params = {"api": api, "account": self.settings.wechat.app_id}
        answer = httpx.get(f"{self.sandbox_url}/control/calls", params=params, verify=LOCAL_TLS, timeout=10)
        return [call for call in answer.json() if call["seq"] > after]

    def last_call(self) -> int:
        """The sequence number of WeChat's latest recorded call (0: none yet)."""
        answer = httpx.get(f"{self.sandbox_url}/control/calls", verify=LOCAL_TLS, timeout=10)
        return max((call["seq"] for call in answer.json()), default=0)

    def asks_for_a_person(self, openid: str, via: Process) -> None:
        """The customer writes 人工, and WeChat's push reaches `via`."""
        self.balancer.pinned = via.index
        try:
            sent = self.customer(openid).says("人工")
        finally:
            self.balancer.pinned = None
        assert sent["status"] == 200, sent

    def conversations(self, agent: httpx.Client) -> dict[str, int]:
        """The agent's open conversations: openid -> handoff id."""
        listed = agent.get("/staff/api/conversations", params={"mine": 1})
        assert listed.status_code == 200, listed.text
        return {c["openid"]: c["id"] for c in listed.json()["conversations"] if c["state"] == "assigned"}

    def add_agent(self, username: str, groups: tuple[str, ...] = ("售前",), max_chats: int = 5) -> None:
        with transaction(self.factory) as session:
            add_staff(session, config=StaffConfig(), username=username, password=PASSWORD, role=Role.AGENT,
                      display_name=username.title(), groups=groups, max_chats=max_chats)

    def agent_serving(self, username: str, openids: list[str]) -> tuple[list[httpx.Client], dict[str, int]]:
        """An agent signed in on both processes and online, to whom these customers are assigned after
        asking for a person through the processes in turn: the agent's session on each process, and
        openid -> handoff id."""
        self.add_agent(username, max_chats=len(openids))
        sessions = [self.signed_in(process, username) for process in self.processes]
        go_online(sessions[0])
        for n, openid in enumerate(openids):
            self.asks_for_a_person(openid, via=self.processes[n % 2])
        return sessions, self.conversations(sessions[0])

    def signed_in(self, process: Process, username: str) -> httpx.Client:
        """A console session on `process`: its cookie, and its CSRF token on every request."""
        http = self.client(process.base_url)
        answer = http.post("/staff/api/login", json={"username": username, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        http.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
        return http

    def close_clients(self) -> None:
        for http in self._clients:
            http.close()
        self._clients.clear()


def _environ(database_url: str, tmp: Path, sandbox_url: str, redis_prefix: str | None) -> dict[str, str]:
    environ = {
        **{key: value for key, value in os.environ.items() if not key.startswith("CHATSHOP__")},
        "CHATSHOP__DATABASE__URL": database_url,
        "CHATSHOP__KB__PATH": str(DEMO_KB),
        "CHATSHOP__TAGS__RULES_PATH": str(DEMO_TAG_RULES),
        "CHATSHOP__OUTREACH__TEMPLATES_PATH": str(TEMPLATES),
        # The same accounts and secrets as the sandbox's: one WeChat, two processes of one store.
        "CHATSHOP__SANDBOX__CREDENTIALS_PATH": str(tmp / "sandbox-credentials.json"),
        "CHATSHOP__WECHAT__API_BASE_URL": f"{sandbox_url}/api/",
        "CHATSHOP__WECHAT__REQUEST_TIMEOUT_S": "3",
        "CHATSHOP__ROUTING__GROUPS": json.dumps(skill_groups(), ensure_ascii=False),
        "CHATSHOP__SCHEDULER__LEASE_TTL_S": str(LEASE_TTL_S),
        "CHATSHOP__MESSENGER__OUTBOX_POLL_S": "0.5",
        "CHATSHOP__MESSENGER__RETRY_BACKOFF_S": "0.2",
        "CHATSHOP__OUTREACH__CAMPAIGN_INTERVAL_S": "1",
        "CHATSHOP__LOGGING__LEVEL": "WARNING",
    }
    if redis_prefix is not None:
        environ |= {"CHATSHOP__REDIS__URL": REDIS_URL, "CHATSHOP__REDIS__KEY_PREFIX": redis_prefix}
    return environ


def _redis_prefix(database_url: str) -> str | None:
    """On PostgreSQL the processes share Redis (as a deployment of several would), under this run's own prefix."""
    if not database_url.startswith("postgresql"):
        return None
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError:
        if os.environ.get("CI"):
            raise  # CI has Redis: a missing one is a failure there, never a skip
        pytest.skip(f"no Redis at {REDIS_URL}")
    return f"chatshop-test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture(scope="package")
def running_cluster(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    empty_tables(database_url)
    tmp = tmp_path_factory.mktemp("cluster")
    redis_prefix = _redis_prefix(database_url)
    balancer = Balancer()
    balancer_url, balancer_server = _serve(balancer.app)
    ports = [free_port(), free_port()]
    balancer.backends = [f"http://127.0.0.1:{port}" for port in ports]
    # The sandbox's webhook is the balancer; its accounts are the ones the processes read from the credentials file.
    settings = settings_for_test(database_url, tmp, {"CHATSHOP__SERVER__PUBLIC_BASE_URL": balancer_url}, ports[0])
    sandbox = start_sandbox(settings)
    environ = _environ(database_url, tmp, sandbox.base_url, redis_prefix)
    processes = [Process(index, port, environ, tmp / f"serve-{index}.log") for index, port in enumerate(ports)]
    engine = open_engine(database_url)
    cluster = Cluster(database_url, engine, make_session_factory(engine), sandbox, balancer, processes, redis_prefix,
                      settings)
    try:
        cluster.revive()
        yield cluster
    finally:
        cluster.close_clients()
        for process in processes:
            process.stop()
        sandbox.stop()
        balancer_server.should_exit = True
        engine.dispose()
        if redis_prefix is not None:
            _forget_keys(redis_prefix)


@pytest.fixture
def cluster(running_cluster: Cluster) -> Iterator[Cluster]:
    """Both processes up (started again if an earlier test killed one), pushes spread over them, and no agent of
    an earlier test online to take this test's conversations."""
    running_cluster.revive()
    with transaction(running_cluster.factory) as session:
        session.execute(update(RoutingAgent).values(status=AgentStatus.OFFLINE))
    running_cluster.balancer.pinned = None
    yield running_cluster
    running_cluster.close_clients()
    running_cluster.balancer.pinned = None


def _serve(app: Any) -> tuple[str, uvicorn.Server]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the balancer did not start"
        time.sleep(0.01)
    return f"http://127.0.0.1:{port}", server


def _forget_keys(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)
