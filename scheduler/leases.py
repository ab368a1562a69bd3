"""Job leases: each job runs in one process at a time, and a process that dies hands its jobs over.

A lease is a row of `job_leases`: the job's name, the process holding it (host:pid:random) and when
the hold ends. A process takes or renews a lease with one conditional UPDATE (it is free, or already
ours, or past its expiry), inserting the row the first time a job is seen. Each process's heartbeat
renews what it holds and takes what is free every third of the lease's time to live, so a process
that is killed loses its jobs within one ttl and another process has them by its next beat. A process
that stops cleanly releases its leases, and the others take them at once.

Runs read the in-memory "held until" of the last renewal rather than the database, so the outbox
sweep's run every second costs no write. Times are each process's own clock: hosts sharing a database
are expected to keep time (NTP); their skew eats into the margin between a renewal and the expiry.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, case, literal, or_, update
from sqlalchemy.orm import Session, sessionmaker

from storage.clock import utcnow
from storage.db import UTCDateTime, transaction
from storage.sql import affected_rows, insert_ignoring_conflicts

from .models import JobLease

log = logging.getLogger(__name__)

LEASES = cast(Table, JobLease.__table__)
RESULT_LENGTH = 200  # job_leases.last_result


@dataclass(frozen=True)
class LastRun:
    """A run not yet written to its lease row (it goes with the next renewal)."""

    at: datetime
    result: str


def new_holder_id() -> str:
    """host:pid:random, unique per process even where pids repeat (containers) or several runners share one."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def take_lease(session: Session, name: str, *, holder: str, now: datetime, ttl_s: float,
               last_run: LastRun | None = None) -> datetime | None:
    """Take or renew the lease of job `name` for `holder`; returns when the hold ends, or None when
    another process holds it. `last_run` is written only where the lease stays with `holder`."""
    expires_at = now + timedelta(seconds=ttl_s)
    c = LEASES.c
    values: dict[str, object] = {
        "holder": holder,
        "expires_at": expires_at,
        # A renewal keeps the time the lease was taken; a takeover starts it afresh.
        "acquired_at": case((c.holder == holder, c.acquired_at), else_=literal(now, UTCDateTime())),
    }
    if last_run is not None:
        values |= {"last_run_at": last_run.at, "last_result": last_run.result[:RESULT_LENGTH]}
    renewed = session.execute(
        update(LEASES)
        .where(c.name == name, or_(c.holder == holder, c.holder.is_(None), c.expires_at < now))
        .values(values)
    )
    if affected_rows(renewed):
        return expires_at
    # No row matched: either the job is new, or another process holds it. Inserting settles which,
    # and two processes inserting at once both learn from the one that wins.
    inserted = session.execute(
        insert_ignoring_conflicts(session, LEASES)
        .values(name=name, holder=holder, expires_at=expires_at, acquired_at=now)
        .returning(c.name)
    ).first()
    return expires_at if inserted is not None else None


def release_leases(session: Session, *, holder: str, now: datetime,
                   last_runs: Mapping[str, LastRun] | None = None) -> int:
    """Give up every lease `holder` holds, so other processes take them at their next beat; returns how many."""
    c = LEASES.c
    for name, run in sorted((last_runs or {}).items()):
        session.execute(update(LEASES).where(c.name == name, c.holder == holder)
                        .values(last_run_at=run.at, last_result=run.result[:RESULT_LENGTH]))
    released = session.execute(update(LEASES).where(c.holder == holder).values(holder=None, expires_at=now))
    return affected_rows(released)


class JobLeases:
    """This process's leases: the heartbeat (`beat`) takes and renews them, each run asks `holds` first."""

    def __init__(self, factory: sessionmaker[Session], *, ttl_s: float = 30.0, holder: str | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        if ttl_s <= 0:
            raise ValueError("lease ttl must be positive")
        self.factory = factory
        self.ttl_s = ttl_s
        self.holder = holder or new_holder_id()
        self._clock = clock
        self._held: dict[str, datetime] = {}  # job name -> end of this process's hold, as last renewed
        self._runs: dict[str, LastRun] = {}  # runs not yet written to their rows
        self._lock = threading.Lock()

    @property
    def heartbeat_s(self) -> float:
        # Three beats per ttl: one slow or failed renewal does not yet lose a lease.
        return self.ttl_s / 3

    def now(self) -> datetime:
        return self._clock()

    def holds(self, name: str) -> bool:
        """Whether this process may run job `name` now (no database access)."""
        until = self._held.get(name)
        return until is not None and self._clock() < until

    def held(self) -> list[str]:
        now = self._clock()
        return sorted(name for name, until in self._held.items() if now < until)

    def record_run(self, name: str, result: str, *, at: datetime) -> None:
        with self._lock:
            self._runs[name] = LastRun(at, result)

    def beat(self, names: Iterable[str]) -> list[str]:
        """Renew the leases held and take the free ones among `names`, in one transaction; returns the
        names held afterwards. Rows are visited in name order, so two processes' beats never deadlock."""
        now = self._clock()
        runs = self._take_runs()
        held: dict[str, datetime] = {}
        try:
            with transaction(self.factory) as session:
                for name in sorted(set(names)):
                    until = take_lease(session, name, holder=self.holder, now=now, ttl_s=self.ttl_s,
                                       last_run=runs.get(name))
                    if until is not None:
                        held[name] = until
        except Exception:
            self._give_back_runs(runs)
            raise
        before = set(self.held())
        self._held = held
        if taken := sorted(held.keys() - before):
            log.info("job leases taken by %s: %s", self.holder, ", ".join(taken))
        if lost := sorted(before - held.keys()):
            # Only a renewal that came too late loses a lease: another process has these jobs now.
            log.warning("job leases lost by %s: %s", self.holder, ", ".join(lost))
        return sorted(held)

    def release(self) -> int:
        """Give up every lease this process holds (at shutdown), writing the runs not yet written."""
        self._held = {}  # nothing runs here from now on, whatever the database says
        runs = self._take_runs()
        with transaction(self.factory) as session:
            released = release_leases(session, holder=self.holder, now=self._clock(), last_runs=runs)
        if released:
            log.info("job leases released by %s: %d", self.holder, released)
        return released

    def _take_runs(self) -> dict[str, LastRun]:
        with self._lock:
            runs, self._runs = self._runs, {}
        return runs

    def _give_back_runs(self, runs: Mapping[str, LastRun]) -> None:
        with self._lock:
            # A run recorded while the failed beat was under way is newer: it stays.
            self._runs = {**runs, **self._runs}
