"""One person across the store's channels: the customer rows WeChat's unionid joins.

A follower's unionid is kept on their customer row (user/info); a mini-program customer's comes
with their login (mp_sessions) and may never be copied onto their row, so both are looked at.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.customers.models import MpSession
from bot.models import Channel, Customer


def unionid_of(session: Session, customer: Customer) -> str | None:
    """The person behind one customer row, once WeChat has told us (None: not known)."""
    if customer.unionid:
        return customer.unionid
    if customer.channel != Channel.MP:
        return None
    query = select(MpSession.unionid).where(MpSession.openid == customer.openid, MpSession.unionid.is_not(None))
    return session.scalar(query.order_by(MpSession.created_at.desc()).limit(1))


def customer_conversations(session: Session, customer_id: int) -> list[Customer]:
    """Every customer row of the person behind `customer_id`, on either channel, by id (just the one
    row while their unionid is unknown); empty when there is no such customer."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        return []
    unionid = unionid_of(session, customer)
    if unionid is None:
        return [customer]
    mp_openids = select(MpSession.openid).where(MpSession.unionid == unionid)
    query = select(Customer).where(or_(
        Customer.id == customer_id,
        Customer.unionid == unionid,
        (Customer.channel == Channel.MP) & Customer.openid.in_(mp_openids),
    ))
    return list(session.scalars(query.order_by(Customer.id)))


def buyer_customers(session: Session, openid: str) -> list[Customer]:
    """The customer rows of the person who bought as mini-program `openid` (orders are the paying openid's):
    their mini-program row first, then the followers WeChat gave the unionid of their login; empty when
    they never wrote to the store."""
    login_unionids = select(MpSession.unionid).where(MpSession.openid == openid, MpSession.unionid.is_not(None))
    query = select(Customer).where(or_(
        (Customer.channel == Channel.MP) & (Customer.openid == openid),
        (Customer.channel == Channel.OA) & Customer.unionid.in_(login_unionids),
    ))
    rows = list(session.scalars(query.order_by(Customer.id)))
    return sorted(rows, key=lambda row: row.channel != Channel.MP)
