"""Job leases with a moved clock: a process takes a free lease, renews its own, is refused one another
process holds, takes over one past its expiry, and releases what it holds; a run happens only under a
lease held here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from scheduler.leases import JobLeases, LastRun, release_leases, take_lease
from scheduler.models import JobLease
from scheduler.runner import Job, _logged
from storage.db import transaction

T0 = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
TTL = 30.0


def take(factory: sessionmaker[Session], holder: str, at: datetime, name: str = "outbox_sweep",
         last_run: LastRun | None = None) -> datetime | None:
    with transaction(factory) as session:
        return take_lease(session, name, holder=holder, now=at, ttl_s=TTL, last_run=last_run)


def row(factory: sessionmaker[Session], name: str = "outbox_sweep") -> JobLease:
    with factory() as session:
        lease = session.scalar(select(JobLease).where(JobLease.name == name))
    assert lease is not None
    return lease


def test_a_free_lease_is_taken_and_its_row_says_by_whom_and_until_when(factory: sessionmaker[Session]) -> None:
    assert take(factory, "host-a:11:aa", T0) == T0 + timedelta(seconds=TTL)
    lease = row(factory)
    assert (lease.holder, lease.expires_at, lease.acquired_at) == ("host-a:11:aa", T0 + timedelta(seconds=TTL), T0)


def test_the_holder_renews_its_lease_keeping_when_it_took_it(factory: sessionmaker[Session]) -> None:
    take(factory, "host-a:11:aa", T0)
    later = T0 + timedelta(seconds=10)
    assert take(factory, "host-a:11:aa", later, last_run=LastRun(later, "3 done")) == later + timedelta(seconds=TTL)
    lease = row(factory)
    assert (lease.expires_at, lease.acquired_at) == (later + timedelta(seconds=TTL), T0)
    assert (lease.last_run_at, lease.last_result) == (later, "3 done")


def test_a_lease_another_process_holds_is_refused_until_it_expires(factory: sessionmaker[Session]) -> None:
    take(factory, "host-a:11:aa", T0)
    # Given a second process asking just before the expiry: refused, and the row unchanged
    just_before = T0 + timedelta(seconds=TTL - 0.001)
    assert take(factory, "host-b:22:bb", just_before, last_run=LastRun(just_before, "1 done")) is None
    lease = row(factory)
    assert (lease.holder, lease.expires_at, lease.last_result) == ("host-a:11:aa", T0 + timedelta(seconds=TTL), None)


def test_a_lease_past_its_expiry_is_taken_over(factory: sessionmaker[Session]) -> None:
    take(factory, "host-a:11:aa", T0)
    after = T0 + timedelta(seconds=TTL + 0.001)
    assert take(factory, "host-b:22:bb", after) == after + timedelta(seconds=TTL)
    assert (row(factory).holder, row(factory).acquired_at) == ("host-b:22:bb", after)
    # and the old holder, back too late, is refused its renewal
    assert take(factory, "host-a:11:aa", after + timedelta(seconds=1)) is None


def test_a_released_lease_is_taken_at_once_and_only_the_holders_own_are_released(
    factory: sessionmaker[Session],
) -> None:
    take(factory, "host-a:11:aa", T0, name="outbox_sweep")
    take(factory, "host-b:22:bb", T0, name="advance_orders")
    stop = T0 + timedelta(seconds=5)
    with transaction(factory) as session:
        released = release_leases(session, holder="host-a:11:aa", now=stop,
                                  last_runs={"outbox_sweep": LastRun(stop, "0 done")})
    assert released == 1
    freed = row(factory, "outbox_sweep")
    assert (freed.holder, freed.expires_at, freed.last_result) == (None, stop, "0 done")
    assert row(factory, "advance_orders").holder == "host-b:22:bb"
    # Given another process's next beat, a moment later and well inside the old ttl: it takes the lease
    assert take(factory, "host-b:22:bb", stop) == stop + timedelta(seconds=TTL)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def test_a_job_runs_only_while_this_process_holds_its_lease(factory: sessionmaker[Session]) -> None:
    clock_a, clock_b = Clock(T0), Clock(T0)
    a = JobLeases(factory, ttl_s=TTL, holder="host-a:11:aa", clock=clock_a)
    b = JobLeases(factory, ttl_s=TTL, holder="host-b:22:bb", clock=clock_b)
    runs: list[str] = []
    names = ["outbox_sweep", "advance_orders"]

    def sweep_in(process: str) -> Callable[[], int]:
        def sweep() -> int:
            runs.append(process)
            return 1
        return sweep

    run_a = _logged(Job("outbox_sweep", sweep_in("a"), 1.0), a)
    run_b = _logged(Job("outbox_sweep", sweep_in("b"), 1.0), b)
    # Given the first process's beat: it holds both jobs, the second none
    assert a.beat(names) == sorted(names)
    assert b.beat(names) == []
    run_a(), run_b()
    assert runs == ["a"]
    # When the first stops beating (killed) and its hold runs out, in its own memory too
    clock_a.at = clock_b.at = T0 + timedelta(seconds=TTL + 1)
    run_a()
    assert runs == ["a"]
    # Then the second's next beat takes both, and only it runs the job
    assert b.beat(names) == sorted(names)
    run_a(), run_b()
    assert runs == ["a", "b"]
    # and its run is written to the row with the renewal after it
    clock_b.at += timedelta(seconds=10)
    b.beat(names)
    assert (row(factory).last_run_at, row(factory).last_result) == (T0 + timedelta(seconds=TTL + 1), "1 done")
    # When it releases them at shutdown, the first takes them at its next beat
    assert b.release() == 2 and not b.holds("outbox_sweep")
    assert a.beat(names) == sorted(names)
