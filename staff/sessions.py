"""Signing staff in: password logins (rate-limited), server-side sessions, personal tokens.

A session id and a personal token are random values handed to the client once; the database holds
only their SHA-256 hashes. A session ends after `session_idle_s` without a request, at
`session_max_age_s` after its login, at logout, or when its account is disabled.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from staff.accounts import get_staff, normalise_username, secret_digest
from staff.config import StaffConfig
from staff.errors import BadCredentials, CsrfRefused, NotSignedIn
from staff.login_limits import check_login_allowed, forget_login_failures, record_login_failure
from staff.models import StaffMember, StaffSession, StaffToken
from staff.passwords import hash_password, needs_rehash, password_matches
from staff.roles import Principal, Role

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenedSession:
    session_id: str  # for the cookie; never stored
    csrf_token: str
    member: StaffMember


def authenticate(session: Session, *, config: StaffConfig, username: str, password: str, address: str,
                 now: datetime) -> StaffMember:
    """The enabled account whose password this is; every failure is counted and logged (not the password).

    The caller commits even when this raises BadCredentials, so that the failure is counted.
    """
    name = normalise_username(username)[:64]
    check_login_allowed(session, config=config, username=name, address=address, now=now)
    member = get_staff(session, username=name, missing_ok=True)
    # The hash is verified even for unknown or disabled accounts: the answer takes as long either way.
    matches = password_matches(member.password_hash if member else None, password)
    if member is None or member.disabled or not matches:
        record_login_failure(session, config=config, username=name, address=address, now=now)
        raise BadCredentials("wrong username or password")
    forget_login_failures(session, username=name, address=address)
    if needs_rehash(member.password_hash):
        member.password_hash = hash_password(password)
    return member


def open_session(session: Session, *, config: StaffConfig, member: StaffMember, address: str,
                 now: datetime) -> OpenedSession:
    session_id = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    session.add(StaffSession(
        id_hash=secret_digest(session_id), staff_id=member.id, csrf_token=csrf_token, address=address[:64],
        created_at=now, last_seen_at=now, expires_at=now + timedelta(seconds=config.session_max_age_s),
    ))
    log.info("staff %s signed in from %s", member.username, address)
    return OpenedSession(session_id=session_id, csrf_token=csrf_token, member=member)


def check_session(session: Session, *, config: StaffConfig, session_id: str, now: datetime,
                  csrf_token: str | None = None, write: bool = False) -> tuple[Principal, StaffSession]:
    """The principal of a live session, which this request keeps alive; a write must echo its CSRF token."""
    row = session.get(StaffSession, secret_digest(session_id))
    if row is None or row.revoked_at is not None or now >= row.expires_at \
            or now - row.last_seen_at >= timedelta(seconds=config.session_idle_s):
        raise NotSignedIn("session expired or signed out; log in again")
    member = _enabled(session, row.staff_id)
    if write and not hmac.compare_digest((csrf_token or "").encode(), row.csrf_token.encode()):
        raise CsrfRefused("missing or wrong X-CSRF-Token header (the token the login returned)")
    row.last_seen_at = now
    return principal_of(member, via="session"), row


def close_session(session: Session, *, session_id: str, now: datetime) -> None:
    row = session.get(StaffSession, secret_digest(session_id))
    if row is not None and row.revoked_at is None:
        row.revoked_at = now


def check_token(session: Session, *, token: str, now: datetime) -> Principal:
    row = session.get(StaffToken, secret_digest(token))
    if row is None or row.revoked_at is not None:
        raise NotSignedIn("unknown or revoked token")
    member = _enabled(session, row.staff_id)
    row.last_used_at = now
    return principal_of(member, via="token")


def principal_of(member: StaffMember, *, via: str) -> Principal:
    return Principal(staff_id=member.id, username=member.username, role=Role(member.role),
                     groups=tuple(member.skill_groups), via=via)


def _enabled(session: Session, staff_id: int) -> StaffMember:
    member = session.get(StaffMember, staff_id)
    if member is None or member.disabled:
        raise NotSignedIn("this staff account is disabled")
    return member

