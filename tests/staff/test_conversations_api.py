"""Conversations with a person through the staff API, over real HTTP against a live server whose customers
write through the sandbox (encrypted pushes): the queue, assignment when an agent comes online, replies
reaching WeChat, the bot's silence while a person owns the conversation, refusals WeChat would give,
claims, transfers, notes, and who may see what."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from sqlalchemy import select, update

from bot.customers.tag_models import TagSource
from bot.customers.tags import tag_customer
from bot.handoff.config import HandoffTexts
from bot.models import Customer, ReplyWindow
from staff.roles import Role
from storage.clock import utcnow
from storage.db import transaction
from tests.staff.test_staff_api import log_in, make_staff, token_for
from tests.support import DEMO_KB, LiveServer
from tests.support.mp_client import error_of
from tests.support.sandbox_client import SandboxCustomer, wait_until

TEXTS = HandoffTexts()
STORE_ZONE = ZoneInfo("Asia/Shanghai")
DEMO_FAQS = yaml.safe_load(Path(DEMO_KB).read_text(encoding="utf-8"))["faqs"]


def skill_groups() -> list[dict[str, Any]]:
    """The demo's groups without business hours (always open), and VIP closed around today's date."""
    today = datetime.now(STORE_ZONE).date()
    closed = [str(today + timedelta(days=n)) for n in (-1, 0, 1)]
    return [
        {"name": "售前", "intents": ["product_search", "size_advice"], "tags": ["意向客户-*"]},
        {"name": "售后", "intents": ["complaint", "return_request", "order_status"], "tags": ["售后"]},
        {"name": "VIP", "tags": ["VIP"], "closed_dates": closed},
    ]


@pytest.fixture
def desk(server_factory: Callable[..., LiveServer]) -> LiveServer:
    """A live server whose skill groups do not depend on the time of day."""
    return server_factory({"CHATSHOP__ROUTING__GROUPS": json.dumps(skill_groups(), ensure_ascii=False)})


@pytest.fixture
def clients() -> Iterator[list[httpx.Client]]:
    opened: list[httpx.Client] = []
    yield opened
    for client in opened:
        client.close()


def signed_in(server: LiveServer, clients: list[httpx.Client], username: str) -> httpx.Client:
    """A console session: the login's cookie, and its CSRF token on every request."""
    http = server.client()
    clients.append(http)
    answer = log_in(http, username)
    assert answer.status_code == 200, answer.text
    http.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    return http


def by_token(server: LiveServer, clients: list[httpx.Client], username: str) -> httpx.Client:
    http = server.client()
    clients.append(http)
    http.headers["Authorization"] = f"Bearer {token_for(server, username)}"
    return http


def go_online(http: httpx.Client, max_chats: int | None = None) -> None:
    body: dict[str, Any] = {"status": "online"} | ({"max_chats": max_chats} if max_chats else {})
    answer = http.put("/staff/api/me/status", json=body)
    assert answer.status_code == 200, answer.text


def asks_for_a_person(customer: SandboxCustomer) -> dict[str, Any]:
    sent = customer.says("人工")
    assert sent["status"] == 200, sent
    return sent


def only_conversation(http: httpx.Client, query: str) -> dict[str, Any]:
    listed = http.get(f"/staff/api/conversations?{query}")
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert page["total"] == 1 and len(page["conversations"]) == 1, page
    conversation: dict[str, Any] = page["conversations"][0]
    return conversation


def api_texts(customer: SandboxCustomer, count: int) -> list[str]:
    got = customer.wait_for_api_messages(count)
    assert len(got) == count, got
    return [entry["payload"].get("content", "") for entry in got]


def sends_to(customer: SandboxCustomer) -> list[dict[str, Any]]:
    return [call for call in customer.calls("cgi-bin/message/custom/send")
            if customer.openid in json.dumps(call, ensure_ascii=False)]


def customer_id_of(server: LiveServer, openid: str) -> int:
    with server.services.factory() as session:
        found = session.scalar(select(Customer.id).where(Customer.openid == openid))
    assert found is not None
    return found


