"""Mini-program logins: a WeChat login code becomes a bearer token of ours.

The token is random and only its SHA-256 is stored, so a copy of the database cannot be replayed
as logins. WeChat's session_key stays in the row and is never returned or logged.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from miniprogram.errors import LoginRefused, WeChatUnavailable
from miniprogram.models import MpSession
from web.errors import Unauthorized
from wechat.errors import WeChatApiError
from wechat.login import CodeSession

log = logging.getLogger(__name__)

TOKEN_PREFIX = "mp_"
# WeChat's answers to a bad login code, with the status we give the mini-program.
_REFUSED_CODES: dict[int, tuple[int, str]] = {
    40029: (401, "the login code is invalid or was already used (codes are single-use)"),
    40163: (401, "the login code was already used"),
    40226: (403, "WeChat flagged this user as high-risk"),
    45011: (429, "too many logins; try again in a minute"),
}


CodeExchange = Callable[[str], CodeSession]


def exchange_code(call: CodeExchange, code: str) -> CodeSession:
    """Turn a login code into WeChat's session, mapping WeChat's refusals to ours."""
    try:
        return call(code)
    except WeChatApiError as exc:
        raise _refusal(exc) from None


def _refusal(exc: WeChatApiError) -> Exception:
    known = _REFUSED_CODES.get(exc.errcode)
    if known is None:
        log.warning("jscode2session failed: errcode %s", exc.errcode)
        return WeChatUnavailable(f"WeChat login is unavailable (errcode {exc.errcode})")
    status, reason = known
    log.info("login code refused by WeChat: errcode %s", exc.errcode)
    return LoginRefused(f"WeChat refused the login (errcode {exc.errcode}): {reason}", errcode=exc.errcode,
                        status=status)


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
    """The openid a bearer token speaks for; Unauthorized when unknown, expired or revoked."""
    row = session.get(MpSession, hash_token(token))
    if row is None:
        raise Unauthorized("unknown token; log in again")
    if row.revoked_at is not None:
        raise Unauthorized("this token was revoked; log in again")
    if row.expires_at <= now:
        raise Unauthorized("this token has expired; log in again")
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

