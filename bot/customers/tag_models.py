"""Tables of customer tags: the tags, their audit trail, their sync to WeChat, and product cards opened."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, UTCDateTime

# WeChat's limit for a user tag's name, which ours keep so that every tag can be synced.
MAX_TAG_NAME_BYTES = 30


class TagSource(StrEnum):
    RULE = "rule"  # a tag rule fired (set_by names the rule's trigger)
    STAFF = "staff"  # a person set it (set_by names them)
    IMPORT = "import"  # a bulk import (set_by names the file or job)


class TagAction(StrEnum):
    ADD = "add"  # set, or set again (a new expiry, source or group)
    REMOVE = "remove"  # taken off


class CustomerTag(Base):
    """One tag on one customer row. A removed tag keeps its row (removed_at set) until it is set
    again, so the sync knows to take it off WeChat; an expired one simply stops counting."""

    __tablename__ = "customer_tags"
    __table_args__ = (
        UniqueConstraint("customer_id", "name"),
        Index("ix_customer_tags_name", "name", "customer_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    name: Mapped[str] = mapped_column(String(30))
    group: Mapped[str] = mapped_column(String(16), default="")  # 意向, 已购, 售后, VIP ...
    source: Mapped[TagSource] = mapped_column(String(8))
    set_by: Mapped[str] = mapped_column(String(64))  # the rule, the person or the import
    set_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Whether WeChat carries this tag on the follower as far as we know (Official Account rows only);
    # the sync compares it with whether the tag is live and changes WeChat where they differ.
    on_wechat: Mapped[bool] = mapped_column(Boolean, default=False)
    sync_refusal: Mapped[str | None] = mapped_column(String(160))  # why the sync would not apply it


class CustomerTagAudit(Base):
    """Every add and removal, by whom and why: never updated, never deleted."""

    __tablename__ = "customer_tag_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    name: Mapped[str] = mapped_column(String(30))
    action: Mapped[TagAction] = mapped_column(String(8))
    source: Mapped[TagSource] = mapped_column(String(8))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WeChatTagId(Base):
    """The Official Account's id of each tag name we created or found there."""

    __tablename__ = "wechat_tag_ids"

    name: Mapped[str] = mapped_column(String(30), primary_key=True)
    wechat_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CardOpen(Base):
    """A product card a customer opened in the mini-program (or sent from it into customer service)."""

    __tablename__ = "card_opens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    product_id: Mapped[str] = mapped_column(String(64))
    conversation: Mapped[str | None] = mapped_column(String(64))  # the conversation the card was sent in
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
