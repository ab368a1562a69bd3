"""Who owns a conversation, the bot or a person: decided here, asked once per inbound message before any
language work (the webhook's claim job asks it, in the transaction that logs the message).

Two statements on the hot path, built once: the open handoff of the customer, through the partial
unique index of open handoffs, and, when there is one, the note that the customer spoke.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Connection, Table, bindparam, func, select, text, update

from bot.handoff.models import OPEN_PREDICATE, Handoff

HANDOFFS = cast(Table, Handoff.__table__)

# Kinds that are the customer speaking (an event such as a menu click or entering the session is not).
SPOKEN_KINDS = frozenset({"text", "image", "voice", "video", "shortvideo", "location", "link", "miniprogrampage"})

OPEN_HANDOFF = select(HANDOFFS.c.id).where(
    HANDOFFS.c.customer_id == bindparam("customer_id"), text(OPEN_PREDICATE)
)
NOTE_CUSTOMER_SPOKE = update(HANDOFFS).where(HANDOFFS.c.id == bindparam("handoff_id")).values(
    last_customer_at=bindparam("now"),
    awaiting_since=func.coalesce(HANDOFFS.c.awaiting_since, bindparam("now")),
)


def owning_handoff(connection: Connection, *, customer_id: int, kind: str, now: datetime) -> int | None:
    """The id of the customer's open handoff (a person owns the conversation), or None (the bot does).
    A message the customer wrote is noted on it, so timeouts know who waits for whom."""
    handoff_id = connection.execute(OPEN_HANDOFF, {"customer_id": customer_id}).scalar()
    if handoff_id is not None and kind in SPOKEN_KINDS:
        connection.execute(NOTE_CUSTOMER_SPOKE, {"handoff_id": handoff_id, "now": now})
    return None if handoff_id is None else int(handoff_id)
