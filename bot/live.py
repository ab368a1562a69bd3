"""Live updates for the staff console: one publish function, and a feed that wakes listeners.

An update is a row of `console_events`, written in the same transaction as the change it reports, so a
listener never hears of a change that rolled back, and one that reconnects catches up by reading the rows
after the last id it saw (SSE's Last-Event-ID). What wakes listeners depends on the database:

- PostgreSQL: `pg_notify` in the publishing transaction (delivered at commit, to every process that
  LISTENs), so a console served by one process hears of a message the webhook took in another;
- SQLite (one machine): the feed looks for the newest row's id every `poll_s` (50 ms: an indexed
  lookup, twenty a second, whatever the number of consoles).

Either way a listener reads the rows themselves from the table; a notification only says "look now".
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Connection, Engine, Index, Integer, String, Table, delete, func, insert, or_, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.db import Base, UTCDateTime
from storage.sealing import SealedJSON
from storage.sql import dialect_name

log = logging.getLogger(__name__)

CHANNEL = "chatshop_console"
MAX_GAPS = 256  # ids skipped at once that the feed looks for again (more: a burst of rollbacks, not commits)


class LiveKind(StrEnum):
    HANDOFF = "handoff"  # a handoff changed state, or was escalated / reminded
    MESSAGE = "message"  # a message in a conversation a person owns (either way)
    DELIVERY = "delivery"  # an agent's message was sent, refused or failed
    NOTE = "note"  # an internal note
    AGENT = "agent"  # an agent's availability or load
    CSAT = "csat"  # a customer rated the service


class ConsoleEvent(Base):
    __tablename__ = "console_events"
    __table_args__ = (Index("ix_console_events_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[LiveKind] = mapped_column(String(16))
    # Who may see it: the conversation's group and agent (agents see their groups' and their own).
    group: Mapped[str | None] = mapped_column(String(40))
    agent_id: Mapped[int | None] = mapped_column(Integer)
    handoff_id: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(SealedJSON("console_events.data"))  # messages' text, notes
    at: Mapped[datetime] = mapped_column(UTCDateTime)


EVENTS = cast(Table, ConsoleEvent.__table__)
INSERT_EVENT = insert(EVENTS)
NOTIFY = text("SELECT pg_notify(:channel, :payload)")


@dataclass(frozen=True)
class LiveEvent:
    kind: LiveKind
    data: Mapping[str, Any]
    at: datetime
    group: str | None = None
    agent_id: int | None = None
    handoff_id: int | None = None


def publish(connection: Connection | Session, event: LiveEvent) -> int:
    """Record the update in the caller's transaction (and, on PostgreSQL, notify at its commit)."""
    row = {"kind": event.kind, "group": event.group, "agent_id": event.agent_id, "handoff_id": event.handoff_id,
           "data": _jsonable(event.data), "at": event.at}
    result = connection.execute(INSERT_EVENT.returning(EVENTS.c.id), row)
    event_id = int(result.scalar_one())
    if dialect_name(connection) == "postgresql":
        connection.execute(NOTIFY, {"channel": CHANNEL, "payload": str(event_id)})
    return event_id


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def events_after(session: Session, after_id: int, limit: int = 200) -> list[ConsoleEvent]:
    return list(session.scalars(select(ConsoleEvent).where(ConsoleEvent.id > after_id)
                                .order_by(ConsoleEvent.id).limit(limit)))


def prune_events(session: Session, *, before: datetime) -> int:
    """Forget updates older than any console still needs (a reconnect catches up on minutes, not days)."""
    removed = session.execute(delete(ConsoleEvent).where(ConsoleEvent.at < before))
    return int(removed.rowcount)  # type: ignore[attr-defined]


def last_event_id(session: Session) -> int:
    return int(session.scalar(select(func.max(ConsoleEvent.id))) or 0)


@dataclass(frozen=True)
class LiveRow:
    """An event as the feed holds it in memory for this process's streams."""

    id: int
    kind: str
    group: str | None
    agent_id: int | None
    data: dict[str, Any]


