"""The analytics tables: one narrow append-only table of raw events, and the daily aggregates built from it
and from the orders (each keyed by the store's local day, so that re-running a day replaces its rows)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, UTCDateTime


class EventKind(StrEnum):
    VIEW = "view"  # a product page opened in the mini-program
    CART = "cart"  # units of a SKU added to the cart
    CHECKOUT = "checkout"  # an order placed (one event per product in it)
    PAID = "paid"  # never stored as an event: the roll-up reads paid orders from `orders`


class Source(StrEnum):
    """Where a product page was opened from (the `src` of its page path)."""

    CARD = "card"  # a product card in a chat
    CART_REMINDER = "cart_reminder"  # an abandoned-cart reminder
    CAMPAIGN = "campaign"  # a marketing campaign's subscribe message
    SHARE = "share"  # a page shared by another customer
    DIRECT = "direct"  # anything else: browsing, search, an unknown src


def normalise_source(src: str | None) -> Source:
    try:
        return Source(src or Source.DIRECT)
    except ValueError:
        return Source.DIRECT


class AnalyticsEvent(Base):
    """A raw event; read only by the roll-up. `openid` is "" for a view without a live login."""

    __tablename__ = "analytics_events"
    __table_args__ = (
        Index("ix_analytics_events_at", "at"),
        # The roll-up's attribution: a customer's views before a purchase.
        Index("ix_analytics_events_openid_at", "openid", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[EventKind] = mapped_column(String(8))
    openid: Mapped[str] = mapped_column(String(64))
    product_id: Mapped[str] = mapped_column(String(64))
    src: Mapped[Source] = mapped_column(String(16))
    ref_id: Mapped[int | None] = mapped_column(Integer)  # the campaign (`c=`) or reminder (`r=`) the page carried


class DailyProduct(Base):
    """Per store day × product × source × kind: events and distinct customers (the funnel)."""

    __tablename__ = "analytics_daily_products"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    product_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    src: Mapped[Source] = mapped_column(String(16), primary_key=True)
    kind: Mapped[EventKind] = mapped_column(String(8), primary_key=True)
    events: Mapped[int] = mapped_column(Integer)
    customers: Mapped[int] = mapped_column(Integer)


class DailySales(Base):
    """Per store day: paid orders, GMV, paying customers, refunds, and the funnel's distinct customers
    (which cannot be summed from the per-product rows: one customer views many products)."""

    __tablename__ = "analytics_daily_sales"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    orders: Mapped[int] = mapped_column(Integer)
    gmv_fen: Mapped[int] = mapped_column(BigInteger)
    customers: Mapped[int] = mapped_column(Integer)
    refunds: Mapped[int] = mapped_column(Integer)  # refunds that succeeded that day
    refund_fen: Mapped[int] = mapped_column(BigInteger)
    viewers: Mapped[int] = mapped_column(Integer)
    carters: Mapped[int] = mapped_column(Integer)
    checkouters: Mapped[int] = mapped_column(Integer)
    # The bot: customers' text messages, those it could not answer, conversations handed to a person.
    questions: Mapped[int] = mapped_column(Integer)
    unanswered: Mapped[int] = mapped_column(Integer)
    handoffs: Mapped[int] = mapped_column(Integer)


class DailyBuyer(Base):
    """Per store day × paying customer: paid orders and GMV, so a period's paying customers are counted once
    however many days they paid on."""

    __tablename__ = "analytics_daily_buyers"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    orders: Mapped[int] = mapped_column(Integer)
    gmv_fen: Mapped[int] = mapped_column(BigInteger)


class DailyHour(Base):
    """Per store day × local hour: paid orders and GMV (the heat map sums them by weekday and hour)."""

    __tablename__ = "analytics_daily_hours"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True)
    weekday: Mapped[int] = mapped_column(Integer)  # 0 Monday … 6 Sunday, stored so no SQL needs date functions
    orders: Mapped[int] = mapped_column(Integer)
    gmv_fen: Mapped[int] = mapped_column(BigInteger)


class DailySource(Base):
    """Per store day × source × campaign/reminder id (0: none): paid orders, GMV and paying customers,
    each order attributed to the last product page its customer opened within the attribution window."""

    __tablename__ = "analytics_daily_sources"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    src: Mapped[Source] = mapped_column(String(16), primary_key=True)
    ref_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    orders: Mapped[int] = mapped_column(Integer)
    gmv_fen: Mapped[int] = mapped_column(BigInteger)
    customers: Mapped[int] = mapped_column(Integer)


class DailyAgent(Base):
    """Per store day × agent: conversations resolved and the customers' ratings (CSAT)."""

    __tablename__ = "analytics_daily_agents"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    agent_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resolved: Mapped[int] = mapped_column(Integer)
    csat_sum: Mapped[int] = mapped_column(Integer)
    csat_count: Mapped[int] = mapped_column(Integer)


class Buyer(Base):
    """One row per paying customer: the first paid order and how long until the next (repeat purchase)."""

    __tablename__ = "analytics_buyers"
    __table_args__ = (Index("ix_analytics_buyers_first_day", "first_day"),)

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_paid_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_day: Mapped[date] = mapped_column(Date)
    repeat_after_s: Mapped[int | None] = mapped_column(Integer)  # None: no second paid order yet


class RolledDay(Base):
    """When each store day was last rolled up (the page says how fresh its figures are)."""

    __tablename__ = "analytics_rolled_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    rolled_at: Mapped[datetime] = mapped_column(UTCDateTime)
