"""Staff account operations: add, list, disable, availability, personal tokens.

Each takes a Session (the caller's transaction) and keyword-only arguments, and refuses with a
`staff.errors` error before changing anything.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.handoff.models import AgentStatus
from bot.handoff.operations import Actor
from bot.handoff.roster import sync_agent
from staff.config import StaffConfig
from staff.errors import InvalidStaffInput, StaffExists, StaffNotFound
from staff.models import StaffMember, StaffSession, StaffStatusEvent, StaffToken
from staff.passwords import hash_password
from staff.roles import CHAT_ROLES, STATUS_TRANSITIONS, Role, Status
from storage.clock import utcnow

log = logging.getLogger(__name__)

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
GROUP = re.compile(r"^[\w-]{1,40}$")
TOKEN_PREFIX = "cst_"  # recognisable in a leaked file or a secret scanner's rules


def normalise_username(username: str) -> str:
    return username.strip().lower()


def secret_digest(value: str) -> str:
    """How session ids and tokens are stored and looked up."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def add_staff(
    session: Session, *, config: StaffConfig, username: str, password: str, role: Role,
    display_name: str | None = None, groups: Sequence[str] = (), max_chats: int = 5,
) -> StaffMember:
    name = _checked_username(username)
    _check_password(password, config)
    _check_max_chats(max_chats, config)
    if get_staff(session, username=name, missing_ok=True) is not None:
        raise StaffExists(f"staff account {name!r} exists already", username=name)
    member = StaffMember(
        username=name, display_name=(display_name or name).strip()[:80], role=role.value,
        skill_groups=_checked_groups(groups), max_chats=max_chats, status=Status.OFFLINE.value,
        password_hash=hash_password(password), disabled=False, created_at=utcnow(),
    )
    session.add(member)
    session.flush()
    sync_roster(session, member, now=member.created_at)
    log.info("staff account %s added with role %s", name, role.value)
    return member


def get_staff(session: Session, *, username: str, missing_ok: bool = False) -> StaffMember | None:
    member = session.scalar(select(StaffMember).where(StaffMember.username == normalise_username(username)))
    if member is None and not missing_ok:
        raise StaffNotFound(f"no staff account {username!r}", username=username)
    return member


def staff_by_id(session: Session, *, staff_id: int) -> StaffMember:
    member = session.get(StaffMember, staff_id)
    if member is None:
        raise StaffNotFound(f"no staff account #{staff_id}")
    return member


def list_staff(session: Session, *, include_disabled: bool = True) -> list[StaffMember]:
    query = select(StaffMember).order_by(StaffMember.username)
    if not include_disabled:
        query = query.where(StaffMember.disabled.is_(False))
    return list(session.scalars(query))


def disable_staff(session: Session, *, username: str, now: datetime | None = None) -> StaffMember:
    """Disable an account and end every session and token of it, at once."""
    now = now or utcnow()
    member = _required(session, username)
    member.disabled = True
    member.disabled_at = member.disabled_at or now
    _record_status(session, member, Status.OFFLINE, member.max_chats, reason="account disabled", now=now)
    sync_roster(session, member, now=now)
    _revoke_credentials(session, staff_id=member.id, now=now)
    log.info("staff account %s disabled; its sessions and tokens are revoked", member.username)
    return member


def set_status(
    session: Session, *, staff_id: int, config: StaffConfig, status: Status, max_chats: int | None = None,
    now: datetime | None = None,
) -> StaffMember:
    """An agent going online, away or offline, and (optionally) how many conversations they take;
    every change is an event row."""
    member = staff_by_id(session, staff_id=staff_id)
    if status not in STATUS_TRANSITIONS[Status(member.status)]:
        raise InvalidStaffInput(f"cannot go from {member.status} to {status.value}", field="status")
    if max_chats is not None:
        _check_max_chats(max_chats, config)
    now = now or utcnow()
    _record_status(session, member, status, member.max_chats if max_chats is None else max_chats,
                   reason="set by the agent", now=now)
    sync_roster(session, member, now=now)
    return member


def sync_roster(session: Session, member: StaffMember, *, now: datetime) -> list[int]:
    """Tell routing, in this transaction, what it needs of the account: groups, limit, availability.
    Marketers take no conversations. Going offline re-queues what the agent held (their ids)."""
    takes_chats = not member.disabled and Role(member.role) in CHAT_ROLES
    status = AgentStatus(member.status) if takes_chats else AgentStatus.OFFLINE
    return sync_agent(session, staff_id=member.id, display_name=member.display_name, groups=member.skill_groups,
                      status=status, max_chats=member.max_chats, now=now, actor=Actor(member.username, member.id))


def _record_status(
    session: Session, member: StaffMember, status: Status, max_chats: int, *, reason: str, now: datetime
) -> None:
    if (member.status, member.max_chats) == (status.value, max_chats):
        return  # nothing changed: no event
    session.add(StaffStatusEvent(staff_id=member.id, from_status=member.status, to_status=status.value,
                                 max_chats=max_chats, reason=reason, at=now))
    member.status, member.max_chats = status.value, max_chats


def issue_token(session: Session, *, username: str, now: datetime | None = None) -> str:
    """A new personal API token, returned once; only its hash is kept, and the previous one is revoked."""
    now = now or utcnow()
    member = _required(session, username)
    if member.disabled:
        raise InvalidStaffInput(f"staff account {member.username!r} is disabled", field="username")
    session.execute(update(StaffToken).where(StaffToken.staff_id == member.id, StaffToken.revoked_at.is_(None))
                    .values(revoked_at=now))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(StaffToken(token_hash=secret_digest(token), staff_id=member.id, created_at=now))
    log.info("personal API token issued to %s", member.username)
    return token


def _required(session: Session, username: str) -> StaffMember:
    member = get_staff(session, username=username)
    assert member is not None  # get_staff raised otherwise
    return member


def _revoke_credentials(session: Session, *, staff_id: int, now: datetime) -> None:
    session.execute(update(StaffSession).where(StaffSession.staff_id == staff_id, StaffSession.revoked_at.is_(None))
                    .values(revoked_at=now))
    session.execute(update(StaffToken).where(StaffToken.staff_id == staff_id, StaffToken.revoked_at.is_(None))
                    .values(revoked_at=now))


def _checked_username(username: str) -> str:
    name = normalise_username(username)
    if not USERNAME.match(name):
        raise InvalidStaffInput("username: 2 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit",
                                field="username")
    return name


def _checked_groups(groups: Sequence[str]) -> list[str]:
    cleaned = sorted({group.strip() for group in groups})
    for group in cleaned:
        if not GROUP.match(group):
            raise InvalidStaffInput(f"skill group {group!r}: 1 to 40 letters, digits, '_' or '-'", field="groups")
    return cleaned


def _check_password(password: str, config: StaffConfig) -> None:
    if len(password) < config.min_password_length:
        raise InvalidStaffInput(f"password: at least {config.min_password_length} characters", field="password")


def _check_max_chats(max_chats: int, config: StaffConfig) -> None:
    if not 1 <= max_chats <= config.max_chats_limit:
        raise InvalidStaffInput(f"max_chats: from 1 to {config.max_chats_limit}", field="max_chats")
