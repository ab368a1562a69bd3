"""Tables of outreach: the consent ledger, the subscribe-message outbox, order notices, cart reminders,
opt-outs and campaigns.

The ledger is the store's own count of each customer's consents per template, because WeChat offers no
API to ask how many are left: an `accept` adds one credit, a send takes one in the transaction that
claims the message, and WeChat's 43101 sets it to zero. Every change is a `consent_events` row.

`subscribe_messages` is the outbox of subscribe messages, as `conversation_messages` is of
customer-service ones: a row is claimed and committed (`sending`) before WeChat is called, so a
process killed mid-call leaves a row that recovery settles instead of sending twice. A campaign's
recipients are rows of it too (one per customer, with their skip reason when not sent).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, UTCDateTime


class ConsentResult(StrEnum):
    """What wx.requestSubscribeMessage (or the Official Account's popup) returned for one template."""

    ACCEPT = "accept"  # one credit: one send allowed
    REJECT = "reject"  # the customer said no this time
    BAN = "ban"  # WeChat banned the template for this account
    FILTER = "filter"  # WeChat filtered the template out (its title duplicates another)


class CreditChange(StrEnum):
    """Why a customer's credits for a template changed (consent_events.change)."""

    ACCEPTED = "accepted"  # +1
    REFUSED = "refused"  # reject / ban / filter: no change, recorded for the audit
    TURNED_OFF = "turned_off"  # the customer switched the template off: zero
    USED = "used"  # -1: a send claimed it
    RETURNED = "returned"  # +1: WeChat did not take the send (a transient error)
    ZEROED = "zeroed"  # WeChat answered 43101: it holds no consent, whatever the ledger said


class SubscribeCredit(Base):
    __tablename__ = "subscribe_credits"
    __table_args__ = (CheckConstraint("credits >= 0", name="credits_not_negative"),)

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    template_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    credits: Mapped[int] = mapped_column(Integer, default=0)
    last_result: Mapped[str] = mapped_column(String(16))  # the latest ConsentResult or change
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConsentEvent(Base):
    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    template_id: Mapped[str] = mapped_column(String(128))
    change: Mapped[CreditChange] = mapped_column(String(16))
    result: Mapped[str | None] = mapped_column(String(16))  # the ConsentResult, for consents
    source: Mapped[str] = mapped_column(String(24))  # mp_request | oa_popup | oa_change | send | wechat
    message_id: Mapped[int | None] = mapped_column(Integer)  # the subscribe message that used or lost it
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class SendState(StrEnum):
    PENDING = "pending"  # recorded, waiting to be claimed (or a retry is due at next_attempt_at)
    SENDING = "sending"  # claimed with its credit; WeChat is being called
    SENT = "sent"  # WeChat accepted it
    REFUSED = "refused"  # refused before sending (no credit, bad data) or by WeChat; not retried
    FAILED = "failed"  # transient errors until its attempts ran out
    IN_DOUBT = "in_doubt"  # the process stopped mid-call and WeChat might have it: not resent blindly
    SKIPPED = "skipped"  # never to be sent: no credit, opted out, holdout, cancelled (campaigns)


SEND_TRANSITIONS: dict[SendState, frozenset[SendState]] = {
    SendState.PENDING: frozenset({SendState.SENDING, SendState.REFUSED, SendState.SKIPPED}),
    SendState.SENDING: frozenset({SendState.SENT, SendState.REFUSED, SendState.FAILED, SendState.PENDING,
                                  SendState.IN_DOUBT}),
    # A doubt is settled by a probe only WeChat's own consent check makes safe (see sender.py).
    SendState.IN_DOUBT: frozenset({SendState.SENDING, SendState.SENT, SendState.REFUSED}),
    SendState.SENT: frozenset(),
    SendState.REFUSED: frozenset(),
    SendState.FAILED: frozenset(),
    SendState.SKIPPED: frozenset(),
}

# Rows a sender looks at; the partial index below covers exactly these.
LIVE_PREDICATE = "state IN ('pending', 'sending', 'in_doubt')"


class Source(StrEnum):
    NOTICE = "notice"  # an order notice
    REMINDER = "reminder"  # an abandoned-cart reminder
    CAMPAIGN = "campaign"  # a marketer's campaign


class SubscribeMessage(Base):
    __tablename__ = "subscribe_messages"
    __table_args__ = (
        Index("ix_subscribe_messages_live", "next_attempt_at", "id",
              sqlite_where=text(LIVE_PREDICATE), postgresql_where=text(LIVE_PREDICATE)),
        Index("ix_subscribe_messages_campaign", "campaign_id", "state"),
        Index("ix_subscribe_messages_customer", "customer_id", "created_at"),
        Index("uq_subscribe_messages_key", "idempotency_key", unique=True,
              sqlite_where=text("idempotency_key IS NOT NULL"), postgresql_where=text("idempotency_key IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    template_id: Mapped[str] = mapped_column(String(128))
    source: Mapped[Source] = mapped_column(String(16))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    data: Mapped[dict[str, str] | None] = mapped_column(JSON)  # None: the campaign's data
    page: Mapped[str] = mapped_column(String(255), default="")
    state: Mapped[SendState] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(255))  # why skipped, refused or failed
    idempotency_key: Mapped[str | None] = mapped_column(String(80))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error_code: Mapped[int | None] = mapped_column(Integer)
    # The credits left after this send claimed one: 0 means WeChat itself refuses a second delivery.
    credits_left: Mapped[int | None] = mapped_column(Integer)


class OptOut(Base):
    """A customer who replied 退订: no reminders and no campaigns (order notices still go)."""

    __tablename__ = "outreach_optouts"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class NoticeVia(StrEnum):
    SUBSCRIBE = "subscribe"  # a subscribe message, on a credit
    SERVICE = "service"  # a customer-service message, the reply window being open
    NONE = "none"  # nothing could be sent: the reason says why


class OrderNotice(Base):
    """One row per order event the notices handled: what was sent for it, or why nothing was."""

    __tablename__ = "order_notices"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)  # event:<id> or expiring:<order_no>
    order_no: Mapped[str] = mapped_column(String(32), index=True)
    purpose: Mapped[str] = mapped_column(String(24))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    via: Mapped[NoticeVia] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(255))
    message_id: Mapped[int | None] = mapped_column(Integer)  # subscribe_messages or conversation_messages id
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReminderState(StrEnum):
    HELD = "held"  # due in quiet hours: goes in the morning
    SENT = "sent"  # a subscribe message or a card went out
    HOLDOUT = "holdout"  # the customer is in the holdout share: never reminded, counted for the lift
    STOPPED = "stopped"  # the cart changed, emptied or was paid, or the customer opted out, before it went
    NOT_SENT = "not_sent"  # no credit and no open window, a weekly cap reached, or WeChat refused


class CartReminder(Base):
    """At most one per cart: a cart is its owner and the moment it was last touched."""

    __tablename__ = "cart_reminders"
    __table_args__ = (Index("uq_cart_reminders_cart", "openid", "cart_touched_at", unique=True),
                      Index("ix_cart_reminders_customer", "customer_id", "created_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    openid: Mapped[str] = mapped_column(String(64))
    cart_touched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sku_id: Mapped[str] = mapped_column(String(64))
    cart_fen: Mapped[int] = mapped_column(Integer)
    state: Mapped[ReminderState] = mapped_column(String(16))
    holdout: Mapped[bool] = mapped_column(Boolean, default=False)
    via: Mapped[str | None] = mapped_column(String(16))  # subscribe | service
    reason: Mapped[str | None] = mapped_column(String(255))
    message_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CampaignState(StrEnum):
    DRAFT = "draft"  # being written; nothing happens
    SCHEDULED = "scheduled"  # starts sending at scheduled_at
    SENDING = "sending"  # recipients planned, messages going out
    PAUSED = "paused"  # stopped where it was; resume carries on from there
    DONE = "done"  # every recipient sent, skipped or failed
    CANCELLED = "cancelled"  # stopped for good; what was not sent is skipped


CAMPAIGN_TRANSITIONS: dict[CampaignState, frozenset[CampaignState]] = {
    CampaignState.DRAFT: frozenset({CampaignState.SCHEDULED, CampaignState.CANCELLED}),
    CampaignState.SCHEDULED: frozenset({CampaignState.DRAFT, CampaignState.SENDING, CampaignState.PAUSED,
                                        CampaignState.CANCELLED}),
    CampaignState.SENDING: frozenset({CampaignState.PAUSED, CampaignState.DONE, CampaignState.CANCELLED}),
    # Resumed: back to sending where it stopped, or to scheduled if it had not started.
    CampaignState.PAUSED: frozenset({CampaignState.SENDING, CampaignState.SCHEDULED, CampaignState.CANCELLED}),
    CampaignState.DONE: frozenset(),
    CampaignState.CANCELLED: frozenset(),
}


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    audience: Mapped[str] = mapped_column(String(500))  # a tag expression, as the staff API takes
    template_id: Mapped[str] = mapped_column(String(128))
    data: Mapped[dict[str, str]] = mapped_column(JSON)  # field key → value, checked against the template
    page: Mapped[str] = mapped_column(String(255), default="")
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    throttle_per_s: Mapped[int] = mapped_column(Integer, default=0)  # 0: as fast as WeChat takes them
    holdout_pct: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[CampaignState] = mapped_column(String(16), index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    planned: Mapped[bool] = mapped_column(Boolean, default=False)  # its recipient rows are written
    audience_size: Mapped[int | None] = mapped_column(Integer)


class CampaignEvent(Base):
    """One row per campaign state change: who moved it, from what, to what."""

    __tablename__ = "campaign_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class PageOpen(Base):
    """A mini-program page opened from a message: `src` (campaign, cart_reminder, notice, card ...) and
    the id it carried (`c=`, `r=`), for attribution."""

    __tablename__ = "outreach_opens"
    __table_args__ = (Index("ix_outreach_opens_ref", "src", "ref_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    openid: Mapped[str] = mapped_column(String(64))
    src: Mapped[str] = mapped_column(String(24))
    ref_id: Mapped[int | None] = mapped_column(Integer)
    page: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


def json_data(value: dict[str, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (value or {}).items()}
