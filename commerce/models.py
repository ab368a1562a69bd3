"""Tables of the system of record: catalog, carts, orders, payments, refunds, alerts, outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from storage.clock import utcnow
from storage.db import Base, UTCDateTime
from storage.sealing import SealedJSON

from .personal import phone_index
from .states import OrderStatus, RefundStatus

IN_FLIGHT_REFUNDS = (RefundStatus.PENDING.value, RefundStatus.PROCESSING.value)


class Product(Base):
    __tablename__ = "products"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(40), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    images: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Products are never deleted (orders point at them); an import leaves out -> inactive.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    skus: Mapped[list[Sku]] = relationship(
        back_populates="product", lazy="selectin", order_by="Sku.position"
    )


class Sku(Base):
    __tablename__ = "skus"
    __table_args__ = (
        # The last line of defence against overselling: the reservation UPDATE checks it first.
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price_fen > 0", name="price_positive"),
    )

    sku_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    specs: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # {"颜色": "红", "尺码": "M"}
    price_fen: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    product: Mapped[Product] = relationship(back_populates="skus", lazy="joined")


class CartItem(Base):
    __tablename__ = "cart_items"

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    sku_id: Mapped[str] = mapped_column(ForeignKey("skus.sku_id"), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Abandoned-cart reminders look at this.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_status_expires_at", "status", "expires_at"),
        Index("ix_orders_openid_created_at", "openid", "created_at"),
        Index("ix_orders_created_at", "created_at"),  # the back office's list, newest first, by day or month
        Index("ix_orders_status_created_at", "status", "created_at"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= amount_fen", name="refunded_within_amount"),
    )

    # out_trade_no: UTC yyyymmddHHMMSS + 6 random digits.
    order_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    openid: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default=OrderStatus.PENDING_PAYMENT.value)
    # Where a refund request or a full refund returns the order if it does not go through.
    resume_status: Mapped[str | None] = mapped_column(String(20))
    amount_fen: Mapped[int] = mapped_column(Integer)
    refunded_fen: Mapped[int] = mapped_column(Integer, default=0)
    # Name, phone and where to ship: sealed at rest (storage.sealing); found by phone through phone_hash.
    address: Mapped[dict[str, Any]] = mapped_column(SealedJSON("orders.address"))
    # The keyed hash of the address's phone number (commerce.personal.phone_index), kept with the address.
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    description: Mapped[str] = mapped_column(String(127))  # what WeChat Pay shows the payer
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    prepay_id: Mapped[str | None] = mapped_column(String(64))
    transaction_id: Mapped[str | None] = mapped_column(String(64))
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(String(120))
    carrier: Mapped[str | None] = mapped_column(String(40))
    tracking_no: Mapped[str | None] = mapped_column(String(40))
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refund_reason: Mapped[str | None] = mapped_column(String(120))  # the customer's, when requested

    items: Mapped[list[OrderItem]] = relationship(lazy="selectin", order_by="OrderItem.id")
    refunds: Mapped[list[Refund]] = relationship(lazy="selectin", order_by="Refund.id")

    @property
    def state(self) -> OrderStatus:
        return OrderStatus(self.status)

    @validates("address")
    def _hash_phone(self, _key: str, address: dict[str, Any]) -> dict[str, Any]:
        # Wherever an address is set, its phone's search hash follows: the two never disagree.
        phone = address.get("phone") if isinstance(address, dict) else None
        self.phone_hash = phone_index(phone) if isinstance(phone, str) and phone else None
        return address

    @property
    def refunds_in_flight(self) -> list[Refund]:
        """Refunds decided but not yet settled by WeChat Pay."""
        return [r for r in self.refunds if r.status in IN_FLIGHT_REFUNDS]


class OrderItem(Base):
    """A line as it was bought: title, specs and price are copied, so later edits change nothing."""

    __tablename__ = "order_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_no: Mapped[str] = mapped_column(ForeignKey("orders.order_no"), index=True)
    sku_id: Mapped[str] = mapped_column(String(64))
    product_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(120))
    specs: Mapped[dict[str, str]] = mapped_column(JSON)
    price_fen: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)


class OrderEvent(Base):
    """One row per state transition (the audit trail)."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_no: Mapped[str] = mapped_column(ForeignKey("orders.order_no"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(120))
    actor: Mapped[str] = mapped_column(String(40))  # customer, staff, wechatpay, scheduler
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Payment(Base):
    """A payment WeChat Pay reported (by notification or query); transaction_id makes it unique."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(64), unique=True)
    order_no: Mapped[str] = mapped_column(ForeignKey("orders.order_no"), index=True)
    amount_fen: Mapped[int] = mapped_column(Integer)
    payer_openid: Mapped[str] = mapped_column(String(64))
    success_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(16))  # notify | query
    outcome: Mapped[str] = mapped_column(String(24))  # applied | late_reserved | late_refunded
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    out_refund_no: Mapped[str] = mapped_column(String(64), unique=True)
    order_no: Mapped[str] = mapped_column(ForeignKey("orders.order_no"), index=True)
    amount_fen: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(80))
    created_by: Mapped[str | None] = mapped_column(String(80))  # staff:<username>, scheduler …; None before 0017
    status: Mapped[str] = mapped_column(String(16), default=RefundStatus.PENDING.value, index=True)
    refund_id: Mapped[str | None] = mapped_column(String(64))  # WeChat Pay's
    error: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PaymentAlert(Base):
    """Something about money that staff must look at: a mismatched notice, a forced refund ..."""

    __tablename__ = "payment_alerts"
    __table_args__ = (UniqueConstraint("dedupe_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The same problem reported again (WeChat Pay retries) is one alert.
    dedupe_key: Mapped[str] = mapped_column(String(160))
    kind: Mapped[str] = mapped_column(String(40))
    order_no: Mapped[str | None] = mapped_column(String(32), index=True)
    transaction_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxEvent(Base):
    """A domain event, written in the transaction that caused it, for the bot and scheduler."""

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    order_no: Mapped[str | None] = mapped_column(String(32))
    openid: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxReceipt(Base):
    """Which consumer has handled which event: every consumer sees every event exactly once."""

    __tablename__ = "outbox_receipts"

    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id"), primary_key=True)
    consumer: Mapped[str] = mapped_column(String(40), primary_key=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxWatermark(Base):
    """How far a consumer has settled: it has handled every event of its kinds up to `event_id`.

    Claims look only above it, so their cost follows the recent events, not the store's history.
    """

    __tablename__ = "outbox_watermarks"

    consumer: Mapped[str] = mapped_column(String(40), primary_key=True)
    # Positions in the event id sequence rather than references to rows, so no foreign keys.
    event_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    # The kinds the watermark was computed for (sorted, comma-separated; NULL: every kind). A claim for
    # other kinds cannot trust it: events of a kind newly asked for may lie below it unhandled.
    kinds: Mapped[str | None] = mapped_column(Text)
    # The newest event id visible when the row was written (updated_at): the watermark may move up to
    # it once a settle window has passed (commerce.outbox.SETTLE_WINDOW says why not further).
    seen_event_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