def test_a_customer_asking_for_a_person_is_served_by_an_agent_end_to_end(
    desk: LiveServer, clients: list[httpx.Client],
) -> None:
    make_staff(desk, "wang", groups=("售前",))
    wang = signed_in(desk, clients, "wang")
    customer = SandboxCustomer(desk, "o_e2e_buyer")
    # Given a customer asking for a person while nobody of the group is online
    sent = asks_for_a_person(customer)
    assert sent["reply"]["content"].startswith(TEXTS.queued)
    # Then the conversation waits in the queue, with what the agent needs to know
    queued = only_conversation(wang, "state=queued")
    assert (queued["state"], queued["group"], queued["openid"], queued["agent"]) == (
        "queued", "售前", "o_e2e_buyer", None)
    assert queued["summary"]["reason"] == "asked"
    assert "人工" in [line["text"] for line in queued["summary"]["messages"]]
    assert wang.get("/staff/api/conversations?mine=1").json()["total"] == 0
    # When the agent goes online (cookie session with its CSRF token)
    go_online(wang)
    # Then it is theirs at once, and the customer is told who serves them
    mine = only_conversation(wang, "mine=1")
    assert mine["id"] == queued["id"] and mine["state"] == "assigned"
    assert mine["agent"] == {"id": mine["agent"]["id"], "username": "wang", "display_name": "Wang"}
    assert api_texts(customer, 1) == [TEXTS.assigned.format(agent="Wang")]
    # When the agent replies, the reply reaches WeChat's customer-service API
    replied = wang.post(f"/staff/api/conversations/{mine['id']}/reply", json={"text": "您好，我是小王，请问想看哪款？"})
    assert replied.status_code == 201, replied.text
    assert replied.json()["delivery"] == "sent" and replied.json()["message_id"] > 0
    assert api_texts(customer, 2)[-1] == "您好，我是小王，请问想看哪款？"
    # When the customer writes again, the bot says nothing: the webhook answers `success`
    again = customer.says("还在吗")
    assert again["reply"] is None and again["raw"] == "success"
    detail = wang.get(f"/staff/api/conversations/{mine['id']}")
    assert detail.status_code == 200, detail.text
    lines = [(m["direction"], m["text"], m["sent_by"]) for m in detail.json()["messages"]]
    assert lines[-2:] == [("out", "您好，我是小王，请问想看哪款？", "wang"), ("in", "还在吗", None)]
    # and the next message the customer gets is the agent's (one customer's messages leave in order)
    assert wang.post(f"/staff/api/conversations/{mine['id']}/reply", json={"text": "在的"}).status_code == 201
    assert api_texts(customer, 3) == [TEXTS.assigned.format(agent="Wang"), "您好，我是小王，请问想看哪款？", "在的"]
    # When the agent resolves it, the customer hears the closing line, is asked for a rating, and has the
    # bot back
    resolved = wang.post(f"/staff/api/conversations/{mine['id']}/resolve")
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["state"] == "resolved"
    assert api_texts(customer, 5)[-2] == TEXTS.resolved
    assert customer.wait_for_api_messages(5)[-1]["msgtype"] == "msgmenu"
    faq = DEMO_FAQS[0]
    assert customer.says(faq["similar"][0])["reply"]["content"] == faq["answer"]
    # And the timeline has every step
    timeline = wang.get(f"/staff/api/conversations/{mine['id']}").json()["events"]
    assert [(e["kind"], e["actor"]) for e in timeline] == [("queued", "bot"), ("assigned", "routing"),
                                                            ("resolved", "wang")]


