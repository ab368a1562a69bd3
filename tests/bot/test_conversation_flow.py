"""A customer's conversation end to end: sandbox customer → webhook → bot → passive reply or API."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml
from sqlalchemy import func, select

from bot.config import DialogueConfig
from bot.dialogue import Dialogue
from bot.inbound import Inbound
from bot.models import ConversationMessage, Delivery, Direction, InboundMessage
from bot.outgoing import Outgoing
from bot.tracker import DialogueSnapshot
from chatshop.settings import BotSettings
from intents.kb_source import KnowledgeBaseSource
from tests.support import DEMO_KB, LiveServer, open_reply, text_push
from tests.support.sandbox_client import SandboxCustomer, wait_until

ServerFactory = Callable[..., LiveServer]
DEMO_FAQS = yaml.safe_load(Path(DEMO_KB).read_text(encoding="utf-8"))["faqs"]


def conversation(server: LiveServer) -> list[tuple[str, str, str]]:
    """The conversation log, once every send has settled.

    The sandbox records a call before the service hears WeChat's answer and marks the row sent,
    so a test that saw the message arrive must still wait for the service's own bookkeeping.
    """
    return wait_until(lambda: _conversation_rows(server), lambda rows: not any(d in IN_FLIGHT for *_, d in rows))


IN_FLIGHT = frozenset({Delivery.PENDING, Delivery.SENDING})


def _conversation_rows(server: LiveServer) -> list[tuple[str, str, str]]:
    with server.services.factory() as session:
        rows = session.scalars(select(ConversationMessage).order_by(ConversationMessage.id))
        return [(row.direction, row.kind, row.delivery) for row in rows]


def test_follow_gets_a_welcome_then_a_menu_whose_tap_answers_that_faq(server: LiveServer) -> None:
    customer = SandboxCustomer(server, "o_follower")
    # When the customer follows the account
    followed = customer.event("subscribe")
    # Then the welcome comes back passively and the "猜你想问" menu through the API
    assert followed["reply"]["msgtype"] == "text"
    assert "欢迎" in followed["reply"]["content"]
    [menu] = customer.wait_for_api_messages(1)
    assert menu["msgtype"] == "msgmenu"
    items = menu["payload"]["list"]
    assert len(items) == 5
    # When the customer taps the second item
    item = items[1]
    tapped = customer.taps(str(item["id"]), item["content"])
    # Then that FAQ's answer comes back
    faq = next(f for f in DEMO_FAQS if f["id"] == item["id"])
    assert tapped["reply"]["content"] == faq["answer"]
    # And every message is in the conversation with its kind and delivery state
    assert conversation(server) == [
        ("in", "subscribe", "received"), ("out", "text", "passive"), ("out", "msgmenu", "sent"),
        ("in", "text", "received"), ("out", "text", "passive"),
    ]


def test_questions_are_answered_from_the_kb_and_unknown_ones_get_the_fallback(server: LiveServer) -> None:
    customer = SandboxCustomer(server, "o_asker")
    faq = DEMO_FAQS[0]
    answered = customer.says(faq["similar"][0])
    assert answered["reply"]["content"] == faq["answer"]
    unknown = customer.says("你们老板喜欢吃榴莲吗")
    assert unknown["reply"]["content"] == server.settings.bot.fallback


def test_a_retry_gets_the_same_reply_byte_for_byte_even_after_a_restart(server_factory: ServerFactory) -> None:
    server = server_factory()
    account, push = text_push(server, "怎么退货", openid="o_retry")
    with server.client() as client:
        first = client.post("/wechat", params=push.params, content=push.body)
        again = client.post("/wechat", params=push.params, content=push.body)
    first_reply = open_reply(first.text, account, encrypted=True)
    assert open_reply(again.text, account, encrypted=True) == first_reply
    server.stop()
    # A new process on the same database (and the same account) still knows the message
    restarted = server_factory()
    with restarted.client() as client:
        after_restart = client.post("/wechat", params=push.params, content=push.body)
    assert open_reply(after_restart.text, account, encrypted=True) == first_reply
    assert conversation(restarted) == [("in", "text", "received"), ("out", "text", "passive")]


def test_concurrent_copies_of_one_message_are_handled_once(server: LiveServer) -> None:
    account, push = text_push(server, "运费多少", openid="o_burst")
    bodies: list[str] = []

    def post() -> None:
        with server.client() as client:
            bodies.append(client.post("/wechat", params=push.params, content=push.body).text)

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(bodies) == 6
    assert conversation(server) == [("in", "text", "received"), ("out", "text", "passive")]
    replies = {open_reply(body, account, encrypted=True)["Content"] for body in bodies if body != "success"}
    assert len(replies) == 1


class SlowDialogue:
    """The real bot, held until the test releases it, as a bot waiting on a slow backend would be."""

    def __init__(self, inner: Dialogue) -> None:
        self._inner = inner
        self.release = threading.Event()
        self.answered = threading.Event()

    def respond(self, inbound: Inbound, *, state: DialogueSnapshot | None = None) -> list[Outgoing]:
        self.release.wait(timeout=30)
        replies = self._inner.respond(inbound, state=state)
        self.answered.set()
        return replies


class BrokenDialogue:
    def respond(self, inbound: Inbound, *, state: DialogueSnapshot | None = None) -> list[Outgoing]:
        raise RuntimeError("the bot's backend is down")


def demo_dialogue(bot_settings: BotSettings) -> Dialogue:
    config = DialogueConfig(**bot_settings.model_dump())
    return Dialogue(kb=KnowledgeBaseSource(DEMO_KB, 0.38), config=config)


def test_over_budget_the_webhook_says_success_and_the_reply_follows_through_the_api(
    server_factory: ServerFactory,
) -> None:
    slow = SlowDialogue(demo_dialogue(BotSettings()))
    server = server_factory({"CHATSHOP__WECHAT__REPLY_BUDGET_MS": "200"}, dialogue=slow)
    customer = SandboxCustomer(server, "o_patient")
    faq = DEMO_FAQS[3]
    # When the bot is still working when the budget runs out
    sent = customer.says(faq["question"])
    # Then the webhook has already answered `success`, without waiting for the bot
    assert sent["reply"] is None and sent["raw"] == "success"
    assert not slow.answered.is_set()
    # And once the bot answers, the customer gets it through the customer-service API, after "typing"
    slow.release.set()
    [answer] = customer.wait_for_api_messages(1)
    assert answer["payload"] == {"content": faq["answer"]}
    typing = customer.calls("cgi-bin/message/custom/typing")
    assert [call["errcode"] for call in typing] == [0]
    sends = customer.calls("cgi-bin/message/custom/send")
    assert typing[0]["seq"] < sends[0]["seq"]
    assert conversation(server) == [("in", "text", "received"), ("out", "text", "sent")]


def test_a_failing_bot_answers_success_and_retries_do_not_rerun_it(server_factory: ServerFactory) -> None:
    server = server_factory(dialogue=BrokenDialogue())
    _, push = text_push(server, "在吗", openid="o_unlucky")
    with server.client() as client:
        first = client.post("/wechat", params=push.params, content=push.body)
        retry = client.post("/wechat", params=push.params, content=push.body)
        health = client.get("/healthz")
    assert (first.status_code, first.text) == (200, "success")
    assert (retry.status_code, retry.text) == (200, "success")
    assert health.status_code == 200
    with server.services.factory() as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 1


def test_mini_program_service_answers_through_the_api_only(server: LiveServer) -> None:
    customer = SandboxCustomer(server, "o_mp_shopper", account="mp")
    entered = customer.event("user_enter_tempsession", session_from="goods:1001")
    assert entered["reply"] is None  # mini-program service takes no passive replies
    [welcome] = customer.wait_for_api_messages(1)
    assert welcome["msgtype"] == "text"
    faq = DEMO_FAQS[1]
    asked = customer.says(faq["question"])
    assert asked["reply"] is None
    messages = customer.wait_for_api_messages(2)
    assert messages[1]["payload"] == {"content": faq["answer"]}
    assert [d for _, _, d in conversation(server) if d != "received"] == ["sent", "sent"]


def test_healthz_reports_an_unreachable_database(server_factory: ServerFactory) -> None:
    healthy = server_factory()
    assert httpx.get(healthy.base_url + "/healthz").json() == {"status": "ok"}
    unreachable = server_factory({"CHATSHOP__DATABASE__URL": "postgresql://postgres@127.0.0.1:9/none"})
    response = httpx.get(unreachable.base_url + "/healthz", timeout=30)
    assert response.status_code == 503


def test_metrics_count_messages_replies_and_latency(server: LiveServer) -> None:
    SandboxCustomer(server, "o_counted").says("什么时候发货")
    text = httpx.get(server.base_url + "/metrics").text
    assert 'chatshop_messages_in_total{channel="oa",kind="text"}' in text
    assert 'chatshop_replies_total{channel="oa",kind="text"}' in text
    assert 'chatshop_webhook_latency_seconds_bucket{channel="oa",le="0.1"}' in text
    assert "chatshop_messages_out_total" in text
    with server.services.factory() as session:
        out = session.scalars(select(ConversationMessage).where(ConversationMessage.direction == Direction.OUT))
        assert [row.delivery for row in out] == [Delivery.PASSIVE]


def test_dedupe_records_are_forgotten_after_their_ttl(server: LiveServer) -> None:
    from datetime import timedelta

    from bot.models import InboundState
    from storage.clock import utcnow
    from storage.db import transaction

    SandboxCustomer(server, "o_recent").says("在吗")
    with transaction(server.services.factory) as session:
        session.add(InboundMessage(dedupe_key="oa:msg:1", state=InboundState.ANSWERED,
                                   received_at=utcnow() - timedelta(days=2), reply_xml=""))
    assert server.services.conversations.forget_old_deliveries() == 1
    with server.services.factory() as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 1  # the recent one stays
