"""Typed configuration of the staff APIs; the composition root builds it from settings."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AdminConfig:
    api_key: str = field(default="", repr=False)  # empty: every /admin/ endpoint answers 503


@dataclass(frozen=True)
class StaffConfig:
    """Staff accounts: sessions, failed-login limits and bounds (settings section `staff`)."""

    session_idle_s: int = 1800  # a session unused this long has ended
    session_max_age_s: int = 43200  # and any session ends this long after its login
    login_max_failures: int = 5  # failed logins of one username from one address within the window ...
    login_max_failures_per_address: int = 20  # ... or of any usernames from one address
    login_window_s: int = 900
    max_chats_limit: int = 20  # the most concurrent conversations an account may take
    min_password_length: int = 10
    secure_cookie: bool = False  # the session cookie only over https