def test_replies_wechat_would_refuse_are_409_with_its_code_and_never_sent(
    desk: LiveServer, clients: list[httpx.Client],
) -> None:
    make_staff(desk, "wang", groups=("售前",))
    wang = by_token(desk, clients, "wang")
    customer = SandboxCustomer(desk, "o_quota")
    asks_for_a_person(customer)
    go_online(wang)  # the "客服「Wang」为您服务" notice is the window's first message
    handoff_id = only_conversation(wang, "mine=1")["id"]
    url = f"/staff/api/conversations/{handoff_id}"
    # Given the window's 5 messages spent: the notice and 4 replies
    for n in range(4):
        assert wang.post(f"{url}/reply", json={"text": f"回复{n}"}).status_code == 201
    assert len(api_texts(customer, 5)) == 5
    window = wang.get(url).json()["reply_window"]
    assert (window["quota_left"], window["can_reply"], window["reply_refusal"]["wechat_errcode"]) == (0, False, 45047)
    # When the agent replies once more, it is refused with WeChat's code, before any call
    refused = wang.post(f"{url}/reply", json={"text": "第六条"})
    assert refused.status_code == 409
    assert (error_of(refused)["code"], refused.json()["error"]["wechat_errcode"]) == ("REPLY_REFUSED", 45047)
    assert len(sends_to(customer)) == 5 and len(customer.received_via_api()) == 5
    # Given the customer writes (a new window) and the window then runs out
    customer.says("还在吗")
    assert wang.get(url).json()["reply_window"]["quota_left"] == 5
    closed_at = (utcnow() - timedelta(minutes=1)).replace(microsecond=0)
    with transaction(desk.services.factory) as session:
        session.execute(update(ReplyWindow).where(ReplyWindow.customer_id == customer_id_of(desk, "o_quota"))
                        .values(expires_at=closed_at))
    window = wang.get(url).json()["reply_window"]
    assert (window["can_reply"], window["reply_refusal"]["wechat_errcode"]) == (False, 45015)
    # When the agent replies, it is refused as closed, with when it closed, and nothing reaches WeChat
    late = wang.post(f"{url}/reply", json={"text": "迟到的回复"})
    assert late.status_code == 409
    assert late.json()["error"]["wechat_errcode"] == 45015
    assert datetime.fromisoformat(late.json()["error"]["window_closed_at"]) == closed_at
    assert len(sends_to(customer)) == 5 and len(customer.received_via_api()) == 5
    texts = [m["text"] for m in wang.get(url).json()["messages"]]
    assert "第六条" not in texts and "迟到的回复" not in texts


def test_a_retried_reply_with_the_same_client_key_is_sent_once(desk: LiveServer, clients: list[httpx.Client]) -> None:
    make_staff(desk, "wang", groups=("售前",))
    wang = by_token(desk, clients, "wang")
    go_online(wang)
    customer = SandboxCustomer(desk, "o_retry_reply")
    asks_for_a_person(customer)  # assigned at once: told in the passive reply
    handoff_id = only_conversation(wang, "mine=1")["id"]
    body = {"text": "已为您查询", "client_key": "c0ffee-1"}
    first = wang.post(f"/staff/api/conversations/{handoff_id}/reply", json=body)
    again = wang.post(f"/staff/api/conversations/{handoff_id}/reply", json=body)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()
    assert api_texts(customer, 1) == ["已为您查询"]
    assert len(sends_to(customer)) == 1
    # Either text or a product card, never both
    both = wang.post(f"/staff/api/conversations/{handoff_id}/reply", json={"text": "x", "product_id": "p"})
    assert both.status_code == 422 and error_of(both)["code"] == "INVALID_INPUT"


def test_who_may_see_and_answer_a_conversation(desk: LiveServer, clients: list[httpx.Client]) -> None:
    make_staff(desk, "wang", groups=("售前",))
    make_staff(desk, "zhao", groups=("售前",))
    make_staff(desk, "li", groups=("售后",))
    make_staff(desk, "mei", Role.MARKETER, groups=())
    make_staff(desk, "boss", Role.SUPERVISOR, groups=())
    wang, zhao, li = (by_token(desk, clients, name) for name in ("wang", "zhao", "li"))
    go_online(wang)
    asks_for_a_person(SandboxCustomer(desk, "o_private"))
    handoff_id = only_conversation(wang, "mine=1")["id"]
    url = f"/staff/api/conversations/{handoff_id}"
    # Without credentials: 401
    with desk.client() as anonymous:
        for path in ("/staff/api/conversations", url, "/staff/api/groups"):
            assert anonymous.get(path).status_code == 401
        assert anonymous.post(f"{url}/reply", json={"text": "hi"}).status_code == 401
    # A marketer works with tags, not conversations: 403
    mei = by_token(desk, clients, "mei")
    for answer in (mei.get("/staff/api/conversations"), mei.get(url), mei.post(f"{url}/claim")):
        assert answer.status_code == 403 and error_of(answer)["code"] == "FORBIDDEN"
    # An agent of another group does not see it, and learns nothing of it
    assert li.get("/staff/api/conversations").json()["total"] == 0
    hidden = [li.get(url), li.post(f"{url}/reply", json={"text": "hi"}), li.post(f"{url}/notes", json={"text": "x"}),
              li.post(f"{url}/resolve"), li.get("/staff/api/conversations/999999")]
    for answer in hidden:
        assert answer.status_code == 404 and error_of(answer)["code"] == "CONVERSATION_NOT_FOUND"
        assert "o_private" not in answer.text
    # An agent of the group sees it, but it is not theirs to answer or resolve
    assert zhao.get(url).status_code == 200
    for answer in (zhao.post(f"{url}/reply", json={"text": "我来"}), zhao.post(f"{url}/resolve")):
        assert answer.status_code == 409 and error_of(answer)["code"] == "NOT_YOUR_CONVERSATION"
    # A supervisor sees every group's
    boss = by_token(desk, clients, "boss")
    assert boss.get("/staff/api/conversations?state=assigned").json()["total"] == 1
    assert boss.get(url).json()["conversation"]["agent"]["username"] == "wang"


