"""Failed logins, counted in a sliding window in the database so that every process sees them.

Two limits: one username from one address (guessing one account's password), and any usernames
from one address (trying one password on many accounts). Counting per username *and* address means
an attacker elsewhere cannot lock a member of staff out of their own desk.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from staff.config import StaffConfig
from staff.errors import LoginThrottled
from staff.models import StaffLoginFailure

log = logging.getLogger(__name__)


def check_login_allowed(session: Session, *, config: StaffConfig, username: str, address: str,
                        now: datetime) -> None:
    """Refuse (LOGIN_THROTTLED, with retry_after) while either limit is reached."""
    since = now - timedelta(seconds=config.login_window_s)
    pair = (StaffLoginFailure.username == username, StaffLoginFailure.address == address)
    for where, limit in ((pair, config.login_max_failures),
                         ((StaffLoginFailure.address == address,), config.login_max_failures_per_address)):
        count, oldest = session.execute(
            select(func.count(), func.min(StaffLoginFailure.failed_at))
            .where(*where, StaffLoginFailure.failed_at > since)
        ).one()
        if count >= limit:
            retry_after = _seconds_until_window_frees(config, oldest, now)
            log.warning("staff login throttled for %r from %s (%d failures)", username, address, count)
            raise LoginThrottled(f"too many failed logins; try again in {retry_after} s", retry_after=retry_after)


def record_login_failure(session: Session, *, config: StaffConfig, username: str, address: str,
                         now: datetime) -> None:
    log.warning("staff login failed for %r from %s", username, address)  # never the password
    session.add(StaffLoginFailure(username=username, address=address, failed_at=now))
    # What has left every window is forgotten, so the table stays small.
    session.execute(delete(StaffLoginFailure).where(
        StaffLoginFailure.failed_at <= now - timedelta(seconds=config.login_window_s)))


def forget_login_failures(session: Session, *, username: str, address: str) -> None:
    """A successful login clears its own username and address only, never another address's count."""
    session.execute(delete(StaffLoginFailure).where(
        StaffLoginFailure.username == username, StaffLoginFailure.address == address))


def _seconds_until_window_frees(config: StaffConfig, oldest: datetime | None, now: datetime) -> int:
    if oldest is None:
        return config.login_window_s
    if oldest.tzinfo is None:  # an aggregate is not typed as UTCDateTime; SQLite returns it naive
        oldest = datetime.fromisoformat(str(oldest)).replace(tzinfo=now.tzinfo)
    return max(1, math.ceil((oldest + timedelta(seconds=config.login_window_s) - now).total_seconds()))
