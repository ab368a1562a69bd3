"""Customer-service reply windows: opened by the customer's actions, spent by our sends.

Each action resets the window to that action's rule (WECHAT_RULES.md); spending is one
conditional UPDATE so concurrent senders can never overspend a quota.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cache
from typing import cast

from sqlalchemy import Connection, Table, or_, update
from sqlalchemy.orm import Session

from bot.config import WindowRule
from bot.errors import OutsideReplyWindow, QuotaExhausted
from bot.models import ReplyWindow, WindowAction
from storage.direct import DirectStatement
from storage.sql import dialect_insert, dialect_name

WINDOWS = cast(Table, ReplyWindow.__table__)


def open_window(
    connection: Connection | Session,
    *,
    customer_id: int,
    action: WindowAction,
    rules: Mapping[WindowAction, WindowRule],
    now: datetime,
) -> None:
    """Reset the customer's window to the rule of the action they just took (one upsert)."""
    rule = rules[action]
    _upsert_window(dialect_name(connection)).execute(connection, {
        "customer_id": customer_id,
        "opened_by": action,
        "opened_at": now,
        "expires_at": now + timedelta(seconds=rule.seconds),
        "quota": rule.quota,
        "used": 0,
    })


@cache
def _upsert_window(dialect: str) -> DirectStatement:
    # Built once and run on the driver's cursor: every inbound message resets the window (hot path).
    upsert = dialect_insert(dialect, WINDOWS)
    reset = ("opened_by", "opened_at", "expires_at", "quota", "used")
    statement = upsert.on_conflict_do_update(
        index_elements=[WINDOWS.c.customer_id], set_={column: upsert.excluded[column] for column in reset}
    )
    return DirectStatement(statement, ("customer_id", *reset))


def spend_window(session: Session, *, customer_id: int, now: datetime) -> None:
    """Use one send of the window, or raise the error WeChat would answer."""
    spent = session.execute(
        update(ReplyWindow)
        .where(
            ReplyWindow.customer_id == customer_id,
            ReplyWindow.expires_at > now,
            or_(ReplyWindow.quota.is_(None), ReplyWindow.used < ReplyWindow.quota),
        )
        .values(used=ReplyWindow.used + 1)
    )
    if spent.rowcount == 1:  # type: ignore[attr-defined]
        return
    window = session.get(ReplyWindow, customer_id)
    if window is None or window.expires_at <= now:
        raise OutsideReplyWindow()
    raise QuotaExhausted()


def give_back(session: Session, *, customer_id: int) -> None:
    """Return a unit spent on a send WeChat refused as transient (it did not count there either)."""
    session.execute(
        update(ReplyWindow)
        .where(ReplyWindow.customer_id == customer_id, ReplyWindow.used > 0)
        .values(used=ReplyWindow.used - 1)
    )


def align_with_wechat(session: Session, *, customer_id: int, errcode: int, now: datetime) -> None:
    """WeChat knows better: when it says the window is shut or spent, record that."""
    window = session.get(ReplyWindow, customer_id)
    if window is None:
        return
    if errcode == OutsideReplyWindow().errcode:
        window.expires_at = min(window.expires_at, now)
    elif errcode == QuotaExhausted().errcode and window.quota is not None:
        window.used = window.quota


def reply_window(session: Session, customer_id: int) -> ReplyWindow | None:
    """The customer's current window as stored (None: they never opened one)."""
    return session.get(ReplyWindow, customer_id, populate_existing=True)
