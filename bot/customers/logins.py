"""Mini-program logins: a WeChat login becomes a bearer token of ours.

The token is random and only its SHA-256 is stored, so a copy of the database cannot be replayed
as logins. WeChat's session_key stays in the row and is never returned or logged.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.customers.errors import NotLoggedIn
from bot.customers.models import MpSession
from wechat.login import CodeSession

TOKEN_PREFIX = "mp_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def open_session(session: Session, *, login: CodeSession, ttl_s: int, now: datetime) -> str:
    """Record a login and return its bearer token (shown once, never stored)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        MpSession(
            token_hash=hash_token(token),
            openid=login.openid,
            unionid=login.unionid,
            session_key=login.session_key,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
        )
    )
    return token


def authenticate(session: Session, *, token: str, now: datetime) -> str:
    """The openid a bearer token speaks for; NotLoggedIn when unknown, expired or revoked."""
    row = session.get(MpSession, hash_token(token))
    if row is None:
        raise NotLoggedIn("unknown token; log in again")
    if row.revoked_at is not None:
        raise NotLoggedIn("this token was revoked; log in again")
    if row.expires_at <= now:
        raise NotLoggedIn("this token has expired; log in again")
    return row.openid


def revoke_token(session: Session, *, token: str, now: datetime) -> bool:
    """End one login (logout). False when the token was not live."""
    result = session.execute(
        update(MpSession)
        .where(MpSession.token_hash == hash_token(token), MpSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def revoke_customer_sessions(session: Session, *, openid: str, now: datetime) -> int:
    """End every live login of one customer (staff action, e.g. a stolen phone)."""
    result = session.execute(
        update(MpSession).where(MpSession.openid == openid, MpSession.revoked_at.is_(None)).values(revoked_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]

