"""Who owns a conversation, the bot or a person: decided here, asked once per inbound message before any
language work (the webhook's claim job asks it, in the transaction that logs the message).

Two statements on the hot path, built once: the open handoff of the customer, through the partial
unique index of open handoffs, and, when there is one, the note that the customer spoke.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from bot.handoff.models import OPEN_PREDICATE, Handoff
from bot.handoff.summary import message_text
from bot.live import LiveEvent, LiveKind, publish
from bot.models import ConversationMessage
from storage.direct import DirectStatement

HANDOFFS = cast(Table, Handoff.__table__)

# Kinds that are the customer speaking (an event such as a menu click or entering the session is not).
SPOKEN_KINDS = frozenset({"text", "image", "voice", "video", "shortvideo", "location", "link", "miniprogrampage"})

# Asked of every inbound message: run on the driver's cursor (storage.direct).
OPEN_HANDOFF = DirectStatement(select(HANDOFFS.c.id, HANDOFFS.c.group, HANDOFFS.c.agent_id).where(
    HANDOFFS.c.customer_id == bindparam("customer_id"), text(OPEN_PREDICATE)
), ("customer_id",))
NOTE_CUSTOMER_SPOKE = update(HANDOFFS).where(HANDOFFS.c.id == bindparam("handoff_id")).values(
    last_customer_at=bindparam("now"),
    awaiting_since=func.coalesce(HANDOFFS.c.awaiting_since, bindparam("now")),
)


def owning_handoff(
    connection: Connection, *, customer_id: int, kind: str, now: datetime,
    message: Callable[[], Mapping[str, Any]] | None = None,
) -> int | None:
    """The id of the customer's open handoff (a person owns the conversation), or None (the bot does).
    A message the customer wrote is noted on it, so timeouts know who waits for whom, and published to
    the console."""
    owner = OPEN_HANDOFF.execute(connection, {"customer_id": customer_id}).first()
    if owner is None:
        return None
    handoff_id, group, agent_id = owner
    if kind in SPOKEN_KINDS:
        connection.execute(NOTE_CUSTOMER_SPOKE, {"handoff_id": handoff_id, "now": now})
    if message is not None:
        publish(connection, LiveEvent(LiveKind.MESSAGE, {
            "handoff_id": handoff_id, "customer_id": customer_id, "group": group, "agent_id": agent_id,
            "message": message(),
        }, now, group=group, agent_id=agent_id, handoff_id=handoff_id))
    return int(handoff_id)


def publish_message(session: Session, handoff: Handoff, row: ConversationMessage, now: datetime) -> None:
    """An outbound message of a conversation a person owns, for the console."""
    publish(session, LiveEvent(LiveKind.MESSAGE, {
        "handoff_id": handoff.id, "customer_id": handoff.customer_id, "group": handoff.group,
        "agent_id": handoff.agent_id, "message": console_message(row),
    }, now, group=handoff.group, agent_id=handoff.agent_id, handoff_id=handoff.id))


def publish_delivery(session: Session, row: ConversationMessage, now: datetime) -> None:
    """A staff member's message was sent, refused or failed: the console shows it on the message."""
    handoff = session.scalar(select(Handoff).where(Handoff.customer_id == row.customer_id)
                             .order_by(Handoff.id.desc()).limit(1))
    if handoff is None:
        return
    publish(session, LiveEvent(LiveKind.DELIVERY, {
        "handoff_id": handoff.id, "customer_id": row.customer_id, "message_id": row.id,
        "delivery": row.delivery, "error_code": row.error_code, "error": row.error,
    }, now, group=handoff.group, agent_id=handoff.agent_id, handoff_id=handoff.id))


def console_message(row: ConversationMessage) -> dict[str, Any]:
    return {"id": row.id, "direction": row.direction, "kind": row.kind, "text": message_text(row.kind, row.body),
            "delivery": row.delivery, "error_code": row.error_code, "error": row.error, "sent_by": row.sent_by,
            "created_at": row.created_at}
