"""Handing a conversation to a person, through real encrypted pushes from the sandbox: the customer is
queued in the right skill group and told so, the bot is silent while a person owns the conversation,
`结束` gives the bot back, outside business hours the customer hears when staff are back, a failure
after the offered person hands off, and in wechat_kf mode the bot answers transfer_customer_service."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.handoff.models import Handoff, HandoffReason, HandoffState, Resolution
from bot.models import ConversationMessage, Customer, Direction
from staff.accounts import add_staff, set_status
from staff.config import StaffConfig
from staff.roles import Role, Status
from storage.db import transaction
from tests.support import LiveServer
from tests.support.sandbox_client import SandboxCustomer

# Always open, so that no test depends on the time it runs at.
GROUPS = [
    {"name": "presale", "intents": ["product_search", "size_advice"]},
    {"name": "aftersale", "intents": ["complaint", "return_request"], "tags": ["售后", "投诉"],
     "kf_account": "kf2002@gh_demo"},
]


def with_groups(server_factory: Callable[..., LiveServer], groups: list[dict[str, object]] = GROUPS,
                **settings: str) -> LiveServer:
    return server_factory({"CHATSHOP__ROUTING__GROUPS": json.dumps(groups, ensure_ascii=False), **settings})


def reply_text(sent: dict[str, object]) -> str:
    reply = sent["reply"]
    assert isinstance(reply, dict), sent
    return str(reply["content"])


def handoff_of(server: LiveServer, openid: str) -> Handoff:
    with server.services.factory() as session:
        handoff = session.scalars(select(Handoff).join(Customer, Customer.id == Handoff.customer_id)
                                  .where(Customer.openid == openid).order_by(Handoff.id.desc())).first()
        assert handoff is not None, f"no handoff for {openid}"
        session.expunge(handoff)
        return handoff


def test_a_customer_asking_for_a_person_is_queued_and_the_bot_falls_silent(
    server_factory: Callable[..., LiveServer],
) -> None:
    server = with_groups(server_factory)
    customer = SandboxCustomer(server, "o_wants_person")
    # Given a question the bot cannot answer, then a request for a person
    customer.says("你们老板喜欢吃榴莲吗")
    told = reply_text(customer.says("转人工"))
    # Then the customer is told a person is coming, and waits in the default group's queue
    assert "人工客服" in told
    handoff = handoff_of(server, "o_wants_person")
    assert (handoff.state, handoff.group, handoff.reason) == (HandoffState.QUEUED, "presale", HandoffReason.ASKED)
    # with a summary an agent can start from: the unanswered question and the last messages
    assert handoff.summary["question"] == "你们老板喜欢吃榴莲吗"
    lines = [(m["direction"], m["text"]) for m in handoff.summary["messages"]]
    assert ("in", "你们老板喜欢吃榴莲吗") in lines and ("in", "转人工") in lines
    assert handoff.summary["cart"] == {"lines": [], "total_fen": 0} and handoff.summary["orders"] == []
    # When the customer writes while waiting, the webhook answers `success` and the bot says nothing
    waiting = customer.says("运费多少钱")
    assert waiting["reply"] is None
    assert customer.received_via_api() == []
    # but the message is logged for the agent, and the handoff knows the customer is waiting
    with server.services.factory() as session:
        texts = session.scalars(select(ConversationMessage.body).where(ConversationMessage.direction == Direction.IN)
                                .order_by(ConversationMessage.id)).all()
    assert texts[-1] == {"content": "运费多少钱"}
    assert handoff_of(server, "o_wants_person").awaiting_since is not None


def test_saying_jieshu_gives_the_customer_the_bot_back(server_factory: Callable[..., LiveServer]) -> None:
    server = with_groups(server_factory)
    customer = SandboxCustomer(server, "o_changes_mind")
    customer.says("人工")
    assert handoff_of(server, "o_changes_mind").state == HandoffState.QUEUED
    # When the customer ends it
    assert "已结束人工服务" in reply_text(customer.says("结束"))
    ended = handoff_of(server, "o_changes_mind")
    assert (ended.state, ended.resolution) == (HandoffState.RESOLVED, Resolution.CUSTOMER_ENDED)
    # Then the bot answers again
    assert "运费" in reply_text(customer.says("运费多少钱"))


def test_a_complaint_goes_to_the_aftersale_group(server_factory: Callable[..., LiveServer]) -> None:
    server = with_groups(server_factory)
    customer = SandboxCustomer(server, "o_angry")
    customer.says("你们这服务态度太差了 气死我了")
    handoff = handoff_of(server, "o_angry")
    assert (handoff.group, handoff.reason) == ("aftersale", HandoffReason.COMPLAINT)
    assert handoff.summary["intent"] == "complaint"


def test_a_failure_after_the_offered_person_hands_off(server_factory: Callable[..., LiveServer]) -> None:
    server = with_groups(server_factory)
    customer = SandboxCustomer(server, "o_lost")
    customer.says("你们老板喜欢吃榴莲吗")  # please rephrase
    customer.says("那火龙果呢")  # a person is offered (a menu, through the API)
    customer.wait_for_api_messages(1)
    told = reply_text(customer.says("山竹呢"))  # and the third miss goes to a person
    assert "人工客服" in told
    handoff = handoff_of(server, "o_lost")
    assert (handoff.state, handoff.reason) == (HandoffState.QUEUED, HandoffReason.FALLBACK)
    assert handoff.summary["question"] == "山竹呢"


def test_outside_business_hours_the_customer_hears_when_staff_are_back(
    server_factory: Callable[..., LiveServer],
) -> None:
    # Given a group closed today and tomorrow (holidays), open 09:00-18:00 every day otherwise
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    closed = [today.isoformat(), (today + timedelta(days=1)).isoformat()]
    server = with_groups(server_factory, [{"name": "presale", "hours": {"mon-sun": "09:00-18:00"},
                                           "closed_dates": closed}])
    customer = SandboxCustomer(server, "o_night_owl")
    told = reply_text(customer.says("人工"))
    opening = today + timedelta(days=2)
    assert "休息时间" in told and f"{opening.month}月{opening.day}日" in told and "09:00" in told
    # and the conversation waits in the queue, unassigned
    assert handoff_of(server, "o_night_owl").state == HandoffState.QUEUED


def test_wechat_kf_mode_transfers_to_the_groups_account(server_factory: Callable[..., LiveServer]) -> None:
    server = with_groups(server_factory, CHATSHOP__HANDOFF__MODE="wechat_kf")
    customer = SandboxCustomer(server, "o_kf")
    # A complaint routes to the aftersale group, whose WeChat customer-service account takes it
    sent = customer.says("你们这服务态度太差了 气死我了")
    assert sent["reply"] == {"msgtype": "transfer_customer_service", "kf_account": "kf2002@gh_demo"}
    # a plain request for a person goes to the first group, which names no account: WeChat picks one
    other = SandboxCustomer(server, "o_kf_any")
    assert other.says("人工")["reply"] == {"msgtype": "transfer_customer_service", "kf_account": None}
    # nothing is queued in chatshop's own queue
    with server.services.factory() as session:
        assert session.scalars(select(Handoff)).all() == []


def test_mini_program_customers_are_transferred_too(server_factory: Callable[..., LiveServer]) -> None:
    server = with_groups(server_factory, CHATSHOP__HANDOFF__MODE="wechat_kf")
    customer = SandboxCustomer(server, "o_mp_kf", account="mp")
    assert customer.says("人工")["reply"] == {"msgtype": "transfer_customer_service", "kf_account": None}


def test_a_tag_rule_can_hand_a_customer_to_a_person(server_factory: Callable[..., LiveServer], tmp_path: Path) -> None:
    # Given a store whose rules send anyone searching for a product to a person
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - when: intent\n    intent: product_search\n    entities: [product]\n"
                     "    add: 意向客户-{product}\n    hand_off: true\n", encoding="utf-8")
    server = with_groups(server_factory, CHATSHOP__TAGS__RULES_PATH=str(rules))
    customer = SandboxCustomer(server, "o_rule")
    # When the customer asks for a product, the bot answers and a person takes over in the same turn
    customer.says("有没有连衣裙")
    handoff = handoff_of(server, "o_rule")
    assert (handoff.state, handoff.reason, handoff.group) == (HandoffState.QUEUED, HandoffReason.RULE, "presale")
    assert handoff.summary["intent"] == "product_search"


def test_with_an_agent_free_the_customer_hears_who_serves_them(server_factory: Callable[..., LiveServer]) -> None:
    server = with_groups(server_factory)
    with transaction(server.services.factory) as session:
        member = add_staff(session, config=StaffConfig(), username="xiaomei", password="correct horse battery",
                           role=Role.AGENT, display_name="小美", groups=["presale"], max_chats=2)
        set_status(session, staff_id=member.id, config=StaffConfig(), status=Status.ONLINE)
    customer = SandboxCustomer(server, "o_lucky")
    assert reply_text(customer.says("人工")) == "客服「小美」为您服务，请问有什么可以帮您？"
    handoff = handoff_of(server, "o_lucky")
    assert handoff.state == HandoffState.ASSIGNED and handoff.agent_id == member.id


def test_a_long_queue_tells_the_customer_their_place(server_factory: Callable[..., LiveServer]) -> None:
    server = with_groups(server_factory, CHATSHOP__HANDOFF__LONG_QUEUE="1")
    for n in range(2):
        SandboxCustomer(server, f"o_ahead_{n}").says("人工")
    told = reply_text(SandboxCustomer(server, "o_third").says("人工"))
    assert "您前面还有 2 位顾客在排队" in told
