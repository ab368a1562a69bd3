"""Tables of staff accounts: the accounts, their sessions and personal tokens, and failed logins.

Session ids and tokens are stored only as SHA-256 hashes: they are long random values, so a hash
is enough to make a stolen table useless, and it can be looked up directly.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.clock import utcnow
from storage.db import Base, UTCDateTime


class StaffMember(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(16))  # staff.roles.Role
    skill_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    max_chats: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # staff.roles.Status
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id, PHC string
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class StaffSession(Base):
    """A console login: idle after `staff.session_idle_s` without a request, ended at `expires_at`."""

    __tablename__ = "staff_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    # The synchronizer token writes must echo; useless without the HttpOnly cookie, so kept as it
    # is, which lets a reloaded console ask for it again (GET /staff/api/me).
    csrf_token: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class StaffToken(Base):
    """A personal API token (`Authorization: Bearer ...`); a new one revokes the previous one."""

    __tablename__ = "staff_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class StaffLoginFailure(Base):
    """One failed login, kept for the sliding window of `staff.login_window_s` (shared by processes)."""

    __tablename__ = "staff_login_failures"
    __table_args__ = (
        Index("ix_staff_login_failures_username_address", "username", "address", "failed_at"),
        Index("ix_staff_login_failures_address", "address", "failed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StaffStatusEvent(Base):
    """Every change of an agent's availability (status, max chats): who was online when, for supervisors
    and for routing questions later."""

    __tablename__ = "staff_status_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    max_chats: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(40))  # "set by the agent", "account disabled"
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class CannedReply(Base):
    """A reply staff type by shortcut in the console (`/发货` expands to its text); managed by supervisors."""

    __tablename__ = "canned_replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    shortcut: Mapped[str] = mapped_column(String(32), unique=True)  # without the slash
    text: Mapped[str] = mapped_column(String(2000))
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PiiReveal(Base):
    """One look at a customer's personal data in full (name, phone, address): who, when, whose, which, why.

    The console shows masked values; every reveal is written here, in the transaction that reads the data.
    """

    __tablename__ = "pii_reveals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    username: Mapped[str] = mapped_column(String(64))  # as it was then
    role: Mapped[str] = mapped_column(String(16))
    order_no: Mapped[str | None] = mapped_column(String(32), index=True)
    customer_id: Mapped[int | None] = mapped_column(Integer, index=True)  # the bot's customer row (no foreign key)
    fields: Mapped[list[str]] = mapped_column(JSON)  # which fields were shown in full: name, phone, detail …
    reason: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
