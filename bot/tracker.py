"""Conversation trackers: each customer's dialogue state, kept between turns.

A turn loads the state, rebuilds rasa_sdk's `Tracker` from it (slots, active form, latest parsed
message, recent events), applies the events the actions return the way Rasa's own tracker does,
and saves it. The database store keeps one row per customer (`dialogue_states`), read and written
through the group-commit writer like the rest of the hot path; the memory store serves tests and tools.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, Protocol, cast

from rasa_sdk import Tracker
from sqlalchemy import Connection, Insert, Table, bindparam, select

from bot.models import Channel, Customer, DialogueState
from intents.actions.domain import HANDOFF_AT, HANDOFF_REASON, initial_slots
from storage.clock import utcnow
from storage.direct import DirectStatement
from storage.group_commit import GroupCommitWriter
from storage.sql import dialect_insert, insert_ignoring_conflicts

# Enough history for two-stage fallback and a form (a turn adds about five events), small enough to
# rewrite every turn.
MAX_EVENTS = 24

log = logging.getLogger(__name__)

CUSTOMERS = cast(Table, Customer.__table__)
STATES = cast(Table, DialogueState.__table__)

# A state's version (turns, updated_at) and the handoff columns: enough to tell whether a state
# decoded earlier is still the stored one, without reading and decoding its JSON. Read and written
# every turn, so both run on the driver's cursor (storage.direct).
LOAD_VERSION = DirectStatement(
    select(CUSTOMERS.c.id, STATES.c.turns, STATES.c.updated_at, STATES.c.handoff_requested_at,
           STATES.c.handoff_reason)
    .select_from(CUSTOMERS.outerjoin(STATES, STATES.c.customer_id == CUSTOMERS.c.id))
    .where(CUSTOMERS.c.channel == bindparam("channel"), CUSTOMERS.c.openid == bindparam("openid")),
    ("channel", "openid"),
)
# The same by customer id, for the read a message's claim makes (it knows the customer already).
LOAD_VERSION_OF_CUSTOMER = DirectStatement(
    select(STATES.c.turns, STATES.c.updated_at, STATES.c.handoff_requested_at, STATES.c.handoff_reason)
    .where(STATES.c.customer_id == bindparam("customer_id")),
    ("customer_id",),
)
LOAD_STATE = select(STATES.c.slots, STATES.c.active_loop, STATES.c.latest_message, STATES.c.events).where(
    STATES.c.customer_id == bindparam("customer_id")
)
# The row is locked already on PostgreSQL (by the upsert that found it moved on); FOR UPDATE says so.
LOAD_STATE_TO_MERGE = (
    select(STATES.c.slots, STATES.c.active_loop, STATES.c.latest_message, STATES.c.events, STATES.c.turns)
    .where(STATES.c.customer_id == bindparam("customer_id"))
    .with_for_update()
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
    # The stored turns this state was loaded at, and the events applied since: if another process
    # saved a turn meanwhile, the save replays these on top of that turn instead of overwriting it.
    base_turns: int = 0
    turn_events: list[dict[str, Any]] = field(default_factory=list)

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

    def copy(self) -> DialogueSnapshot:
        """A copy a turn may change without changing this one (events are never edited in place)."""
        return DialogueSnapshot(dict(self.slots), self.active_loop, dict(self.latest_message), list(self.events),
                                self.turns, self.customer_id, base_turns=self.turns)

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
            self.turn_events.append(dict(event))
        del self.events[:-MAX_EVENTS]

    def _set_slot(self, name: str, value: Any) -> None:
        self.slots[name] = value
        if name == HANDOFF_AT and value:
            reason = str(self.slots.get(HANDOFF_REASON) or "asked")
            self.new_handoff = Handoff(datetime.fromisoformat(str(value)), reason)
        elif name == HANDOFF_REASON and self.new_handoff is not None and value:
            self.new_handoff.reason = str(value)


class TrackerStore(Protocol):
    def load(self, channel: Channel, openid: str, *, read_at_claim: DialogueSnapshot | None = None) -> DialogueSnapshot:
        """The state a turn starts from; `read_at_claim` is the state the webhook's claim of the message
        read, if it read one (a store may start from it instead of reading again)."""
        ...

    def save(self, channel: Channel, openid: str, snapshot: DialogueSnapshot) -> None: ...


class MemoryTrackerStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[tuple[str, str], DialogueSnapshot] = {}

    def load(self, channel: Channel, openid: str, *, read_at_claim: DialogueSnapshot | None = None) -> DialogueSnapshot:
        with self._lock:
            stored = self._states.get((channel, openid))
            snapshot = copy.deepcopy(stored) if stored else DialogueSnapshot()
        snapshot.new_handoff, snapshot.base_turns, snapshot.turn_events = None, snapshot.turns, []
        return snapshot

    def save(self, channel: Channel, openid: str, snapshot: DialogueSnapshot) -> None:
        with self._lock:
            self._states[(channel, openid)] = copy.deepcopy(snapshot)


Version = tuple[int, datetime]  # a stored state's (turns, updated_at)


class DatabaseTrackerStore:
    """`dialogue_states` rows, read and written through the group-commit writer.

    A read runs as a job of the writer's next batch rather than as a transaction of its own: on
    SQLite every transaction takes the write lock, so a read per message would queue behind the
    writer and hold it up in turn. Queued after every earlier write, it also sees the previous
    turn's save. The states last read or saved are kept decoded (`cache_size` customers); the
    read then fetches only the state's version and handoff columns, and decodes the JSON again
    only when the version differs (another process, or a save that did not commit).
    """

    def __init__(self, writer: GroupCommitWriter, *, cache_size: int = 4096) -> None:
        self._writer = writer
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._decoded: OrderedDict[tuple[str, str], tuple[Version, DialogueSnapshot]] = OrderedDict()

    def load(self, channel: Channel, openid: str, *, read_at_claim: DialogueSnapshot | None = None) -> DialogueSnapshot:
        """With the state the message's claim read, no read of its own: a turn waiting on the writer for a
        read cost a quarter of the webhook's throughput. That state is older than a turn of this customer's
        that this process saved since (two messages in quick succession; the save may still be queued),
        so the newer saved one is taken then."""
        if read_at_claim is None:
            return self._writer.run(lambda connection: self._read(connection, channel, openid))
        saved = self._saved_since((channel, openid), read_at_claim.turns)
        if saved is None:
            return read_at_claim
        saved.customer_id = read_at_claim.customer_id
        return saved

    def read_at_claim(self, connection: Connection, channel: Channel, openid: str,
                      customer_id: int) -> DialogueSnapshot:
        """A customer's state, read by the job that claims their message (a job of the writer's, like `load`)."""
        row = LOAD_VERSION_OF_CUSTOMER.execute(connection, {"customer_id": customer_id}).first()
        if row is None:
            return DialogueSnapshot(customer_id=customer_id)
        turns, updated_at, handoff_requested_at, handoff_reason = row
        return self._snapshot(connection, (channel, openid), customer_id, (int(turns), updated_at),
                              handoff_requested_at, handoff_reason)

    def save(self, channel: Channel, openid: str, snapshot: DialogueSnapshot) -> None:
        """Queue the write without waiting for its commit: the writer commits in order, so it lands
        no later than the reply's own record, before the customer can have read the reply."""
        updated_at = utcnow()
        self._remember((channel, openid), (snapshot.turns, updated_at), snapshot.copy())
        self._writer.submit_unawaited(lambda connection: self._save(connection, channel, openid, snapshot, updated_at),
                                      what="saving a dialogue state")

    def _read(self, connection: Connection, channel: Channel, openid: str) -> DialogueSnapshot:
        row = LOAD_VERSION.execute(connection, {"channel": channel, "openid": openid}).first()
        if row is None:
            return DialogueSnapshot()
        customer_id, turns, updated_at, handoff_requested_at, handoff_reason = row
        if turns is None:
            return DialogueSnapshot(customer_id=int(customer_id))
        return self._snapshot(connection, (channel, openid), int(customer_id), (int(turns), updated_at),
                              handoff_requested_at, handoff_reason)

    def _snapshot(self, connection: Connection, key: tuple[str, str], customer_id: int, version: Version,
                  handoff_requested_at: datetime | None, handoff_reason: str | None) -> DialogueSnapshot:
        """The stored state at `version`, decoded from its JSON only if the one kept decoded is another."""
        turns = version[0]
        decoded = self._recall(key, version)
        if decoded is None:
            state = connection.execute(LOAD_STATE, {"customer_id": customer_id}).one()
            decoded = DialogueSnapshot(state.slots, state.active_loop, state.latest_message, state.events,
                                       int(turns), int(customer_id))
            self._remember(key, version, decoded, read=True)
        snapshot = decoded.copy()
        snapshot.customer_id = int(customer_id)
        snapshot.slots = {**initial_slots(), **snapshot.slots}
        # The columns are the truth for the handoff mark: whoever serves the customer may clear it.
        snapshot.slots[HANDOFF_AT] = handoff_requested_at.isoformat() if handoff_requested_at else None
        snapshot.slots[HANDOFF_REASON] = handoff_reason
        return snapshot

    def _saved_since(self, key: tuple[str, str], turns: int) -> DialogueSnapshot | None:
        """A copy of the state this process last saved or read, if it is further on than `turns`."""
        with self._lock:
            entry = self._decoded.get(key)
            if entry is None or entry[0][0] <= turns:
                return None
            return entry[1].copy()

    def _recall(self, key: tuple[str, str], version: Version) -> DialogueSnapshot | None:
        with self._lock:
            entry = self._decoded.get(key)
            if entry is None or entry[0] != version:
                return None
            self._decoded.move_to_end(key)
            return entry[1]

    def _remember(self, key: tuple[str, str], version: Version, snapshot: DialogueSnapshot, *,
                  read: bool = False) -> None:
        with self._lock:
            kept = self._decoded.get(key)
            # A read made by a claim queued before this process's latest save of the customer's state (still
            # queued behind it) must not push that save out: the next turn starts from the saved one.
            if read and kept is not None and kept[0][0] > version[0]:
                return
            self._decoded[key] = (version, snapshot)
            self._decoded.move_to_end(key)
            while len(self._decoded) > self._cache_size:
                self._decoded.popitem(last=False)

    def _save(self, connection: Connection, channel: Channel, openid: str, snapshot: DialogueSnapshot,
              updated_at: datetime) -> None:
        customer_id = snapshot.customer_id or _customer_id(connection, channel, openid)
        if _write(connection, customer_id, snapshot, updated_at):
            return
        # Another process saved a turn of this customer's after this one loaded (within a process the
        # turn lock rules that out): replay this turn's events on top of the stored state, so both
        # turns are kept rather than the later save dropping the other.
        stored = connection.execute(LOAD_STATE_TO_MERGE, {"customer_id": customer_id}).one()
        merged = DialogueSnapshot({**initial_slots(), **stored.slots}, stored.active_loop, stored.latest_message,
                                  list(stored.events), int(stored.turns) + 1, customer_id, base_turns=int(stored.turns))
        merged.apply(snapshot.turn_events)
        merged.latest_message = snapshot.latest_message
        log.warning("dialogue state of customer %d: a turn saved elsewhere meanwhile (stored turns %d, loaded %d); "
                    "this turn's events were replayed on top of it", customer_id, stored.turns, snapshot.base_turns)
        if not _write(connection, customer_id, merged, updated_at):
            raise RuntimeError(f"dialogue state of customer {customer_id} changed while it was locked")


