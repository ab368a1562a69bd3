"""Who a customer is across the store's accounts: the mini-program openids that bought as them.

Orders belong to the mini-program openid that paid. A follower of the Official Account is the same
person when WeChat gives both the same unionid: the mini-program's at login (kept with the login),
the Official Account's through user/info (kept on the customer row once asked).
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.customers.models import MpSession
from bot.models import Channel, Customer
from storage.db import transaction
from wechat.errors import WeChatApiError
from wechat.users import UsersApi

log = logging.getLogger(__name__)


def buyer_openids(
    factory: sessionmaker[Session], *, channel: Channel, openid: str, users: UsersApi | None = None
) -> list[str]:
    """Every mini-program openid whose orders are this customer's (empty: none known).

    WeChat is asked (user/info) outside any transaction: on SQLite a transaction holds the write lock.
    """
    if channel is Channel.MP:
        with factory() as session:
            return _same_person(session, {openid}, _login_unionid(session, openid))
    with factory() as session:
        unionid = session.scalar(select(Customer.unionid).where(Customer.channel == Channel.OA,
                                                                Customer.openid == openid))
    if unionid is None and users is not None:
        unionid = _ask_unionid(users, openid)
        if unionid:
            with transaction(factory) as session:
                session.execute(update(Customer).where(Customer.channel == Channel.OA, Customer.openid == openid)
                                .values(unionid=unionid))
    with factory() as session:
        return _same_person(session, set(), unionid)


def _same_person(session: Session, openids: set[str], unionid: str | None) -> list[str]:
    if unionid:
        openids |= set(session.scalars(select(MpSession.openid).where(MpSession.unionid == unionid).distinct()))
    return sorted(openids)


def _ask_unionid(users: UsersApi, openid: str) -> str | None:
    try:
        return users.info(openid).unionid
    except WeChatApiError as exc:  # the answer still goes out, without the orders of the other app
        log.warning("user/info for a follower failed: errcode %s", exc.errcode)
        return None


def _login_unionid(session: Session, openid: str) -> str | None:
    query = select(MpSession.unionid).where(MpSession.openid == openid, MpSession.unionid.is_not(None))
    return session.scalar(query.order_by(MpSession.created_at.desc()).limit(1))