def test_claim_transfer_to_a_group_and_to_an_agent_and_notes(desk: LiveServer, clients: list[httpx.Client]) -> None:
    for name, groups in (("wang", ("售前", "VIP")), ("li", ("售后",)), ("zhao", ("售后",))):
        make_staff(desk, name, groups=groups)
    wang, li, zhao = (by_token(desk, clients, name) for name in ("wang", "li", "zhao"))
    go_online(wang)
    # Given a VIP customer asking for a person while the VIP group is closed: it waits, even with wang online
    customer = SandboxCustomer(desk, "o_vip")
    customer.says("在吗")
    with transaction(desk.services.factory) as session:
        tag_customer(session, customer_id_of(desk, "o_vip"), name="VIP", source=TagSource.STAFF, set_by="test",
                     now=utcnow())
    sent = asks_for_a_person(customer)
    assert "休息时间" in sent["reply"]["content"]
    queued = only_conversation(wang, "state=queued&group=VIP")
    url = f"/staff/api/conversations/{queued['id']}"
    # When wang claims it
    claimed = wang.post(f"{url}/claim")
    assert claimed.status_code == 200, claimed.text
    assert (claimed.json()["state"], claimed.json()["agent"]["username"]) == ("assigned", "wang")
    assert wang.post(f"{url}/claim").status_code == 409  # not queued any more
    # A note stays inside: it is in the conversation, never sent
    before = len(customer.received_via_api())
    note = wang.post(f"{url}/notes", json={"text": "老客户，优先处理退换"})
    assert note.status_code == 201 and note.json()["author"] == "wang"
    assert [n["text"] for n in wang.get(url).json()["notes"]] == ["老客户，优先处理退换"]
    assert all("老客户" not in json.dumps(entry, ensure_ascii=False) for entry in customer.transcript())
    assert len(customer.received_via_api()) == before
    # When wang transfers it to the after-sales group, it waits there (nobody online), out of wang's sight
    moved = wang.post(f"{url}/transfer", json={"group": "售后"})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["state"], moved.json()["group"], moved.json()["agent"]) == ("queued", "售后", None)
    assert wang.get(url).status_code == 404
    assert li.get("/staff/api/conversations?state=queued").json()["conversations"][0]["id"] == queued["id"]
    # When li comes online it is li's; li hands it to zhao by username
    go_online(li)
    assert only_conversation(li, "mine=1")["id"] == queued["id"]
    go_online(zhao)
    handed = li.post(f"{url}/transfer", json={"agent": "zhao"})
    assert handed.status_code == 200, handed.text
    assert handed.json()["agent"]["username"] == "zhao"
    assert only_conversation(zhao, "mine=1")["id"] == queued["id"]
    assert api_texts(customer, before + 2)[-2:] == [TEXTS.assigned.format(agent="Li"),
                                                    TEXTS.assigned.format(agent="Zhao")]
    events = [(e["kind"], e["actor"]) for e in zhao.get(url).json()["events"]]
    assert events == [("queued", "bot"), ("claimed", "wang"), ("transferred", "wang"), ("assigned", "routing"),
                      ("transferred", "li")]
    # Refusals: an unknown group, an unknown agent, both at once
    assert error_of(zhao.post(f"{url}/transfer", json={"group": "夜班"}))["code"] == "UNKNOWN_GROUP"
    assert zhao.post(f"{url}/transfer", json={"agent": "nobody"}).status_code == 404
    both = zhao.post(f"{url}/transfer", json={"group": "售前", "agent": "li"})
    assert both.status_code == 422 and error_of(both)["code"] == "INVALID_INPUT"


