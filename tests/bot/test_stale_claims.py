"""A delivery that claimed a message and then died must not leave the customer without an answer.

The first delivery of each push here goes through the real endpoint, so the message is claimed and
logged by the real code; its turn then hangs in the dialogue, which leaves the database just as a
process that died mid-turn would. "The lease runs out" is the claim's time moved back a minute.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import xmltodict
from sqlalchemy import Engine, select, text, update

from bot.dialogue import Dialogue
from bot.inbound import Inbound
from bot.models import InboundMessage, InboundState
from bot.outgoing import Outgoing
from bot.tracker import DialogueSnapshot
from chatshop.settings import BotSettings
from storage.clock import utcnow
from storage.db import transaction
from tests.bot.test_conversation_flow import DEMO_FAQS, ServerFactory, conversation, demo_dialogue
from tests.bot.test_webhook_protocol import metric
from tests.support import Account, LiveServer, Push, open_reply, text_push
from tests.support.sandbox_client import wait_until

TAKEOVER_LOG = "takes the claim over"
DROPPED_LOG = "dropped the answer"


class FirstTurnHangs:
    """The real bot, except that the first turn hangs until the test releases it (then answers late),
    as the turn of a process that died mid-turn would never finish. Later turns can be held too."""

    def __init__(self, inner: Dialogue) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.turns = 0
        self.first_turn_started = threading.Event()
        self.release = threading.Event()
        self.later_turns_go = threading.Event()
        self.later_turns_go.set()

    def respond(self, inbound: Inbound, *, state: DialogueSnapshot | None = None) -> list[Outgoing]:
        with self._lock:
            self.turns += 1
            first = self.turns == 1
        if first:
            self.first_turn_started.set()
            self.release.wait(timeout=30)
        else:
            self.later_turns_go.wait(timeout=30)
        return self._inner.respond(inbound, state=state)


class Delivery(threading.Thread):
    """One push delivered to the webhook in the background; `body` is the webhook's answer."""

    def __init__(self, server: LiveServer, push: Push) -> None:
        super().__init__(daemon=True)
        self._server, self._push = server, push
        self.body: str | None = None

    def run(self) -> None:
        with self._server.client() as client:
            self.body = client.post("/wechat", params=self._push.params, content=self._push.body).text


@pytest.fixture
def hanging() -> Iterator[FirstTurnHangs]:
    dialogue = FirstTurnHangs(demo_dialogue(BotSettings()))
    yield dialogue
    dialogue.release.set()  # let the hung turn end before its server stops


def first_delivery_hangs(server: LiveServer, dialogue: FirstTurnHangs, push: Push) -> Delivery:
    delivery = Delivery(server, push)
    delivery.start()
    assert dialogue.first_turn_started.wait(timeout=10), "the first delivery never reached the bot"
    return delivery


def let_the_lease_run_out(server: LiveServer) -> str:
    """Move the claim's time a minute back (the lease is seconds); returns the message's dedupe key."""
    with transaction(server.services.factory) as session:
        [claim] = session.scalars(select(InboundMessage)).all()
        assert claim.state == InboundState.PROCESSING
        session.execute(update(InboundMessage).values(received_at=utcnow() - timedelta(minutes=1)))
        return claim.dedupe_key


@contextmanager
def both_reach_the_claim_together(server: LiveServer, retries: list[Delivery]) -> Iterator[None]:
    """On PostgreSQL, lock the claim's row until every retry's claim waits for it, so they all read
    it as stale before any can change it. (SQLite runs each claim under the database's write lock
    from its first statement: claims cannot interleave there.)"""
    engine = server.services.engine
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as holder, holder.begin():
        holder.execute(select(InboundMessage).with_for_update())
        yield
        waiting = wait_until(lambda: _waiting_for_locks(engine), lambda count: count >= len(retries))
        assert waiting == len(retries), "the retries' claims did not both wait for the claim's row"


def _waiting_for_locks(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )).scalar_one())


def retry(server: LiveServer, push: Push) -> str:
    with server.client() as client:
        return client.post("/wechat", params=push.params, content=push.body).text


def stored_reply(server: LiveServer) -> dict[str, Any] | None:
    """The reply kept for WeChat's retries, parsed (None while the message is not answered)."""
    with server.services.factory() as session:
        [row] = session.scalars(select(InboundMessage)).all()
        if row.state != InboundState.ANSWERED:
            return None
        parsed: dict[str, Any] = xmltodict.parse(row.reply_xml)["xml"]
        return parsed


def answer_text(body: str, account: Account) -> str:
    assert body != "success", "the retry got `success`, not an answer"
    reply = open_reply(body, account, encrypted=True)
    assert reply["MsgType"] == "text" and reply["ToUserName"] == "o_stranded"
    return str(reply["Content"])


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING)
    return caplog


