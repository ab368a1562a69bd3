"""Tables of the customers package: mini-program logins (bearer tokens)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from storage.clock import utcnow
from storage.db import Base, UTCDateTime


class MpSession(Base):
    """One login of one customer. The token itself is never stored, only its SHA-256."""

    __tablename__ = "mp_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    unionid: Mapped[str | None] = mapped_column(String(64), index=True)
    # WeChat's key for this login (decrypting wx.getUserProfile data); it never leaves the server.
    session_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
