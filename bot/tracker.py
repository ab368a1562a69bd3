"""Conversation trackers: each customer's dialogue state, kept between turns.

A turn loads the state, rebuilds rasa_sdk's `Tracker` from it (slots, active form, latest parsed
message, recent events), applies the events the actions return the way Rasa's own tracker does,
and saves it. The database store keeps one row per customer (`dialogue_states`), written through
the group-commit writer like the rest of the hot path; the memory store serves tests and tools.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, Protocol, cast

from rasa_sdk import Tracker
from sqlalchemy import Connection, Insert, Table, bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from bot.models import Channel, Customer, DialogueState
from commerce.db import dialect_insert, insert_ignoring_conflicts, utcnow
from commerce.group_commit import GroupCommitWriter
from intents.actions.domain import HANDOFF_AT, HANDOFF_REASON, initial_slots

log = logging.getLogger(__name__)

# Enough history for two-stage fallback and a form (a turn adds about five events), small enough to
# rewrite every turn.
MAX_EVENTS = 24

CUSTOMERS = cast(Table, Customer.__table__)
STATES = cast(Table, DialogueState.__table__)

LOAD_STATE = (
    select(CUSTOMERS.c.id, STATES.c.slots, STATES.c.active_loop, STATES.c.latest_message, STATES.c.events,
           STATES.c.turns, STATES.c.handoff_requested_at, STATES.c.handoff_reason)
    .select_from(CUSTOMERS.outerjoin(STATES, STATES.c.customer_id == CUSTOMERS.c.id))
    .where(CUSTOMERS.c.channel == bindparam("channel"), CUSTOMERS.c.openid == bindparam("openid"))
)
FIND_CUSTOMER = select(CUSTOMERS.c.id).where(
    CUSTOMERS.c.channel == bindparam("channel"), CUSTOMERS.c.openid == bindparam("openid")
)


@dataclass
class Handoff:
    requested_at: datetime
    reason: str


@dataclass
class DialogueSnapshot:
    """One customer's dialogue between turns."""

    slots: dict[str, Any] = field(default_factory=initial_slots)
    active_loop: str | None = None
    latest_message: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    turns: int = 0
    customer_id: int | None = None
    # Set when this turn marked the conversation for a person; saved into its own columns.
    new_handoff: Handoff | None = None

    def tracker(self, sender_id: str) -> Tracker:
        """rasa_sdk's view of this state (a copy: actions may set slots and add events freely)."""
        # Shallow copies suffice: rasa_sdk sets slots and appends events, it never edits one in place.
        return Tracker(
            sender_id,
            dict(self.slots),
            dict(self.latest_message),
            list(self.events),
            False,
            None,
            {"name": self.active_loop} if self.active_loop else {},
            self.latest_action_name,
        )

    @property
    def latest_action_name(self) -> str | None:
        return next((str(e["name"]) for e in reversed(self.events) if e.get("event") == "action"), None)

    def apply(self, events: Iterable[dict[str, Any]]) -> None:
        """Apply events as Rasa's tracker does: slots, forms (active_loop), resets, restarts."""
        for event in events:
            kind = event.get("event")
            if kind == "slot":
                self._set_slot(str(event["name"]), event.get("value"))
            elif kind == "active_loop":
                self.active_loop = event.get("name") or None
            elif kind == "reset_slots":
                self.slots = initial_slots()
            elif kind == "restart":
                self.slots, self.active_loop, self.events = initial_slots(), None, []
            self.events.append(dict(event))
        del self.events[:-MAX_EVENTS]

    def _set_slot(self, name: str, value: Any) -> None:
        self.slots[name] = value
        if name == HANDOFF_AT and value:
            reason = str(self.slots.get(HANDOFF_REASON) or "asked")
            self.new_handoff = Handoff(datetime.fromisoformat(str(value)), reason)
        elif name == HANDOFF_REASON and self.new_handoff is not None and value:
            self.new_handoff.reason = str(value)


class TrackerStore(Protocol):
    def load(self, channel: Channel, openid: str) -> DialogueSnapshot: ...

    def save(self, channel: Channel, openid: str, snapshot: DialogueSnapshot) -> None: ...


class MemoryTrackerStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[tuple[str, str], DialogueSnapshot] = {}

    def load(self, channel: Channel, openid: str) -> DialogueSnapshot:
        with self._lock:
            stored = self._states.get((channel, openid))
            snapshot = copy.deepcopy(stored) if stored else DialogueSnapshot()
        snapshot.new_handoff = None
        return snapshot

    def save(self, channel: Channel, openid: str, snapshot: DialogueSnapshot) -> None:
        with self._lock:
            self._states[(channel, openid)] = copy.deepcopy(snapshot)


class DatabaseTrackerStore:
    """`dialogue_states` rows: read with a plain query, written through the group-commit writer."""

    def __init__(self, factory: sessionmaker[Session], writer: GroupCommitWriter) -> None:
        self._factory = factory
        self._writer = writer

    def load(self, channel: Channel, openid: str) -> DialogueSnapshot:
        with self._factory() as session:
            row = session.execute(LOAD_STATE, {"channel": channel, "openid": openid}).first()
        if row is None or row.slots is None:
            return DialogueSnapshot(customer_id=None if row is None else int(row.id))
        slots = {**initial_slots(), **row.slots}
        # The columns are the truth for the handoff mark: whoever serves the customer may clear it.
        slots[HANDOFF_AT] = row.handoff_requested_at.isoformat() if row.handoff_requested_at else None
        slots[HANDOFF_REASON] = row.handoff_reason
        return DialogueSnapshot(slots, row.active_loop, dict(row.latest_message), list(row.events), int(row.turns),
                                int(row.id))

    def save(self, channel: Channel, openid: str, snapshot: DialogueSnapshot) -> None:
        """Queue the write without waiting for its commit: the writer commits in order, so it lands
        no later than the reply's own record, before the customer can have read the reply."""
        saved = self._writer.submit(lambda connection: self._save(connection, channel, openid, snapshot))
        saved.add_done_callback(_log_failure)

    def _save(self, connection: Connection, channel: Channel, openid: str, snapshot: DialogueSnapshot) -> None:
        handoff = snapshot.new_handoff
        connection.execute(_upsert_statement(connection.dialect.name, handoff is not None), {
            "customer_id": snapshot.customer_id or _customer_id(connection, channel, openid),
            "slots": snapshot.slots, "active_loop": snapshot.active_loop, "latest_message": snapshot.latest_message,
            "events": snapshot.events, "turns": snapshot.turns, "updated_at": utcnow(),
            "handoff_requested_at": handoff.requested_at if handoff else None,
            "handoff_reason": handoff.reason if handoff else None,
        })


# Columns every turn rewrites; the handoff mark only when the turn set it (staff may have cleared it).
_TURN_COLUMNS = ("slots", "active_loop", "latest_message", "events", "turns", "updated_at")
_HANDOFF_COLUMNS = ("handoff_requested_at", "handoff_reason")


@cache
def _upsert_statement(dialect: str, with_handoff: bool) -> Insert:
    """Built once per dialect and run with parameters, so SQLAlchemy reuses the compiled SQL."""
    insert = dialect_insert(dialect, STATES).values(
        {name: bindparam(name) for name in ("customer_id", *_TURN_COLUMNS, *_HANDOFF_COLUMNS)}
    )
    updated = _TURN_COLUMNS + (_HANDOFF_COLUMNS if with_handoff else ())
    return insert.on_conflict_do_update(
        index_elements=[STATES.c.customer_id], set_={name: insert.excluded[name] for name in updated}
    )


def _log_failure(saved: Future[None]) -> None:
    error = saved.exception()
    if error is not None:
        log.error("dialogue state not saved: %s", error, exc_info=error)


@cache
def _create_customer(dialect: str) -> Insert:
    return insert_ignoring_conflicts(dialect, CUSTOMERS)


def _customer_id(connection: Connection, channel: Channel, openid: str) -> int:
    """The customer's id, creating the row if the conversation log has not (a turn run on its own)."""
    who = {"channel": channel, "openid": openid}
    found = connection.execute(FIND_CUSTOMER, who).scalar()
    if found is not None:
        return int(found)
    connection.execute(_create_customer(connection.dialect.name), {**who, "subscribed": False, "created_at": utcnow()})
    return int(connection.execute(FIND_CUSTOMER, who).scalar_one())
