"""The messenger against the sandbox over HTTP: windows, quotas, retries, tokens, the outbox."""

from __future__ import annotations

import json
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
from storage.clock import utcnow
from storage.db import transaction
from tests.support import LiveServer, free_port, start_sandbox
from tests.support.sandbox_client import SandboxCustomer, wait_until

ServerFactory = Callable[..., LiveServer]
FAST_RETRIES = {"CHATSHOP__MESSENGER__RETRY_BACKOFF_S": "0.05", "CHATSHOP__MESSENGER__OUTBOX_POLL_S": "0.1"}
CUSTOM_SEND = "cgi-bin/message/custom/send"


def customer_id(server: LiveServer, openid: str, channel: Channel = Channel.OA) -> int:
    with server.services.factory() as session:
        found = session.scalar(select(Customer.id).where(Customer.openid == openid, Customer.channel == channel))
        assert found is not None, f"no customer {openid}"
        return found


def messages_in_line(server: LiveServer, cid: int) -> list[int]:
    """The customer's messages not yet settled (pending or sending)."""
    with server.services.factory() as session:
        return list(session.scalars(select(ConversationMessage.id).where(
            ConversationMessage.customer_id == cid,
            ConversationMessage.delivery.in_([Delivery.PENDING, Delivery.SENDING]))))


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
    # The bot's answer to it (a menu, sent through the API) goes first, and "五" would wait behind it.
    customer.wait_for_api_messages(4)
    assert wait_until(lambda: messages_in_line(server, cid), lambda line: line == []) == []
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
    state = wait_until(lambda: _latest_text_delivery(server), _settled)
    assert state == (Delivery.SENT, 3)


def _settled(delivery: tuple[Delivery | None, int]) -> bool:
    # The row holds the state as a plain string: compare by value, not identity.
    return delivery[0] not in (Delivery.PENDING, Delivery.SENDING)


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


# -- one customer's messages arrive in the order they were written -------------------------------

# A retry waits until the test makes it due, so nothing else that happens meanwhile is a race.
RETRY_WHEN_TOLD = {"CHATSHOP__MESSENGER__RETRY_BACKOFF_S": "600", "CHATSHOP__MESSENGER__OUTBOX_POLL_S": "0.1"}
# The sweeper runs once at start and then only when the test calls it.
SWEEP_WHEN_TOLD = {"CHATSHOP__MESSENGER__RETRY_BACKOFF_S": "600", "CHATSHOP__MESSENGER__OUTBOX_POLL_S": "3600"}


def customer_who_wrote(server: LiveServer, openid: str) -> tuple[SandboxCustomer, int]:
    """A customer whose message just opened their reply window (5 sends), and their id."""
    customer = SandboxCustomer(server, openid)
    customer.says("在吗")
    return customer, customer_id(server, openid)


def queue_text(server: LiveServer, cid: int, content: str, *, writer_sends: bool = True) -> int:
    """Record a message as a conversation does and, unless its writer died first, send it after commit."""
    messenger = server.services.messenger
    with transaction(server.services.factory) as session:
        row = messenger.record(session, customer=session.get_one(Customer, cid), message=Text(content))
        if not writer_sends:
            row.next_attempt_at = utcnow() - timedelta(seconds=1)  # its grace is over: the sweeper's now
        row_id = row.id
    if writer_sends:
        messenger.deliver([row_id])
    return row_id


def make_due(server: LiveServer, message_id: int) -> None:
    """The retry's time has come."""
    with transaction(server.services.factory) as session:
        session.execute(update(ConversationMessage).where(ConversationMessage.id == message_id)
                        .values(next_attempt_at=utcnow() - timedelta(seconds=1)))


def deliveries(server: LiveServer, *message_ids: int) -> list[Delivery]:
    return [Delivery(message_row(server, i).delivery) for i in message_ids]


def wait_for_deliveries(server: LiveServer, message_ids: list[int], expected: list[Delivery]) -> list[Delivery]:
    """The messages' states once the sweeper has made them `expected`, or as they stand when waiting ends."""
    found: list[Delivery] = wait_until(lambda: deliveries(server, *message_ids), lambda got: got == expected)
    return found


def texts_sent_to(customer: SandboxCustomer) -> list[tuple[str, int]]:
    """What WeChat was asked to send this customer, in order, and what it answered each time."""
    # An injected fault answers before the body is parsed, so the sandbox records it as text.
    bodies = [(json.loads(c["body"]) if isinstance(c["body"], str) else c["body"], c["errcode"])
              for c in customer.calls(CUSTOM_SEND)]
    return [(body["text"]["content"], errcode) for body, errcode in bodies if body["touser"] == customer.openid]


