"""Recording raw events cheaply: a product view is queued on the group-commit writer (the request does not
wait for it, and its token is resolved there), add-to-cart and checkout are added to the transaction the
request already has open."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session

from bot.analytics.models import AnalyticsEvent, EventKind, Source, normalise_source
from bot.customers.logins import hash_token
from bot.customers.models import MpSession
from commerce.models import Sku

_INSERT = insert(AnalyticsEvent)  # built once: SQLAlchemy reuses the compiled statement


@dataclass(frozen=True)
class ProductView:
    product_id: str
    src: str | None  # as the page path carried it; unknown values count as direct
    ref_id: int | None  # the campaign (`c=`) or reminder (`r=`) id
    token: str | None  # the customer's bearer token, if the page sent one
    at: datetime


def record_product_view(connection: Connection, view: ProductView) -> None:
    """A writer job: the view, with the openid of the token if it is a live login ("" otherwise)."""
    connection.execute(_INSERT, {
        "at": view.at, "kind": EventKind.VIEW, "openid": _openid_of(connection, view.token, view.at),
        "product_id": view.product_id[:64], "src": normalise_source(view.src), "ref_id": view.ref_id,
    })


def record_added_to_cart(session: Session, *, openid: str, sku_id: str, at: datetime) -> None:
    """In the add-to-cart request's transaction (the SKU is known to exist: the cart took it)."""
    product_id = session.scalar(select(Sku.product_id).where(Sku.sku_id == sku_id))
    if product_id is not None:
        session.add(AnalyticsEvent(at=at, kind=EventKind.CART, openid=openid, product_id=product_id,
                                   src=Source.DIRECT, ref_id=None))


def record_checkout(session: Session, *, openid: str, product_ids: Iterable[str], at: datetime) -> None:
    """In the checkout's transaction: one event per product ordered."""
    for product_id in sorted(set(product_ids)):
        session.add(AnalyticsEvent(at=at, kind=EventKind.CHECKOUT, openid=openid, product_id=product_id,
                                   src=Source.DIRECT, ref_id=None))


def _openid_of(connection: Connection, token: str | None, now: datetime) -> str:
    if not token:
        return ""
    row = connection.execute(select(MpSession.openid, MpSession.expires_at, MpSession.revoked_at)
                             .where(MpSession.token_hash == hash_token(token))).first()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return ""
    return str(row.openid)