def question(server: LiveServer, faq_index: int) -> tuple[dict[str, Any], Account, Push]:
    """A demo FAQ's question pushed as the customer's text message, with the FAQ to expect."""
    faq: dict[str, Any] = DEMO_FAQS[faq_index]
    account, push = text_push(server, faq["question"], openid="o_stranded")
    return faq, account, push


def records(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if text in record.getMessage()]


def test_a_retry_after_the_lease_takes_over_a_dead_claim_and_the_customer_gets_the_answer(
    server_factory: ServerFactory, hanging: FirstTurnHangs, logged: pytest.LogCaptureFixture
) -> None:
    server = server_factory(dialogue=hanging)
    faq, account, push = question(server, 0)
    stale_before = metric(server, "chatshop_webhook_errors_total", channel="oa", reason="stale_claim")
    # Given a delivery that claimed and logged the message, then died mid-turn, and a lease run out
    first = first_delivery_hangs(server, hanging, push)
    key = let_the_lease_run_out(server)
    # When WeChat retries the push
    body = retry(server, push)
    # Then the retry runs the turn and the customer gets the FAQ's answer as the passive reply
    assert answer_text(body, account) == faq["answer"]
    assert hanging.turns == 2
    assert stored_reply(server) == open_reply(body, account, encrypted=True)
    # And the takeover is logged with the message's key and counted
    [takeover] = records(logged, TAKEOVER_LOG)
    assert takeover.levelno == logging.WARNING and key in takeover.getMessage()
    assert metric(server, "chatshop_webhook_errors_total", channel="oa", reason="stale_claim") == stale_before + 1
    # When the dead turn comes back after all, its answer is dropped: the customer is answered once
    hanging.release.set()
    assert wait_until(lambda: records(logged, DROPPED_LOG), bool), "the late answer was not dropped"
    first.join(timeout=10)
    assert first.body == "success"
    assert stored_reply(server) == open_reply(body, account, encrypted=True)
    # And the message is in the conversation once, with one answer
    assert conversation(server) == [("in", "text", "received"), ("out", "text", "passive")]


def test_a_retry_while_the_claim_is_fresh_gets_success_and_no_second_turn(
    server_factory: ServerFactory, hanging: FirstTurnHangs, logged: pytest.LogCaptureFixture
) -> None:
    server = server_factory(dialogue=hanging)
    faq, account, push = question(server, 1)
    # Given a delivery whose turn is still running, its claim inside the lease
    first = first_delivery_hangs(server, hanging, push)
    # When WeChat retries the push
    body = retry(server, push)
    # Then the retry gets `success`, the bot is not asked again, and nothing is taken over
    assert body == "success"
    assert hanging.turns == 1
    assert not records(logged, TAKEOVER_LOG)
    # And the first delivery's answer is the one the customer gets
    hanging.release.set()
    first.join(timeout=10)
    assert first.body is not None and answer_text(first.body, account) == faq["answer"]
    assert hanging.turns == 1
    assert conversation(server) == [("in", "text", "received"), ("out", "text", "passive")]


def test_two_concurrent_retries_of_a_dead_claim_run_one_turn(
    server_factory: ServerFactory, hanging: FirstTurnHangs, logged: pytest.LogCaptureFixture
) -> None:
    # Two processes on one database, as behind a load balancer
    one, two = server_factory(dialogue=hanging), server_factory(dialogue=hanging)
    faq, account, push = question(one, 2)
    first = first_delivery_hangs(one, hanging, push)
    let_the_lease_run_out(one)
    # When two retries of the push arrive at once, one at each process, and a turn they start is held
    # until one of them has been answered (so neither can see the other's stored reply)
    hanging.later_turns_go.clear()
    retries = [Delivery(one, push), Delivery(two, push)]
    with both_reach_the_claim_together(one, retries):
        for delivery in retries:
            delivery.start()
    answered = wait_until(lambda: [d.body for d in retries if d.body is not None], bool)
    hanging.later_turns_go.set()
    for delivery in retries:
        delivery.join(timeout=15)
    # Then one of them found the claim taken over again and got `success`; the other ran the one turn
    assert answered == ["success"], "one retry should get `success` while the turn of the other is held"
    bodies = sorted((delivery.body or "" for delivery in retries), key=lambda body: body != "success")
    assert bodies[0] == "success"
    assert answer_text(bodies[1], account) == faq["answer"]
    assert hanging.turns == 2
    assert len(records(logged, TAKEOVER_LOG)) == 1
    hanging.release.set()
    assert wait_until(lambda: records(logged, DROPPED_LOG), bool), "the late answer was not dropped"
    first.join(timeout=10)
    assert conversation(one) == [("in", "text", "received"), ("out", "text", "passive")]