def test_the_groups_and_the_agents_roster(desk: LiveServer, clients: list[httpx.Client]) -> None:
    make_staff(desk, "wang", groups=("售前", "VIP"))
    make_staff(desk, "li", groups=("售后",))
    make_staff(desk, "mei", Role.MARKETER, groups=())
    wang = by_token(desk, clients, "wang")
    go_online(wang, max_chats=4)
    asks_for_a_person(SandboxCustomer(desk, "o_roster"))
    groups = {g["name"]: g for g in wang.get("/staff/api/groups").json()}
    assert list(groups) == ["售前", "售后", "VIP"]
    assert groups["售前"] | {"next_opening": None} == {
        "name": "售前", "intents": ["product_search", "size_advice"], "tags": ["意向客户-*"], "open_now": True,
        "next_opening": None, "queued": 0, "online_agents": 1, "oldest_queued_at": None}
    assert (groups["VIP"]["open_now"], groups["VIP"]["online_agents"]) == (False, 1)
    opening = datetime.fromisoformat(groups["VIP"]["next_opening"])
    assert opening.astimezone(STORE_ZONE).date() == datetime.now(STORE_ZONE).date() + timedelta(days=2)
    roster = wang.get("/staff/api/agents").json()
    assert [(a["username"], a["status"], a["active_chats"], a["max_chats"]) for a in roster] == [
        ("wang", "online", 1, 4), ("li", "offline", 0, 3)]
    assert [a["username"] for a in wang.get("/staff/api/agents?group=售后").json()] == ["li"]


def test_the_openapi_document_lists_the_conversation_routes(desk: LiveServer) -> None:
    with desk.client() as http:
        paths = http.get("/openapi.json").json()["paths"]
    base = "/staff/api/conversations"
    assert {base, f"{base}/{{handoff_id}}", f"{base}/{{handoff_id}}/claim", f"{base}/{{handoff_id}}/reply",
            f"{base}/{{handoff_id}}/transfer", f"{base}/{{handoff_id}}/resolve", f"{base}/{{handoff_id}}/notes",
            "/staff/api/groups", "/staff/api/agents"} <= set(paths)
    reply = paths[f"{base}/{{handoff_id}}/reply"]["post"]
    assert reply["summary"] and {"201", "401", "403", "404", "409", "422"} <= set(reply["responses"])
    assert reply["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ReplyIn")


def test_agents_see_the_mobile_numbers_customers_type_masked_and_supervisors_see_them_whole(
    desk: LiveServer, clients: list[httpx.Client],
) -> None:
    make_staff(desk, "wang", groups=("售前",))
    make_staff(desk, "boss", Role.SUPERVISOR, groups=())
    wang, boss = by_token(desk, clients, "wang"), by_token(desk, clients, "boss")
    go_online(wang)
    customer = SandboxCustomer(desk, "o_masked_13912345678")
    asks_for_a_person(customer)
    handoff_id = only_conversation(wang, "mine=1")["id"]
    customer.says("我的电话是13912345678，收件人改成王五")
    url = f"/staff/api/conversations/{handoff_id}"

    def texts(http: httpx.Client) -> list[str]:
        return [m["text"] for m in http.get(url).json()["messages"] if m["direction"] == "in"]

    said = wait_until(lambda: texts(boss), lambda got: any("王五" in t for t in got))
    assert "我的电话是13912345678，收件人改成王五" in said
    assert "我的电话是139****5678，收件人改成王五" in texts(wang)
    detail = wang.get(url).json()
    shown = json.dumps([detail["messages"], detail["conversation"]], ensure_ascii=False)
    assert "13912345678" not in shown.replace("o_masked_13912345678", "")
    # Identifiers are not text: the openid stays as it is, for the links that use it
    assert detail["customer"]["openid"] == "o_masked_13912345678"