class LiveFeed:
    """This process's one reader of `console_events`: a background thread (LISTEN on PostgreSQL, a poll
    of SQLite) reads new rows once and keeps the latest in memory, so any number of connected consoles
    cost one query per change, not one each.

    Rows reach the feed in the order they commit, which on PostgreSQL need not be id order (a sequence
    hands out ids at insert): ids skipped over are looked for again for `LATE_COMMIT_S`, and each row
    gets the feed's own sequence number, by which streams follow it.
    """

    LATE_COMMIT_S = 5.0
    KEPT = 4096  # rows kept for streams that fall behind; further behind, a stream reads the table

    def __init__(self, engine: Engine, *, poll_s: float = 0.05, pg_safety_poll_s: float = 2.0) -> None:
        self._engine = engine
        self._poll_s = poll_s if engine.dialect.name != "postgresql" else pg_safety_poll_s
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen = -1  # the highest id read (-1: not started; the feed starts at the newest row)
        self._missing: dict[int, float] = {}  # ids skipped over (maybe not committed yet) → when
        self._rows: deque[tuple[int, LiveRow]] = deque(maxlen=self.KEPT)  # (sequence, row)
        self._sequence = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="chatshop-live", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def ready(self) -> bool:
        """Whether the feed has found where the table stands (rows after that are handed on)."""
        return self._seen >= 0

    def position(self) -> int:
        """Where a stream starting now follows from (rows after this sequence number are new to it)."""
        self.start()
        with self._lock:
            return self._sequence

    def since(self, position: int) -> tuple[list[LiveRow], int] | None:
        """The rows after `position` and the new position; None when they are no longer all held."""
        with self._lock:
            if position >= self._sequence:
                return [], position
            if not self._rows or self._rows[0][0] > position + 1:
                return None
            return [row for sequence, row in self._rows if sequence > position], self._sequence

    async def wait(self, timeout_s: float) -> None:
        """Return when new rows arrived, or after `timeout_s`."""
        self.start()
        event = asyncio.Event()
        waiter = (asyncio.get_running_loop(), event)
        with self._lock:
            self._waiters.add(waiter)
        try:
            await asyncio.wait_for(event.wait(), timeout_s)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.discard(waiter)

    def _wake(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._engine.dialect.name == "postgresql":
                    self._listen()
                else:
                    self._poll()
            except Exception:  # the database went away: streams wait, then the feed tries again
                log.exception("live feed: lost the database; retrying")
                self._stop.wait(1.0)

    def _poll(self) -> None:
        with self._engine.connect() as connection:
            while not self._stop.is_set():
                self._read_new(connection)
                self._stop.wait(self._poll_s)

    def _listen(self) -> None:
        import psycopg

        url = self._engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(url, autocommit=True) as listener, self._engine.connect() as connection:
            listener.execute(f"LISTEN {CHANNEL}")
            self._read_new(connection)  # anything published while nobody listened
            while not self._stop.is_set():
                # Back at the first notification, or after poll_s without one: the safety net also
                # picks up late commits of skipped ids.
                for _ in listener.notifies(timeout=self._poll_s, stop_after=1):
                    pass
                self._read_new(connection)

    def _read_new(self, connection: Connection) -> None:
        if self._seen < 0:
            self._seen = int(connection.execute(select(func.max(EVENTS.c.id))).scalar() or 0)
        now = time.monotonic()
        self._missing = {gap: since for gap, since in self._missing.items() if now - since < self.LATE_COMMIT_S}
        wanted = EVENTS.c.id > self._seen
        if self._missing:
            wanted = or_(wanted, EVENTS.c.id.in_(list(self._missing)))
        rows = connection.execute(select(EVENTS).where(wanted).order_by(EVENTS.c.id).limit(1000)).all()
        connection.rollback()  # a new snapshot next time round
        if rows:
            self._take(rows, now)
            self._wake()

    def _take(self, rows: Sequence[Any], now: float) -> None:
        with self._lock:
            for row in rows:
                self._missing.pop(row.id, None)
                for gap in range(max(self._seen + 1, row.id - MAX_GAPS), row.id):
                    self._missing[gap] = now
                self._seen = max(self._seen, row.id)
                self._sequence += 1
                self._rows.append((self._sequence, LiveRow(row.id, row.kind, row.group, row.agent_id, row.data)))
