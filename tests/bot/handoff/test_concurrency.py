"""Assignment under concurrency, on whatever database the suite runs on: threads with sessions of their own
assign one queue and resolve chats while an agent goes offline and online again, and two hand-offs of one
customer race. The database's event rows are replayed to check the outcome; nothing here measures time."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import bot.handoff.operations as operations
from bot.handoff.models import (
    OPEN_STATES,
    AgentStatus,
    EventKind,
    Handoff,
    HandoffEvent,
    HandoffReason,
    HandoffState,
    Resolution,
    RoutingAgent,
)
from bot.handoff.operations import Actor, assign_next, hand_off, lock_group, resolve
from bot.handoff.roster import sync_agent
from bot.models import Channel, Customer
from storage.db import transaction

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
GROUP = "售前"
LIMITS = {1: 2, 2: 3, 3: 2, 4: 3}  # ten places for forty chats
TOGGLED = 1  # the agent who goes offline and online again
CHATS = 40
ASSIGNERS = 4
TOGGLES = 6
RESOLVES = 25  # fewer than the chats, so some are still held at the end and the counters are tested


def customer(session: Session, openid: str) -> int:
    row = Customer(channel=Channel.OA, openid=openid, created_at=NOW)
    session.add(row)
    session.flush()
    return row.id


def queue(factory: sessionmaker[Session], n: int) -> int:
    with transaction(factory) as session:
        handoff, _ = hand_off(session, customer_id=customer(session, f"o_{n}"), reason=HandoffReason.ASKED,
                              group=GROUP, summary={}, now=NOW + timedelta(seconds=n))
        return handoff.id


def set_agent(factory: sessionmaker[Session], staff_id: int, status: AgentStatus = AgentStatus.ONLINE) -> None:
    with transaction(factory) as session:
        sync_agent(session, staff_id=staff_id, display_name=f"agent{staff_id}", groups=(GROUP,), status=status,
                   max_chats=LIMITS[staff_id], now=NOW, actor=Actor(f"agent{staff_id}", staff_id))


class Run:
    """What the threads share: when to stop, how many resolves are left, and what went wrong."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory
        self.stop = threading.Event()
        self.failures: list[BaseException] = []
        self._lock = threading.Lock()
        self._resolves_left = RESOLVES

    def guarded(self, body: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                body()
            except BaseException as exc:  # re-raised by the test, not lost in the thread
                self.failures.append(exc)
                self.stop.set()
        return run

    def take_resolve(self) -> bool:
        with self._lock:
            if self._resolves_left <= 0:
                return False
            self._resolves_left -= 1
            return True

    def give_back_resolve(self) -> None:
        with self._lock:
            self._resolves_left += 1


def assigner(run: Run, seed: int) -> None:
    rng = random.Random(seed)
    while not run.stop.is_set():
        with transaction(run.factory) as session:
            assigned = assign_next(session, group=GROUP, now=NOW)
        if rng.random() < 0.5 and run.take_resolve() and not resolve_one(run.factory, rng):
            run.give_back_resolve()
        if assigned is None:
            time.sleep(0.001)  # nothing to do until an agent frees a place: let the others run


def resolve_one(factory: sessionmaker[Session], rng: random.Random) -> bool:
    """Resolve a random assigned chat as the desk does: the group's lock, then the handoff row."""
    with factory() as session:
        held = session.scalars(select(Handoff.id).where(Handoff.state == HandoffState.ASSIGNED)).all()
    if not held:
        return False
    handoff_id = rng.choice(held)
    with transaction(factory) as session:
        lock_group(session, GROUP)
        handoff = session.scalar(select(Handoff).where(Handoff.id == handoff_id).with_for_update())
        if handoff is None or handoff.state != HandoffState.ASSIGNED:
            return False  # another thread resolved it, or its agent went offline
        resolve(session, handoff=handoff, resolution=Resolution.AGENT, actor=Actor("test"), now=NOW)
        return True


def toggler(run: Run) -> None:
    for _ in range(TOGGLES):
        wait_until_holding(run, TOGGLED)  # so that going offline has chats to put back
        set_agent(run.factory, TOGGLED, AgentStatus.OFFLINE)
        time.sleep(0.01)  # let the assigners and resolvers run while the agent is away
        set_agent(run.factory, TOGGLED)


def wait_until_holding(run: Run, staff_id: int) -> None:
    """More chats wait than the other agents have places, so the assigners give this agent some soon."""
    deadline = time.monotonic() + 30  # only a guard against hanging the suite
    while not run.stop.is_set() and time.monotonic() < deadline:
        with run.factory() as session:
            if session.get_one(RoutingAgent, staff_id).active_chats:
                return
        time.sleep(0.002)


def replay(events: list[HandoffEvent], place: dict[int, tuple[datetime, int]]) -> Counter[str]:
    """Problems found replaying the events in id order. Every event of the group is written under the
    group's lock and every change of an agent's load under their row lock, so on PostgreSQL too the ids
    (from a sequence with CACHE 1) follow commit order wherever it matters."""
    problems: Counter[str] = Counter()
    holder: dict[int, int] = {}
    held: Counter[int] = Counter()
    queued: set[int] = set()
    for event in events:
        queued.discard(event.handoff_id)
        previous = holder.pop(event.handoff_id, None)
        if previous is not None:
            held[previous] -= 1
        if event.kind == EventKind.ASSIGNED:
            assert event.agent_id is not None
            problems["assigned twice"] += previous is not None
            problems["older still queued"] += any(place[o] < place[event.handoff_id] for o in queued)
            holder[event.handoff_id] = event.agent_id
            held[event.agent_id] += 1
            problems["over limit"] += held[event.agent_id] > LIMITS[event.agent_id]
        elif event.to_state == HandoffState.QUEUED:
            queued.add(event.handoff_id)
    return +problems


def test_threads_assigning_one_queue_keep_owners_limits_and_order(factory: sessionmaker[Session]) -> None:
    # Given forty chats waiting, a second apart, and four agents with ten places between them
    ids = [queue(factory, n) for n in range(CHATS)]
    for staff_id in LIMITS:
        set_agent(factory, staff_id)
    # When four threads assign and resolve while agent 1 goes offline and online again, six times
    run = Run(factory)
    threads = [threading.Thread(target=run.guarded(partial(assigner, run, seed))) for seed in range(ASSIGNERS)]
    toggling = threading.Thread(target=run.guarded(lambda: toggler(run)))
    for thread in [*threads, toggling]:
        thread.start()
    toggling.join()
    run.stop.set()
    for thread in threads:
        thread.join()
    for failure in run.failures:
        raise failure
    while True:  # whatever waits and fits goes out, as the desk's next assignment run would do
        with transaction(factory) as session:
            if assign_next(session, group=GROUP, now=NOW) is None:
                break
    # Then nothing was assigned twice, nobody held more than their limit, and the queue went oldest first
    with factory() as session:
        events = list(session.scalars(select(HandoffEvent).order_by(HandoffEvent.id)))
        handoffs = list(session.scalars(select(Handoff)))
        counters = {a.staff_id: a.active_chats for a in session.scalars(select(RoutingAgent))}
    assert replay(events, {h.id: (h.queued_at, h.id) for h in handoffs}) == Counter()
    assert sum(e.kind == EventKind.QUEUED and e.from_state == HandoffState.ASSIGNED for e in events) > 0
    # and each agent's counter is what they hold, within their limit, with every place taken
    holding = Counter(h.agent_id for h in handoffs if h.state == HandoffState.ASSIGNED)
    assert counters == {staff_id: holding[staff_id] for staff_id in LIMITS}
    assert all(counters[staff_id] <= limit for staff_id, limit in LIMITS.items())
    open_chats = sum(h.state in OPEN_STATES for h in handoffs)
    assert sum(counters.values()) == min(open_chats, sum(LIMITS.values()))
    assert sorted(h.id for h in handoffs) == ids


def test_two_hand_offs_of_one_customer_at_once_open_one_handoff(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    with transaction(factory) as session:
        customers = [customer(session, f"o_twice_{n}") for n in range(5)]
    postgres = factory.kw["bind"].dialect.name == "postgresql"
    for customer_id in customers:
        # Given two threads handing off the same customer at the same moment
        outcomes = race_hand_offs(factory, customer_id, monkeypatch, force_race=postgres)
        # Then one opened the handoff and the other was given that same one
        assert sorted(new for _, new in outcomes) == [False, True]
        assert len({handoff_id for handoff_id, _ in outcomes}) == 1
    with factory() as session:
        per_customer = session.execute(select(Handoff.customer_id, func.count()).where(Handoff.state.in_(OPEN_STATES))
                                       .group_by(Handoff.customer_id)).all()
        events = session.scalar(select(func.count()).select_from(HandoffEvent))
    assert dict(per_customer) == dict.fromkeys(customers, 1)
    assert events == len(customers)  # the one that lost the race wrote nothing


def race_hand_offs(factory: sessionmaker[Session], customer_id: int, monkeypatch: pytest.MonkeyPatch, *,
                   force_race: bool) -> list[tuple[int, bool]]:
    """Both threads start together; on PostgreSQL both also pass the "no open handoff yet" lookup before
    either inserts, so the partial unique index is what decides. (SQLite lets one writer in at a time:
    the second simply finds the first's handoff.)"""
    start, looked = threading.Barrier(2), threading.Barrier(2)
    first_lookup = threading.local()
    lookup = operations.open_handoff_of

    def lookup_then_wait(session: Session, customer: int) -> Any:
        found = lookup(session, customer)
        lookups.append(found is not None)
        if force_race and not getattr(first_lookup, "done", False):
            first_lookup.done = True
            looked.wait(timeout=10)
        return found

    monkeypatch.setattr(operations, "open_handoff_of", lookup_then_wait)
    outcomes: list[tuple[int, bool]] = []
    failures: list[BaseException] = []
    lookups: list[bool] = []  # per lookup: whether it found an open handoff

    def hand(group: str) -> None:
        try:
            start.wait(timeout=10)
            with transaction(factory) as session:
                handoff, new = hand_off(session, customer_id=customer_id, reason=HandoffReason.ASKED, group=group,
                                        summary={}, now=NOW)
                outcomes.append((handoff.id, new))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=hand, args=(group,)) for group in ("售前", "售后")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for failure in failures:
        raise failure
    # Forced: both first lookups found nothing, and the loser's insert hit the index and looked again.
    assert not force_race or sorted(lookups) == [False, False, True]
    return outcomes

