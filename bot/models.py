"""Tables the conversation layer owns: customers, their conversations, reply windows, dedupe, caches."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.clock import utcnow
from storage.db import Base, UTCDateTime
from storage.sealing import SealedJSON, SealedText


class Channel(StrEnum):
    OA = "oa"  # the store's Official Account
    MP = "mp"  # the mini-program's customer service


class Direction(StrEnum):
    IN = "in"  # from the customer
    OUT = "out"  # to the customer


class Delivery(StrEnum):
    RECEIVED = "received"  # an inbound message, stored
    PASSIVE = "passive"  # answered in the webhook's HTTP response
    PENDING = "pending"  # recorded, waiting to go out through the customer-service API
    SENDING = "sending"  # claimed by a sender; WeChat is being called
    SENT = "sent"  # WeChat accepted it
    REFUSED = "refused"  # refused before sending (our rules) or by WeChat; not retried
    FAILED = "failed"  # retryable errors until attempts ran out
    IN_DOUBT = "in_doubt"  # the process stopped mid-call: WeChat may have it, so it is never resent


# The only moves a message's delivery state may make; anything else is a bug.
DELIVERY_TRANSITIONS: dict[Delivery, frozenset[Delivery]] = {
    Delivery.RECEIVED: frozenset(),
    Delivery.PASSIVE: frozenset(),
    Delivery.PENDING: frozenset({Delivery.SENDING, Delivery.REFUSED}),
    Delivery.SENDING: frozenset(
        {Delivery.SENT, Delivery.REFUSED, Delivery.FAILED, Delivery.PENDING, Delivery.IN_DOUBT}
    ),
    Delivery.SENT: frozenset(),
    Delivery.REFUSED: frozenset(),
    Delivery.FAILED: frozenset(),
    # A late answer from WeChat settles the doubt; a doubtful message is never sent again.
    Delivery.IN_DOUBT: frozenset({Delivery.SENT, Delivery.REFUSED, Delivery.FAILED}),
}


class WindowAction(StrEnum):
    """The customer actions that open (reset) a customer-service reply window."""

    MESSAGE = "message"  # the customer wrote to the Official Account
    CLICK = "click"  # menu click, follow, or QR-code scan
    PAYMENT = "payment"  # a successful payment
    MP_MESSAGE = "mp_message"  # the customer wrote in mini-program customer service
    MP_ENTER = "mp_enter"  # the customer entered the mini-program's service session


class InboundState(StrEnum):
    PROCESSING = "processing"  # claimed; the bot is working on it
    ANSWERED = "answered"  # the reply (possibly `success`) is stored for retries


# Rows the outbox sweeper looks at; the partial index below covers exactly these.
OUTBOX_PREDICATE = "delivery IN ('pending', 'sending')"
QUESTIONS_PREDICATE = "direction = 'in' AND kind = 'text'"


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("channel", "openid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[Channel] = mapped_column(String(8))
    openid: Mapped[str] = mapped_column(String(64))
    subscribed: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    typing_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The person behind the openid across the store's accounts (WeChat's unionid), once known.
    unionid: Mapped[str | None] = mapped_column(String(64), index=True)


class ConversationMessage(Base):
    """Every message in and out of a customer's conversation, with its delivery state.

    Outbound rows double as the durable outbox: a message is written here before it is sent.
    """

    __tablename__ = "conversation_messages"
    __table_args__ = (
        Index("ix_conversation_messages_customer_time", "customer_id", "created_at"),
        # Partial indexes: most rows (received, passive) never enter the outbox or carry a key,
        # so the webhook's inserts do not pay to maintain them.
        Index("ix_conversation_messages_outbox", "delivery", "next_attempt_at",
              sqlite_where=text(OUTBOX_PREDICATE), postgresql_where=text(OUTBOX_PREDICATE)),
        # A customer's line, in order: its first message is found without reading their history.
        Index("ix_conversation_messages_line", "customer_id", "id",
              sqlite_where=text(OUTBOX_PREDICATE), postgresql_where=text(OUTBOX_PREDICATE)),
        Index("uq_conversation_messages_idempotency_key", "idempotency_key", unique=True,
              sqlite_where=text("idempotency_key IS NOT NULL"),
              postgresql_where=text("idempotency_key IS NOT NULL")),
        # The numbers' roll-up counts a store day's questions (customers' texts) every few minutes: a range of
        # this index, not a scan of every message ever kept.
        Index("ix_conversation_messages_questions", "created_at",
              sqlite_where=text(QUESTIONS_PREDICATE), postgresql_where=text(QUESTIONS_PREDICATE)),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    direction: Mapped[Direction] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(32))
    body: Mapped[dict[str, Any]] = mapped_column(SealedJSON("conversation_messages.body"))  # sealed: what people write
    delivery: Mapped[Delivery] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    wechat_msg_id: Mapped[int | None] = mapped_column(BigInteger)
    idempotency_key: Mapped[str | None] = mapped_column(String(80))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(255))
    sent_by: Mapped[str | None] = mapped_column(String(64))  # the staff member who wrote it (None: the bot)


class DeliveryEvent(Base):
    """One row per delivery-state transition of an outbound message: the audit trail."""

    __tablename__ = "delivery_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("conversation_messages.id"), index=True)
    from_state: Mapped[Delivery] = mapped_column(String(16))
    to_state: Mapped[Delivery] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    error_code: Mapped[int | None] = mapped_column(Integer)


class IllegalTransition(RuntimeError):
    """A delivery state change the table does not allow: a bug, never a runtime condition."""


def move_delivery(
    session: Session, message: ConversationMessage, to: Delivery, *, at: datetime, error_code: int | None = None
) -> None:
    """Change a message's delivery state as the table allows, and record the transition."""
    current = Delivery(message.delivery)
    if to not in DELIVERY_TRANSITIONS[current]:
        raise IllegalTransition(f"message {message.id}: {current} -> {to}")
    message.delivery = to
    session.add(DeliveryEvent(message_id=message.id, from_state=current, to_state=to, at=at, error_code=error_code))


