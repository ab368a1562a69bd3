"""The messenger against the sandbox over HTTP: windows, quotas, retries, tokens, the outbox."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.errors import OutsideReplyWindow, QuotaExhausted, UnsupportedMessage
from bot.models import (
    DELIVERY_TRANSITIONS,
    Channel,
    ConversationMessage,
    Customer,
    Delivery,
    DeliveryEvent,
    IllegalTransition,
    move_delivery,
)
from bot.outgoing import MenuItem, MsgMenu, Text
from commerce.db import transaction, utcnow
from tests.bot.sandbox_client import SandboxCustomer, wait_until
from tests.support import LiveServer, free_port, start_sandbox

ServerFactory = Callable[..., LiveServer]
FAST_RETRIES = {"CHATSHOP__MESSENGER__RETRY_BACKOFF_S": "0.05", "CHATSHOP__MESSENGER__OUTBOX_POLL_S": "0.1"}
CUSTOM_SEND = "cgi-bin/message/custom/send"


def customer_id(server: LiveServer, openid: str, channel: Channel = Channel.OA) -> int:
    with server.services.factory() as session:
        found = session.scalar(select(Customer.id).where(Customer.openid == openid, Customer.channel == channel))
        assert found is not None, f"no customer {openid}"
        return found


def message_row(server: LiveServer, message_id: int) -> ConversationMessage:
    with server.services.factory() as session:
        return session.get_one(ConversationMessage, message_id)


def test_a_customer_message_allows_five_sends_and_the_sixth_is_refused_before_wechat(server: LiveServer) -> None:
    customer = SandboxCustomer(server, "o_chatty")
    customer.says("在吗")  # opens 5 messages within 48 h (the passive reply does not count)
    cid = customer_id(server, "o_chatty")
    messenger = server.services.messenger
    for n in range(5):
        assert messenger.send(customer_id=cid, message=Text(f"第{n + 1}条")) is Delivery.SENT
    with pytest.raises(QuotaExhausted) as refused:
        messenger.send(customer_id=cid, message=Text("第6条"))
    assert refused.value.errcode == 45047
    # WeChat saw exactly the five it accepted, not the refused one
    calls = customer.calls(CUSTOM_SEND)
    assert [call["errcode"] for call in calls] == [0] * 5


def test_no_window_means_no_call_to_wechat(server: LiveServer) -> None:
    with transaction(server.services.factory) as session:
        stranger = Customer(channel=Channel.OA, openid="o_never_wrote")
        session.add(stranger)
        session.flush()
        cid = stranger.id
    with pytest.raises(OutsideReplyWindow) as refused:
        server.services.messenger.send(customer_id=cid, message=Text("hello"))
    assert refused.value.errcode == 45015
    assert SandboxCustomer(server, "o_never_wrote").calls(CUSTOM_SEND) == []


def test_a_follow_opens_three_sends_within_a_minute_then_the_window_closes(server_factory: ServerFactory) -> None:
    server = server_factory({"CHATSHOP__MESSENGER__CLICK_WINDOW_S": "2"})
    customer = SandboxCustomer(server, "o_new_fan")
    customer.event("subscribe")
    customer.wait_for_api_messages(1)  # the menu used one of the three
    cid = customer_id(server, "o_new_fan")
    messenger = server.services.messenger
    assert messenger.send(customer_id=cid, message=Text("二")) is Delivery.SENT
    assert messenger.send(customer_id=cid, message=Text("三")) is Delivery.SENT
    with pytest.raises(QuotaExhausted):
        messenger.send(customer_id=cid, message=Text("四"))
    customer.says("我又来了")  # a message resets the window: 5 within 48 h
    assert messenger.send(customer_id=cid, message=Text("五")) is Delivery.SENT


def test_an_expired_window_refuses(server_factory: ServerFactory) -> None:
    server = server_factory({"CHATSHOP__MESSENGER__USER_MESSAGE_WINDOW_S": "1"})
    customer = SandboxCustomer(server, "o_slowpoke")
    customer.says("在吗")
    time.sleep(1.2)
    with pytest.raises(OutsideReplyWindow):
        server.services.messenger.send(customer_id=customer_id(server, "o_slowpoke"), message=Text("晚了"))
    assert customer.calls(CUSTOM_SEND) == []


def test_mini_program_service_cannot_send_a_menu(server: LiveServer) -> None:
    customer = SandboxCustomer(server, "o_mp_menu", account="mp")
    customer.says("你好")
    customer.wait_for_api_messages(1)
    cid = customer_id(server, "o_mp_menu", Channel.MP)
    menu = MsgMenu(head="选一个", items=(MenuItem("a", "A"),))
    with pytest.raises(UnsupportedMessage):
        server.services.messenger.send(customer_id=cid, message=menu)
    assert [call["body"]["msgtype"] for call in customer.calls(CUSTOM_SEND)] == ["text"]


@pytest.mark.parametrize("errcode", [45009, -1])
def test_busy_errors_are_retried_with_backoff_until_sent(server_factory: ServerFactory, errcode: int) -> None:
    server = server_factory(FAST_RETRIES)
    customer = SandboxCustomer(server, "o_busy")
    customer.says("在吗")
    customer.inject_fault(CUSTOM_SEND, errcode, times=2)
    delivery = server.services.messenger.send(customer_id=customer_id(server, "o_busy"), message=Text("稍等"))
    assert delivery is Delivery.PENDING  # the first try met the fault; the sweeper retries
    sent = wait_until(lambda: customer.received_via_api(), lambda got: len(got) == 1)
    assert [entry["payload"] for entry in sent] == [{"content": "稍等"}]
    assert [call["errcode"] for call in customer.calls(CUSTOM_SEND)] == [errcode, errcode, 0]
    # The sandbox records the call before the service hears the answer and marks the row sent.
    state = wait_until(lambda: _latest_text_delivery(server), lambda got: got[0] is not Delivery.SENDING)
    assert state == (Delivery.SENT, 3)


def _latest_text_delivery(server: LiveServer) -> tuple[Delivery | None, int]:
    with server.services.factory() as session:
        row = session.scalars(select(ConversationMessage).where(ConversationMessage.kind == "text")
                              .order_by(ConversationMessage.id.desc())).first()
        return (row.delivery, row.attempts) if row else (None, 0)


def test_retries_stop_after_max_attempts(server_factory: ServerFactory) -> None:
    server = server_factory({**FAST_RETRIES, "CHATSHOP__MESSENGER__MAX_ATTEMPTS": "2"})
    customer = SandboxCustomer(server, "o_doomed")
    customer.says("在吗")
    customer.inject_fault(CUSTOM_SEND, 45009, times=10)
    server.services.messenger.send(customer_id=customer_id(server, "o_doomed"), message=Text("x"))
    calls = wait_until(lambda: customer.calls(CUSTOM_SEND), lambda got: len(got) >= 2)
    time.sleep(0.5)  # time for a (wrong) third attempt to show up
    assert len(customer.calls(CUSTOM_SEND)) == len(calls) == 2
    with server.services.factory() as session:
        row = session.scalars(select(ConversationMessage).order_by(ConversationMessage.id.desc())).first()
        assert row is not None and row.delivery == Delivery.FAILED and row.error_code == 45009


def test_an_expired_access_token_is_refreshed_and_the_send_goes_through(server: LiveServer) -> None:
    customer = SandboxCustomer(server, "o_token")
    customer.says("在吗")
    cid = customer_id(server, "o_token")
    messenger = server.services.messenger
    assert messenger.send(customer_id=cid, message=Text("一")) is Delivery.SENT
    customer.expire_tokens()
    assert messenger.send(customer_id=cid, message=Text("二")) is Delivery.SENT
    codes = [call["errcode"] for call in customer.calls(CUSTOM_SEND, any_account=True)]
    assert codes == [0, 42001, 0]
    assert len(customer.calls("cgi-bin/token")) == 2


def test_unsent_messages_are_picked_up_after_a_restart(server_factory: ServerFactory) -> None:
    # Given WeChat (a sandbox of its own, which outlives our restarts) and a customer who wrote to us
    port = free_port()
    first = server_factory(port=port)
    wechat = start_sandbox(first.settings)
    try:
        moved = {"CHATSHOP__WECHAT__API_BASE_URL": wechat.base_url + "/api/"}
        first.stop()
        first = server_factory(moved, port=port)
        customer = SandboxCustomer(wechat.base_url, "o_recover")
        customer.says("在吗")
        cid = customer_id(first, "o_recover")
        # And a reply recorded as pending by a process that died before sending it
        with transaction(first.services.factory) as session:
            row = first.services.messenger.record(session, customer=session.get_one(Customer, cid),
                                                  message=Text("迟到的回复"), idempotency_key="test:recover")
            row.next_attempt_at = utcnow() - timedelta(seconds=1)
            pending_id = row.id
        first.stop()
        # When the service comes back, then its sweeper sends it, once
        second = server_factory(moved, port=port)
        sent = wait_until(lambda: message_row(second, pending_id).delivery, lambda d: d == Delivery.SENT)
        assert sent == Delivery.SENT
        assert [e["payload"] for e in customer.received_via_api()][-1] == {"content": "迟到的回复"}
        assert len([c for c in customer.calls(CUSTOM_SEND) if c["body"]["text"]["content"] == "迟到的回复"]) == 1
    finally:
        wechat.stop()


def test_a_message_caught_mid_send_is_marked_in_doubt_and_never_resent(server: LiveServer) -> None:
    customer = SandboxCustomer(server, "o_doubt")
    customer.says("在吗")
    cid = customer_id(server, "o_doubt")
    messenger = server.services.messenger
    with transaction(server.services.factory) as session:
        row = messenger.record(session, customer=session.get_one(Customer, cid), message=Text("也许发了"))
        row_id = row.id
    # A process claimed it (committed `sending`) and died before recording the outcome
    with transaction(server.services.factory) as session:
        session.execute(update(ConversationMessage).where(ConversationMessage.id == row_id).values(
            delivery=Delivery.SENDING, attempts=1, next_attempt_at=utcnow() - timedelta(seconds=1)))
    messenger.sweep()
    assert message_row(server, row_id).delivery == Delivery.IN_DOUBT
    messenger.sweep()
    assert customer.calls(CUSTOM_SEND) == []


def test_an_idempotency_key_sends_once(server: LiveServer) -> None:
    customer = SandboxCustomer(server, "o_once")
    customer.says("在吗")
    cid = customer_id(server, "o_once")
    messenger = server.services.messenger
    messenger.send(customer_id=cid, message=Text("只一次"), idempotency_key="order:42:paid")
    messenger.send(customer_id=cid, message=Text("只一次"), idempotency_key="order:42:paid")
    assert len(customer.calls(CUSTOM_SEND)) == 1


def test_typing_is_shown_only_where_wechat_allows_it(server: LiveServer) -> None:
    customer = SandboxCustomer(server, "o_typing")
    customer.says("在吗")
    cid = customer_id(server, "o_typing")
    messenger = server.services.messenger
    assert messenger.start_typing(cid) is True
    assert messenger.start_typing(cid) is False  # still active: WeChat would answer 45081
    assert [call["errcode"] for call in customer.calls("cgi-bin/message/custom/typing")] == [0]


def test_every_delivery_transition_is_recorded(server_factory: ServerFactory) -> None:
    server = server_factory(FAST_RETRIES)
    customer = SandboxCustomer(server, "o_audited")
    customer.says("在吗")
    customer.inject_fault(CUSTOM_SEND, 45009, times=1)
    server.services.messenger.send(customer_id=customer_id(server, "o_audited"), message=Text("记一笔"))
    wait_until(lambda: customer.received_via_api(), lambda got: len(got) == 1)

    def transitions() -> list[tuple[str, str, int | None]]:
        with server.services.factory() as session:
            events = session.scalars(select(DeliveryEvent).order_by(DeliveryEvent.id)).all()
            return [(e.from_state, e.to_state, e.error_code) for e in events]

    # The customer can have the message a moment before the service has recorded that it was sent.
    assert wait_until(transitions, lambda found: len(found) >= 4) == [
        ("pending", "sending", None), ("sending", "pending", 45009),
        ("pending", "sending", None), ("sending", "sent", None),
    ]


def test_a_transition_outside_the_table_is_refused(server: LiveServer) -> None:
    customer = SandboxCustomer(server, "o_strict")
    customer.says("在吗")
    with transaction(server.services.factory) as session:
        row = server.services.messenger.record(
            session, customer=session.get_one(Customer, customer_id(server, "o_strict")), message=Text("x"))
        with pytest.raises(IllegalTransition):
            move_delivery(session, row, Delivery.SENT, at=utcnow())  # pending -> sent skips the claim


def test_delivery_states_form_a_closed_table() -> None:
    assert set(DELIVERY_TRANSITIONS) == set(Delivery)
    terminal = {state for state, moves in DELIVERY_TRANSITIONS.items() if not moves}
    assert terminal == {Delivery.RECEIVED, Delivery.PASSIVE, Delivery.SENT, Delivery.REFUSED, Delivery.FAILED}
    # A doubtful message may be settled by a late answer, but never sent again
    assert DELIVERY_TRANSITIONS[Delivery.IN_DOUBT] == {Delivery.SENT, Delivery.REFUSED, Delivery.FAILED}
