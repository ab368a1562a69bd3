"""Conversation bookkeeping around one inbound message: claim it once, log it, store the answer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.config import WindowRule
from bot.inbound import Inbound
from bot.messenger import Messenger
from bot.models import (
    ConversationMessage,
    Customer,
    Delivery,
    Direction,
    InboundMessage,
    InboundState,
    WindowAction,
)
from bot.outgoing import Outgoing, to_body
from bot.windows import open_window
from commerce.db import transaction, utcnow


@dataclass(frozen=True)
class Claimed:
    """A first delivery of this message: ours to answer."""

    inbound: Inbound
    customer_id: int


@dataclass(frozen=True)
class AlreadySeen:
    """A retry (or a copy): answer with the stored reply, or `success` while it is in progress."""

    reply_xml: str | None


class Conversations:
    def __init__(
        self,
        *,
        factory: sessionmaker[Session],
        messenger: Messenger,
        windows: Mapping[WindowAction, WindowRule],
        dedupe_ttl_s: int = 86400,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._dedupe_ttl_s = dedupe_ttl_s
        self._factory = factory
        self._messenger = messenger
        self._windows = windows
        self._clock = clock

    def receive(self, inbound: Inbound) -> Claimed | AlreadySeen:
        """Claim the message (dedupe that survives restarts), log it, and open the reply window."""
        customer_id = self._customer_id(inbound)
        now = self._clock()
        try:
            with transaction(self._factory) as session:
                session.add(InboundMessage(dedupe_key=inbound.dedupe_key, state=InboundState.PROCESSING,
                                           received_at=now))
                session.flush()
                self._log_inbound(session, inbound, customer_id, now)
        except IntegrityError:
            return self._stored_reply(inbound.dedupe_key)
        return Claimed(inbound, customer_id)

    def answer(
        self,
        claimed: Claimed,
        *,
        passive: Outgoing | None,
        passive_xml: str,
        queued: list[Outgoing],
    ) -> list[int]:
        """Store the answer in one transaction: the passive reply (kept for retries) and the
        messages to send through the customer-service API. Returns the ids to deliver."""
        now = self._clock()
        with transaction(self._factory) as session:
            customer = session.get_one(Customer, claimed.customer_id)
            if passive is not None:
                session.add(ConversationMessage(customer_id=customer.id, direction=Direction.OUT,
                                                kind=passive.kind, body=to_body(passive),
                                                delivery=Delivery.PASSIVE, created_at=now, sent_at=now))
            key_base = claimed.inbound.dedupe_key
            ids = [
                self._messenger.record(session, customer=customer, message=message,
                                       idempotency_key=f"reply:{key_base}:{index}").id
                for index, message in enumerate(queued)
            ]
            stored = session.get_one(InboundMessage, key_base)
            stored.state, stored.reply_xml = InboundState.ANSWERED, passive_xml
        return ids

    def forget_old_deliveries(self) -> int:
        """Drop dedupe records WeChat can no longer retry (it gives up within seconds)."""
        cutoff = self._clock() - timedelta(seconds=self._dedupe_ttl_s)
        with transaction(self._factory) as session:
            removed = session.execute(delete(InboundMessage).where(InboundMessage.received_at < cutoff))
            return int(removed.rowcount)  # type: ignore[attr-defined]

    def _customer_id(self, inbound: Inbound) -> int:
        for _ in range(3):  # two first messages of a new customer may race to create the row
            try:
                with transaction(self._factory) as session:
                    return _get_or_create_customer(session, inbound)
            except IntegrityError:
                continue
        raise RuntimeError(f"could not create customer {inbound.channel}:{inbound.openid}")

    def _log_inbound(self, session: Session, inbound: Inbound, customer_id: int, now: datetime) -> None:
        customer = session.get_one(Customer, customer_id)
        customer.last_inbound_at = now
        if inbound.kind == "subscribe":
            customer.subscribed = True
        elif inbound.kind == "unsubscribe":
            customer.subscribed = False
        session.add(ConversationMessage(
            customer_id=customer_id, direction=Direction.IN, kind=inbound.kind,
            body=_inbound_body(inbound), delivery=Delivery.RECEIVED, created_at=now,
            wechat_msg_id=inbound.msg_id,
        ))
        action = inbound.window_action
        if action is not None:
            open_window(session, customer_id=customer_id, action=action, rules=self._windows, now=now)

    def _stored_reply(self, dedupe_key: str) -> AlreadySeen:
        with transaction(self._factory) as session:
            stored = session.get_one(InboundMessage, dedupe_key)
            return AlreadySeen(stored.reply_xml if stored.state == InboundState.ANSWERED else None)


def _get_or_create_customer(session: Session, inbound: Inbound) -> int:
    found = session.scalar(
        select(Customer.id).where(Customer.channel == inbound.channel, Customer.openid == inbound.openid)
    )
    if found is not None:
        return found
    customer = Customer(channel=inbound.channel, openid=inbound.openid)
    session.add(customer)
    session.flush()
    return customer.id


def _inbound_body(inbound: Inbound) -> dict[str, str]:
    body = {"content": inbound.content, "event_key": inbound.event_key, "menu_id": inbound.menu_id,
            "session_from": inbound.session_from}
    return {key: value for key, value in body.items() if value}
