"""The staff accounts' configuration, from settings (shared by the HTTP API and `chatshop staff`)."""

from __future__ import annotations

from chatshop.settings import Settings
from staff.config import StaffConfig


def staff_config(settings: Settings) -> StaffConfig:
    section = settings.staff
    return StaffConfig(
        session_idle_s=section.session_idle_s,
        session_max_age_s=section.session_max_age_s,
        login_max_failures=section.login_max_failures,
        login_max_failures_per_address=section.login_max_failures_per_address,
        login_window_s=section.login_window_s,
        max_chats_limit=section.max_chats_limit,
        min_password_length=section.min_password_length,
        # A browser would refuse to send a Secure cookie over plain http (the sandbox, `make run`).
        secure_cookie=settings.local_base_url.startswith("https://"),
    )