def _write(connection: Connection, customer_id: int, snapshot: DialogueSnapshot, updated_at: datetime) -> bool:
    """Insert or update the state if the stored one is still the one the turn loaded; False if not."""
    handoff = snapshot.new_handoff
    result = _upsert_statement(connection.dialect.name, handoff is not None).execute(connection, {
        "customer_id": customer_id, "base_turns": snapshot.base_turns,
        "slots": snapshot.slots, "active_loop": snapshot.active_loop, "latest_message": snapshot.latest_message,
        "events": snapshot.events, "turns": snapshot.turns, "updated_at": updated_at,
        "handoff_requested_at": handoff.requested_at if handoff else None,
        "handoff_reason": handoff.reason if handoff else None,
    })
    # RETURNING rather than rowcount: SQLAlchemy does not keep an INSERT's rowcount on every driver
    # (psycopg reports -1 here for an upsert that updated nothing and for one that did).
    return result.first() is not None


# Columns every turn rewrites; the handoff mark only when the turn set it (staff may have cleared it).
_TURN_COLUMNS = ("slots", "active_loop", "latest_message", "events", "turns", "updated_at")
_HANDOFF_COLUMNS = ("handoff_requested_at", "handoff_reason")


@cache
def _upsert_statement(dialect: str, with_handoff: bool) -> DirectStatement:
    """Built and compiled once per dialect, run on the driver's cursor."""
    insert = dialect_insert(dialect, STATES).values(
        {name: bindparam(name) for name in ("customer_id", *_TURN_COLUMNS, *_HANDOFF_COLUMNS)}
    )
    updated = _TURN_COLUMNS + (_HANDOFF_COLUMNS if with_handoff else ())
    # Only over the state the turn started from: a row that moved on since is left as it is and
    # returns nothing.
    upsert = insert.on_conflict_do_update(
        index_elements=[STATES.c.customer_id], set_={name: insert.excluded[name] for name in updated},
        where=STATES.c.turns == bindparam("base_turns"),
    ).returning(STATES.c.customer_id)
    return DirectStatement(upsert, ("customer_id", "base_turns", *_TURN_COLUMNS, *_HANDOFF_COLUMNS))


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
