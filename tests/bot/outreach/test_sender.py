"""The subscribe sender against the sandbox over real HTTP: what WeChat would refuse is refused before
it is called (40037, 47003, 43101 with no credit), a credit is taken in the claim and given back when
WeChat did not take the message (45009), WeChat's 43101 zeroes the ledger, and a process that dies
mid-call never makes a customer get a message twice."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.conversation import customer_id as ensure_customer
from bot.models import Channel
from bot.outreach.consent import credit_now, record_consents
from bot.outreach.models import ConsentResult, SendState, Source, SubscribeMessage
from bot.outreach.sender import Claimed, SubscribeSender
from storage.clock import utcnow
from storage.db import transaction
from tests.support import LiveServer
from tests.support.sandbox_client import SandboxCustomer, wait_until

TEMPLATE = "sbx_mp_order_delivered"
DATA = {"character_string1": "SO20261204001", "thing2": "蓝色帆布鞋", "time3": "2026-12-04 15:01"}


@pytest.fixture
def server(quiet_server: LiveServer) -> LiveServer:
    return quiet_server  # outreach's jobs off: the test decides when the sender runs


@pytest.fixture
def sandbox(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url + "/sandbox", timeout=20) as http:
        yield http


def sender_of(server: LiveServer) -> SubscribeSender:
    assert server.services.outreach is not None
    return server.services.outreach.sender


def customer(server: LiveServer, sandbox: httpx.Client, openid: str, *, ours: int, wechat: int) -> int:
    """A mini-program customer with `ours` credits in the ledger and `wechat` consents at WeChat."""
    SandboxCustomer(server, openid, account="mp").event("user_enter_tempsession")
    if wechat:
        granted = sandbox.post("/control/consent", json={"account": "mp", "openid": openid, "template_id": TEMPLATE,
                                                         "count": wechat})
        assert granted.status_code == 200, granted.text
    with transaction(server.services.factory) as session:
        customer_id = ensure_customer(session, channel=Channel.MP, openid=openid, now=utcnow())
        for _ in range(ours):
            record_consents(session, customer_id=customer_id, results={TEMPLATE: ConsentResult.ACCEPT},
                            source="mp_request", registry=server.services.outreach.registry(),  # type: ignore[union-attr]
                            now=utcnow())
    return customer_id


def record(server: LiveServer, customer_id: int, *, template: str = TEMPLATE, data: dict[str, str] | None = None,
           key: str = "k") -> int:
    with transaction(server.services.factory) as session:
        row = sender_of(server).record(session, customer_id=customer_id, template_id=template, source=Source.NOTICE,
                                       data=data or DATA, page="pages/order/index?no=1",
                                       idempotency_key=f"{customer_id}:{key}")
        return row.id


def row_of(server: LiveServer, message_id: int) -> SubscribeMessage:
    with server.services.factory() as session:
        found = session.get(SubscribeMessage, message_id)
        assert found is not None
        return found


def received(server: LiveServer, openid: str) -> list[dict[str, Any]]:
    return [e for e in SandboxCustomer(server, openid, account="mp").transcript() if e["via"] == "subscribe"]


def calls(server: LiveServer) -> int:
    return len(SandboxCustomer(server, "x", account="mp").calls("cgi-bin/message/subscribe/send"))


def credits(server: LiveServer, customer_id: int) -> int:
    with server.services.factory() as session:
        return credit_now(session, customer_id=customer_id, template_id=TEMPLATE)


def test_a_message_with_a_credit_is_sent_once_and_the_credit_used(server: LiveServer, sandbox: httpx.Client) -> None:
    who = customer(server, sandbox, "o_send_ok", ours=1, wechat=1)
    message = record(server, who)
    assert record(server, who) == message  # the same key: the same message
    outcome = sender_of(server).deliver([message])
    assert outcome.sent == 1
    row = row_of(server, message)
    assert row.state == SendState.SENT and row.credits_left == 0 and credits(server, who) == 0
    assert [e["payload"]["data"]["thing2"] for e in received(server, "o_send_ok")] == [{"value": "蓝色帆布鞋"}]
    assert sender_of(server).deliver([message]).attempted == 0  # sent is final


@pytest.mark.parametrize(("template", "data", "errcode", "reason"), [
    ("sbx_no_such_template", DATA, 40037, "no template"),
    (TEMPLATE, {**DATA, "time3": "明天下午"}, 47003, "time3"),
    (TEMPLATE, {**DATA, "character_string1": "SO 2026"}, 47003, "character_string1"),
    (TEMPLATE, {**DATA, "amount9": "¥1"}, 47003, "amount9"),
    (TEMPLATE, {k: v for k, v in DATA.items() if k != "time3"}, 47003, "time3"),
])
def test_what_wechat_would_refuse_is_refused_before_calling_it(
    server: LiveServer, sandbox: httpx.Client, template: str, data: dict[str, str], errcode: int, reason: str,
) -> None:
    who = customer(server, sandbox, f"o_send_bad_{zlib.crc32(repr((template, data)).encode())}", ours=1, wechat=1)
    before = calls(server)
    outcome = sender_of(server).deliver([record(server, who, template=template, data=data)])
    assert outcome.refused == 1 and outcome.codes == {errcode: 1}
    assert calls(server) == before  # WeChat was never asked
    assert credits(server, who) == 1  # nor was a credit taken


def test_no_credit_is_43101_before_calling_wechat(server: LiveServer, sandbox: httpx.Client) -> None:
    who = customer(server, sandbox, "o_send_none", ours=0, wechat=1)
    before = calls(server)
    message = record(server, who)
    sender_of(server).deliver([message])
    row = row_of(server, message)
    assert (row.state, row.error_code, row.reason) == (SendState.REFUSED, 43101, "no consent credit")
    assert calls(server) == before


def test_wechats_43101_zeroes_the_ledger(server: LiveServer, sandbox: httpx.Client) -> None:
    # Given a ledger that counts two credits where WeChat holds none
    who = customer(server, sandbox, "o_send_stale_ledger", ours=2, wechat=0)
    message = record(server, who)
    sender_of(server).deliver([message])
    assert row_of(server, message).error_code == 43101
    assert credits(server, who) == 0


def test_a_rate_limit_gives_the_credit_back_and_the_message_goes_later(
    server: LiveServer, sandbox: httpx.Client,
) -> None:
    who = customer(server, sandbox, "o_send_throttled", ours=1, wechat=1)
    SandboxCustomer(server, "o_send_throttled", account="mp").inject_fault("cgi-bin/message/subscribe/send", 45009, 1)
    message = record(server, who)
    outcome = sender_of(server).deliver([message])
    assert outcome.rate_limited == 1 and outcome.retried == 1
    row = row_of(server, message)
    assert row.state == SendState.PENDING and row.attempts == 0 and credits(server, who) == 1
    # When its retry is due, the sweep sends it
    with transaction(server.services.factory) as session:
        session.get_one(SubscribeMessage, message).next_attempt_at = utcnow() - timedelta(seconds=1)
    sender_of(server).sweep()
    assert row_of(server, message).state == SendState.SENT and credits(server, who) == 0
    assert len(received(server, "o_send_throttled")) == 1


class Died(BaseException):
    """The process stopping mid-call (kill -9), as far as the rows can tell."""


def die_after_calling(sender: SubscribeSender, *, reached: bool) -> Callable[[Claimed], int]:
    real = sender._call

    def call(claim: Claimed) -> int:
        if reached:
            real(claim)
        raise Died

    return call


def past_lease(server: LiveServer, message_id: int) -> None:
    with transaction(server.services.factory) as session:
        session.get_one(SubscribeMessage, message_id).next_attempt_at = utcnow() - timedelta(seconds=1)


@pytest.mark.parametrize("reached", [True, False])
def test_a_send_cut_off_mid_call_reaches_the_customer_exactly_once(
    server: LiveServer, sandbox: httpx.Client, monkeypatch: pytest.MonkeyPatch, reached: bool,
) -> None:
    openid = f"o_send_died_{reached}"
    who = customer(server, sandbox, openid, ours=1, wechat=1)
    message = record(server, who)
    sender = sender_of(server)
    # When the process dies after claiming the message, before or after WeChat took it
    monkeypatch.setattr(sender, "_call", die_after_calling(sender, reached=reached))
    with pytest.raises(Died):
        sender.deliver([message])
    monkeypatch.undo()
    assert row_of(server, message).state == SendState.SENDING
    # Then, once its lease has passed, recovery probes it: it took the last credit, so WeChat refuses a copy
    past_lease(server, message)
    assert sender.settle_stale_claims() == 1
    sender.sweep()
    row = row_of(server, message)
    assert row.state == SendState.SENT
    assert len(received(server, openid)) == 1
    assert row.reason == ("delivered by the first attempt" if reached else None)


def test_a_cut_off_send_with_credits_to_spare_stays_in_doubt(
    server: LiveServer, sandbox: httpx.Client, monkeypatch: pytest.MonkeyPatch,
) -> None:
    who = customer(server, sandbox, "o_send_doubt", ours=2, wechat=2)
    message = record(server, who)
    sender = sender_of(server)
    monkeypatch.setattr(sender, "_call", die_after_calling(sender, reached=True))
    with pytest.raises(Died):
        sender.deliver([message])
    monkeypatch.undo()
    past_lease(server, message)
    sender.settle_stale_claims()
    sender.sweep()
    # A resend would be delivered again (WeChat holds a second consent): it stays in doubt, never resent
    row = row_of(server, message)
    assert row.state == SendState.IN_DOUBT and row.next_attempt_at is None
    assert len(received(server, "o_send_doubt")) == 1
    with server.services.factory() as session:
        assert session.scalar(select(SubscribeMessage.state).where(SubscribeMessage.id == message)) == "in_doubt"


def test_two_messages_of_one_template_to_a_customer_with_one_credit_send_one(
    server: LiveServer, sandbox: httpx.Client,
) -> None:
    who = customer(server, sandbox, "o_send_two_one_credit", ours=1, wechat=1)
    first, second = record(server, who, key="a"), record(server, who, key="b")
    before = calls(server)
    sender_of(server).deliver([first, second])
    sender_of(server).sweep()
    # (the server's own sweep job may have claimed one of them first: wait for both to settle)
    settled = wait_until(lambda: (row_of(server, first).state, row_of(server, second).state),
                         lambda states: SendState.SENDING not in states and SendState.PENDING not in states)
    assert settled == (SendState.SENT, SendState.REFUSED)
    assert row_of(server, second).error_code == 43101
    assert row_of(server, second).reason == "no consent credit"  # refused by the ledger ...
    assert calls(server) == before + 1  # ... so WeChat was asked once
    assert len(received(server, "o_send_two_one_credit")) == 1


def test_an_answer_after_the_lease_ran_out_is_kept_when_it_is_a_delivery(
    server: LiveServer, sandbox: httpx.Client, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a send so slow that its lease runs out and recovery settles it as in doubt mid-call
    who = customer(server, sandbox, "o_send_late", ours=2, wechat=2)
    message = record(server, who)
    sender = sender_of(server)
    real = sender._call

    def slow_call(claim: Claimed) -> int:
        past_lease(server, message)
        assert sender.settle_stale_claims() == 1  # another process's sweep, meanwhile
        return real(claim)

    monkeypatch.setattr(sender, "_call", slow_call)
    sender.deliver([message])
    # Then WeChat's late "ok" settles the doubt: sent, once
    row = row_of(server, message)
    assert (row.state, row.reason) == (SendState.SENT, "delivered (answered after its lease)")
    assert len(received(server, "o_send_late")) == 1