class ReplyWindow(Base):
    """A customer's current customer-service window: until when, and how many sends are left."""

    __tablename__ = "reply_windows"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    opened_by: Mapped[WindowAction] = mapped_column(String(16))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    quota: Mapped[int | None] = mapped_column(Integer)  # None: unlimited
    used: Mapped[int] = mapped_column(default=0)


class InboundMessage(Base):
    """One pushed message or event, claimed once; retries get the stored reply."""

    __tablename__ = "inbound_messages"

    dedupe_key: Mapped[str] = mapped_column(String(160), primary_key=True)
    state: Mapped[InboundState] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reply_xml: Mapped[str | None] = mapped_column(SealedText("inbound_messages.reply_xml"))  # may echo an address


class UnansweredQuestion(Base):
    """A customer question the bot could not answer (fallback) or was unsure of (suggest):
    the raw material of `chatshop kb gaps`, which shows staff which FAQs to add."""

    __tablename__ = "unanswered_questions"
    __table_args__ = (Index("ix_unanswered_questions_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[Channel] = mapped_column(String(8))
    openid: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(SealedText("unanswered_questions.text"))  # the customer's own words
    outcome: Mapped[str] = mapped_column(String(16))  # intents.kb.Outcome: fallback or suggest
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The FAQ the customer then tapped in the "猜你想问" menu (suggest only): their words for it.
    chosen_faq_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


# Conversations waiting for a person; the partial index keeps that lookup small.
HANDOFF_PREDICATE = "handoff_requested_at IS NOT NULL"


class DialogueState(Base):
    """A customer's dialogue tracker, updated every turn: slots, the active form, the latest parsed
    message and recent events (rasa_sdk's Tracker is rebuilt from these), plus the handoff mark."""

    __tablename__ = "dialogue_states"
    __table_args__ = (
        Index("ix_dialogue_states_handoff", "handoff_requested_at",
              sqlite_where=text(HANDOFF_PREDICATE), postgresql_where=text(HANDOFF_PREDICATE)),
    )

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    # Sealed: slots hold phone numbers and order numbers, the messages and events the customer's words.
    slots: Mapped[dict[str, Any]] = mapped_column(SealedJSON("dialogue_states.slots"))
    active_loop: Mapped[str | None] = mapped_column(String(64))
    latest_message: Mapped[dict[str, Any]] = mapped_column(SealedJSON("dialogue_states.latest_message"))
    events: Mapped[list[dict[str, Any]]] = mapped_column(SealedJSON("dialogue_states.events"))
    turns: Mapped[int] = mapped_column(Integer, default=0)
    handoff_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # set: a person should take over
    handoff_reason: Mapped[str | None] = mapped_column(String(32))  # asked | complaint | offered
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
