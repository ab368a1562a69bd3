"""The console's own routes over real HTTP: the live event stream (Server-Sent Events) with its catch-up
after a reconnect and its per-group visibility, the customer's rating after an agent resolves, canned
replies, tab counts, product search and agents' figures."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from staff.roles import Role
from tests.bot.test_product_cards import with_demo_catalog
from tests.staff.test_conversations_api import asks_for_a_person, desk, go_online, signed_in  # noqa: F401
from tests.staff.test_staff_api import make_staff
from tests.support import LiveServer
from tests.support.sandbox_client import SandboxCustomer, wait_until

EVENT_TIMEOUT_S = 10.0


class EventStream:
    """An agent's open /staff/api/events connection, read on a thread into a list."""

    def __init__(self, http: httpx.Client, *, last_event_id: int | None = None) -> None:
        headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
        self.events: list[dict[str, Any]] = []
        self._http, self._headers = http, headers
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        wait_until(lambda: self.events, bool, EVENT_TIMEOUT_S)  # the hello

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            with self._http.stream("GET", "/staff/api/events", headers=self._headers, timeout=None) as response:
                assert response.status_code == 200, response.read()
                for line in response.iter_lines():
                    if line == "":
                        if "event" in fields:
                            self.events.append({"id": int(fields.get("id", 0)), "event": fields["event"],
                                                "data": json.loads(fields["data"])})
                        fields = {}
                    elif not line.startswith(":"):
                        name, _, value = line.partition(": ")
                        fields[name] = value
        except httpx.HTTPError:
            return  # the test closed the client

    def wait_for(self, matches: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        found = wait_until(lambda: [e for e in self.events if matches(e)], bool, EVENT_TIMEOUT_S)
        assert found, f"no such event among {self.events}"
        return found[0]

    def kinds(self) -> list[str]:
        return [event["event"] for event in self.events]


@pytest.fixture
def clients() -> Iterator[list[httpx.Client]]:
    opened: list[httpx.Client] = []
    yield opened
    for client in opened:
        client.close()


def staff(server: LiveServer, clients: list[httpx.Client], username: str, role: Role = Role.AGENT,
          groups: tuple[str, ...] = ("售前",)) -> httpx.Client:
    make_staff(server, username, role=role, groups=groups)
    return signed_in(server, clients, username)


def test_an_agent_sees_the_conversation_live_and_catches_up_after_a_reconnect(
    desk: LiveServer, clients: list[httpx.Client],  # noqa: F811
) -> None:
    wang = staff(desk, clients, "wang")
    li = staff(desk, clients, "li", groups=("售后",))
    stream, other = EventStream(wang), EventStream(li)
    hello = stream.events[0]
    assert hello["event"] == "hello"
    # When a customer asks for a person, the agent of the group hears of the queued conversation
    customer = SandboxCustomer(desk, "o_live")
    asks_for_a_person(customer)
    queued = stream.wait_for(lambda e: e["event"] == "handoff" and e["data"]["kind"] == "queued")
    handoff_id = queued["data"]["handoff_id"]
    assert queued["data"]["group"] == "售前" and queued["id"] > hello["data"]["last_id"]
    # it is assigned when the agent comes online, and the customer's next words arrive live
    go_online(wang)
    stream.wait_for(lambda e: e["event"] == "handoff" and e["data"]["kind"] == "assigned")
    customer.says("我的订单到哪了")
    said = stream.wait_for(lambda e: e["event"] == "message" and e["data"]["message"]["direction"] == "in")
    assert said["data"]["message"]["text"] == "我的订单到哪了" and said["data"]["handoff_id"] == handoff_id
    # the agent's reply is an event too, then its delivery
    assert wang.post(f"/staff/api/conversations/{handoff_id}/reply", json={"text": "马上帮您查"}).status_code == 201
    sent = stream.wait_for(lambda e: e["event"] == "message" and e["data"]["message"]["direction"] == "out")
    assert sent["data"]["message"]["sent_by"] == "wang" and sent["data"]["message"]["text"] == "马上帮您查"
    stream.wait_for(lambda e: e["event"] == "delivery" and e["data"]["delivery"] == "sent")
    # An agent of another group heard none of it (only their own availability)
    assert all(e["event"] in ("hello",) for e in other.events)
    # A reconnect with Last-Event-ID gets exactly what came after it
    resumed = EventStream(staff_client(desk, clients, "wang"), last_event_id=queued["id"])
    resumed.wait_for(lambda e: e["event"] == "message" and e["data"]["message"]["direction"] == "out")
    after_hello = [e["id"] for e in resumed.events[1:]]
    assert after_hello and min(after_hello) > queued["id"]
    assert [e["id"] for e in resumed.events[1:] if e["id"] <= sent["id"]] == \
        [e["id"] for e in stream.events[1:] if queued["id"] < e["id"] <= sent["id"]]


def staff_client(server: LiveServer, clients: list[httpx.Client], username: str) -> httpx.Client:
    return signed_in(server, clients, username)


def test_a_resolved_customer_rates_the_service_and_the_figures_show_it(
    desk: LiveServer, clients: list[httpx.Client],  # noqa: F811
) -> None:
    wang = staff(desk, clients, "wang")
    go_online(wang)
    customer = SandboxCustomer(desk, "o_rater")
    asks_for_a_person(customer)
    [conversation] = wang.get("/staff/api/conversations?mine=1").json()["conversations"]
    handoff_id = conversation["id"]
    assert wang.post(f"/staff/api/conversations/{handoff_id}/reply", json={"text": "您好"}).status_code == 201
    assert wang.post(f"/staff/api/conversations/{handoff_id}/resolve").status_code == 200
    # The customer gets the closing line and a 1-5 rating menu
    menu = wait_until(lambda: [m for m in customer.received_via_api() if m["msgtype"] == "msgmenu"], bool, 10)[0]
    items = menu["payload"]["list"]
    assert [item["id"] for item in items] == [f"csat:{handoff_id}:{n}" for n in (5, 4, 3, 2, 1)]
    # When they tap 5, they are thanked and the rating is stored with the conversation
    assert "感谢您的评价" in customer.taps(items[0]["id"], items[0]["content"])["reply"]["content"]
    assert wang.get(f"/staff/api/conversations/{handoff_id}").json()["conversation"]["csat_score"] == 5
    # a second tap changes nothing, and the bot is not confused by it
    customer.taps(items[4]["id"], items[4]["content"])
    assert wang.get(f"/staff/api/conversations/{handoff_id}").json()["conversation"]["csat_score"] == 5
    # Then the figures show the agent's rating and response times, today and over 7 days
    figures = wang.get("/staff/api/stats/agents").json()
    [today] = figures["today"]
    assert (today["username"], today["resolved"], today["csat_avg"], today["csat_count"]) == ("wang", 1, 5.0, 1)
    assert today["first_response_s"] is not None and today["resolution_s"] >= today["first_response_s"]
    assert figures["last_7_days"] == figures["today"]


def test_canned_replies_are_managed_by_supervisors_and_read_by_agents(
    desk: LiveServer, clients: list[httpx.Client],  # noqa: F811
) -> None:
    wang = staff(desk, clients, "wang")
    boss = staff(desk, clients, "boss", role=Role.SUPERVISOR)
    body = {"shortcut": "发货", "text": "亲，48 小时内发货，发货后可在订单页查看物流～"}
    assert wang.post("/staff/api/canned-replies", json=body).status_code == 403
    created = boss.post("/staff/api/canned-replies", json=body)
    assert created.status_code == 201, created.text
    assert boss.post("/staff/api/canned-replies", json=body).json()["error"]["code"] == "CANNED_REPLY_EXISTS"
    assert boss.post("/staff/api/canned-replies", json={"shortcut": "/发 货", "text": "x"}).status_code == 422
    listed = wang.get("/staff/api/canned-replies").json()
    assert [(r["shortcut"], r["text"], r["updated_by"]) for r in listed] == [("发货", body["text"], "boss")]
    reply_id = created.json()["id"]
    changed = boss.put(f"/staff/api/canned-replies/{reply_id}", json={"shortcut": "发货", "text": "今天发"})
    assert changed.json()["text"] == "今天发"
    assert boss.delete(f"/staff/api/canned-replies/{reply_id}").status_code == 204
    assert boss.delete(f"/staff/api/canned-replies/{reply_id}").status_code == 404
    assert wang.get("/staff/api/canned-replies").json() == []


def test_tab_counts_follow_the_queue(desk: LiveServer, clients: list[httpx.Client]) -> None:  # noqa: F811
    wang = staff(desk, clients, "wang")
    for n in range(3):
        asks_for_a_person(SandboxCustomer(desk, f"o_count_{n}"))
    assert wang.get("/staff/api/conversations/counts").json() == {"queued": 3, "mine": 0, "all": 3, "resolved": 0}
    go_online(wang, max_chats=2)
    counts = wait_until(lambda: wang.get("/staff/api/conversations/counts").json(), lambda c: c["mine"] == 2, 5)
    assert counts == {"queued": 1, "mine": 2, "all": 3, "resolved": 0}
    assert wang.get("/staff/api/conversations/counts?group=售后").json()["all"] == 0
    listed = wang.get("/staff/api/conversations?mine=1").json()["conversations"]
    assert all(item["last_message_id"] and item["last_message_at"] for item in listed)


def test_products_for_a_card(server: LiveServer, clients: list[httpx.Client]) -> None:
    demo_shop = with_demo_catalog(server)
    wang = staff(demo_shop, clients, "wang")
    found = wang.get("/staff/api/products", params={"q": "连衣裙"}).json()
    assert found and all("连衣裙" in p["title"] for p in found)
    assert found[0]["price_range"].startswith("¥")
    assert len(wang.get("/staff/api/products", params={"limit": 3}).json()) == 3