def test_a_message_waits_behind_an_earlier_one_scheduled_for_a_retry_and_both_arrive_in_order(
    server_factory: ServerFactory,
) -> None:
    server = server_factory(RETRY_WHEN_TOLD)
    customer, cid = customer_who_wrote(server, "o_in_order")
    # Given a message that met a busy WeChat and is scheduled for a retry
    customer.inject_fault(CUSTOM_SEND, -1, times=1)
    first = queue_text(server, cid, "第一条")
    assert deliveries(server, first) == [Delivery.PENDING]
    # When a later message to the same customer is sent, then it waits: WeChat does not see it
    second = queue_text(server, cid, "第二条")
    assert deliveries(server, second) == [Delivery.PENDING]
    assert texts_sent_to(customer) == [("第一条", -1)]
    # When the retry falls due (the fault has cleared), then the customer reads them in the order written
    make_due(server, first)
    received = customer.wait_for_api_messages(2)
    assert [entry["payload"] for entry in received] == [{"content": "第一条"}, {"content": "第二条"}]
    assert wait_for_deliveries(server, [first, second], [Delivery.SENT] * 2) == [Delivery.SENT] * 2
    assert texts_sent_to(customer) == [("第一条", -1), ("第一条", 0), ("第二条", 0)]


@pytest.mark.parametrize(("faults", "first_ends"), [
    ([45009, 45009], Delivery.FAILED),  # its retries ran out (max_attempts is 2 here)
    ([-1, 43004], Delivery.REFUSED),  # WeChat refused it for good on the retry: the customer unfollowed
])
def test_a_message_that_fails_for_good_lets_the_next_one_go(
    server_factory: ServerFactory, faults: list[int], first_ends: Delivery
) -> None:
    server = server_factory({**RETRY_WHEN_TOLD, "CHATSHOP__MESSENGER__MAX_ATTEMPTS": "2"})
    customer, cid = customer_who_wrote(server, "o_gives_up")
    for errcode in faults:
        customer.inject_fault(CUSTOM_SEND, errcode, times=1)
    first = queue_text(server, cid, "第一条")
    second = queue_text(server, cid, "第二条")
    assert deliveries(server, first, second) == [Delivery.PENDING, Delivery.PENDING]
    make_due(server, first)
    assert wait_for_deliveries(server, [first, second], [first_ends, Delivery.SENT]) == [first_ends, Delivery.SENT]
    assert [entry["payload"] for entry in customer.received_via_api()] == [{"content": "第二条"}]
    assert texts_sent_to(customer) == [("第一条", faults[0]), ("第一条", faults[1]), ("第二条", 0)]


def test_one_customers_retry_holds_up_only_that_customers_messages(server_factory: ServerFactory) -> None:
    server = server_factory(SWEEP_WHEN_TOLD)
    waiting, waiting_id = customer_who_wrote(server, "o_waiting")
    other, other_id = customer_who_wrote(server, "o_other")
    # Given one customer's message scheduled for a retry, and two more to them queued behind it
    waiting.inject_fault(CUSTOM_SEND, -1, times=1)
    first = queue_text(server, waiting_id, "等一下")
    behind = [queue_text(server, waiting_id, text, writer_sends=False) for text in ("然后", "最后")]
    # When the other customer's messages go out, sent at once or left to the sweeper
    sent_at_once = queue_text(server, other_id, "马上")
    left_to_sweeper = queue_text(server, other_id, "稍后", writer_sends=False)
    server.services.messenger.sweep(limit=1)  # room for one message: the waiting ones must not take it
    # Then the other customer has both, and the waiting customer's line has not moved
    assert deliveries(server, sent_at_once, left_to_sweeper) == [Delivery.SENT, Delivery.SENT]
    assert [entry["payload"]["content"] for entry in other.received_via_api()] == ["马上", "稍后"]
    assert deliveries(server, first, *behind) == [Delivery.PENDING] * 3
    assert texts_sent_to(waiting) == [("等一下", -1)]


def test_one_sweep_sends_a_customers_waiting_messages_in_order_once_the_first_goes(
    server_factory: ServerFactory,
) -> None:
    server = server_factory(SWEEP_WHEN_TOLD)
    customer, cid = customer_who_wrote(server, "o_queue")
    customer.inject_fault(CUSTOM_SEND, 45009, times=1)
    queued = [queue_text(server, cid, text) for text in ("一", "二", "三")]
    assert deliveries(server, *queued) == [Delivery.PENDING] * 3
    make_due(server, queued[0])
    assert server.services.messenger.sweep() == 3
    assert deliveries(server, *queued) == [Delivery.SENT] * 3
    assert [entry["payload"]["content"] for entry in customer.received_via_api()] == ["一", "二", "三"]
