"""The console and the webhook in two processes on one database: a customer writes to a `chatshop serve`
subprocess (its own sandbox pushes to its own webhook), and the agent's event stream, served by this
process, shows the message live (PostgreSQL: LISTEN/NOTIFY between the processes; SQLite: the feed's poll).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.staff.test_console_api import EventStream, staff
from tests.staff.test_conversations_api import go_online, skill_groups
from tests.support import DEMO_KB, DEMO_TAG_RULES, LiveServer, free_port
from tests.support.sandbox_client import SandboxCustomer, wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def webhook_process(empty_database: str, tmp_path: Path) -> Iterator[str]:
    """`chatshop serve` in a process of its own, on the test database; its base URL."""
    port = free_port()
    environ = {
        **os.environ,
        "CHATSHOP__DATABASE__URL": empty_database,
        "CHATSHOP__KB__PATH": str(DEMO_KB),
        "CHATSHOP__TAGS__RULES_PATH": str(DEMO_TAG_RULES),
        "CHATSHOP__SANDBOX__CREDENTIALS_PATH": str(tmp_path / "other-sandbox-credentials.json"),
        "CHATSHOP__ROUTING__GROUPS": json.dumps(skill_groups(), ensure_ascii=False),
        "CHATSHOP__LOGGING__LEVEL": "WARNING",
    }
    process = subprocess.Popen([sys.executable, "-m", "chatshop.cli", "serve", "--port", str(port)], cwd=ROOT,
                               env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(base), bool, 60)
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_message_taken_by_another_process_reaches_the_console_live(
    server_factory: Callable[..., LiveServer], webhook_process: str, clients: list[httpx.Client],
) -> None:
    console = server_factory({"CHATSHOP__ROUTING__GROUPS": json.dumps(skill_groups(), ensure_ascii=False)})
    wang = staff(console, clients, "wang")
    go_online(wang)
    stream = EventStream(wang)
    # When a customer of the other process asks for a person, then writes again
    customer = SandboxCustomer(f"{webhook_process}/sandbox", "o_elsewhere")
    customer.says("人工")
    assigned = stream.wait_for(lambda e: e["event"] == "handoff" and e["data"]["kind"] == "assigned")
    customer.says("我想改一下收货地址")
    # Then this process's agent sees both, live
    said = stream.wait_for(lambda e: e["event"] == "message" and e["data"]["message"]["text"] == "我想改一下收货地址")
    assert said["data"]["handoff_id"] == assigned["data"]["handoff_id"]


@pytest.fixture
def clients() -> Iterator[list[httpx.Client]]:
    opened: list[httpx.Client] = []
    yield opened
    for client in opened:
        client.close()
