"""Questions the bot could not answer: recorded per conversation, read back for `kb gaps`."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.orm import Session

from bot.models import Channel, UnansweredQuestion
from intents.kb import Outcome
from storage.clock import utcnow

__all__ = ["CHOICE_WINDOW", "UNANSWERED_OUTCOMES", "choices_since", "insert_unanswered", "note_choice",
           "record_unanswered", "unanswered_row", "unanswered_since"]

logger = logging.getLogger(__name__)

# Outcomes that leave the customer without an answer from the KB.
UNANSWERED_OUTCOMES = frozenset({Outcome.FALLBACK.value, Outcome.SUGGEST.value})
# The webhook already caps bodies; this keeps a pasted essay from filling the gaps report.
_MAX_TEXT = 500
# A menu tapped later than this after the question is not taken as an answer to it.
CHOICE_WINDOW = timedelta(days=1)
_MAX_FAQ_ID = 64


def record_unanswered(session: Session, *, channel: str, openid: str, text: str, outcome: str) -> None:
    """Store one unanswered question in the caller's transaction. Bad input is refused
    (ValueError), logged, and nothing is stored."""
    session.add(UnansweredQuestion(**unanswered_row(channel=channel, openid=openid, text=text, outcome=outcome)))


def unanswered_row(*, channel: str, openid: str, text: str, outcome: str) -> dict[str, Any]:
    """The row `record_unanswered` stores, for writing with `insert_unanswered` (the webhook's
    group-commit writer); bad input is refused in the same way."""
    problem = _problem(channel, openid, text, outcome)
    if problem:
        logger.warning("unanswered question not recorded: %s", problem)
        raise ValueError(problem)
    return {"channel": Channel(channel), "openid": openid, "text": text.strip()[:_MAX_TEXT], "outcome": outcome,
            "created_at": utcnow()}


_INSERT = insert(UnansweredQuestion)  # built once: SQLAlchemy reuses the compiled statement


def insert_unanswered(connection: Connection, row: dict[str, Any]) -> None:
    connection.execute(_INSERT, row)


def _problem(channel: str, openid: str, text: str, outcome: str) -> str | None:
    if channel not in {c.value for c in Channel}:
        return f"unknown channel {channel!r}"
    if not openid or len(openid) > 64:
        return "openid must be 1 to 64 characters"
    if not text.strip():
        return "empty question"
    if outcome not in UNANSWERED_OUTCOMES:
        return f"outcome must be one of {sorted(UNANSWERED_OUTCOMES)}, got {outcome!r}"
    return None


def unanswered_since(session: Session, since: datetime | None) -> list[str]:
    """The text of every unanswered question recorded at or after ``since`` (all when None)."""
    query = select(UnansweredQuestion.text).order_by(UnansweredQuestion.id)
    if since is not None:
        query = query.where(UnansweredQuestion.created_at >= since)
    return list(session.scalars(query))


def note_choice(connection: Connection, *, channel: Channel, openid: str, faq_id: str) -> bool:
    """Mark the customer's latest "猜你想问" question of the last day with the FAQ they tapped in its menu
    (a later tap of the same menu replaces an earlier one); False when there is no such question."""
    if not faq_id or len(faq_id) > _MAX_FAQ_ID:
        logger.warning("menu choice not recorded: FAQ id must be 1 to %d characters", _MAX_FAQ_ID)
        return False
    latest = (select(func.max(UnansweredQuestion.id))
              .where(UnansweredQuestion.created_at >= utcnow() - CHOICE_WINDOW,
                     UnansweredQuestion.channel == channel, UnansweredQuestion.openid == openid,
                     UnansweredQuestion.outcome == Outcome.SUGGEST.value)
              .scalar_subquery())
    marked = connection.execute(update(UnansweredQuestion).where(UnansweredQuestion.id == latest)
                                .values(chosen_faq_id=faq_id))
    return bool(marked.rowcount)


def choices_since(session: Session, since: datetime | None) -> list[tuple[str, str]]:
    """(question, FAQ tapped in its menu) of every question recorded at or after ``since`` that got one."""
    query = (select(UnansweredQuestion.text, UnansweredQuestion.chosen_faq_id)
             .where(UnansweredQuestion.chosen_faq_id.is_not(None)).order_by(UnansweredQuestion.id))
    if since is not None:
        query = query.where(UnansweredQuestion.created_at >= since)
    return [(text, str(faq_id)) for text, faq_id in session.execute(query)]
