"""Benchmark handoff routing under concurrency: 200 customers ask for a person across 3 groups, 10 agents
with limits 2–5 go online and offline at random while chats resolve.

--processes worker OS processes (spawned) drive one database at the same time. Each takes its share of
the customers, agents and chats, and in a seeded random order:

  - hands a customer off (the `hand_off` operation, in a transaction of its own), then assigns the group's
    queue as the handoff desk does: `assign_next`, one transaction each, until it returns None;
  - changes one of its agents' availability (`sync_agent`: online, away or offline, limit 2–5; offline
    re-queues what they hold), then assigns the agent's groups;
  - resolves one of its customers' assigned chats (group lock, then the handoff row, as the desk does),
    then assigns that group.

When a process has handed off all its customers and made its share of status changes, it brings its
agents back online, and it runs until every one of its customers' chats is resolved (or --time-limit).

--seed fixes each process's own choices; how the processes interleave still varies, and with it the
figures (not the checks: those must be 0 in every run).

Then the database's own record is checked: the event rows (handoff_events, replayed in id order) and
the tables' final state.

  assigned twice      a chat given to an agent while an agent still held it (no re-queue or resolve between)
  lost                a customer whose chat was never opened or is not resolved at the end
  over limit          moments an agent held more chats than the most they were ever allowed
  counters ≠ 0        agents whose routing_agents.active_chats is not 0 at the end (all chats are resolved)
  order violations    an assignment in a group while an older chat (queued_at, id) of it was still queued
  spread              max ÷ min over agents of (chats assigned to them ÷ their mean capacity while online)
  errors              transactions that failed (deadlocks, lock timeouts, a chat that "changed meanwhile")

Prints a markdown table with one row per database, and with --json a last line holding every figure as
JSON. Progress goes to stderr. Every database it is given is reset first (PostgreSQL: schema public
dropped and recreated; SQLite: a new temporary file), then migrated.

    .venv/bin/python bench/routing.py [--database-url postgresql://postgres@localhost:5432/bench_routing]
        [--customers 200] [--agents 10] [--processes 2] [--seed 1] [--json]

With no --database-url it runs on SQLite and, if it answers, on the PostgreSQL default as well.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import queue
import random
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from scratch_keys import install_scratch_keys
from servers import Stopped, run_measurements
from webhook import command_line, cores, positive_int, reset_database

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from bot.handoff.errors import HandoffError
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
from chatshop.database import upgrade_database
from storage.clock import utcnow
from storage.db import database_answers, make_engine, make_session_factory, open_engine, transaction

DEFAULT_DATABASE_URL = "postgresql://postgres@localhost:5432/bench_routing"
GROUPS = ("售前", "售后", "VIP")
MIN_CHATS, MAX_CHATS = 2, 5
STATUS_WEIGHTS = {AgentStatus.ONLINE: 5, AgentStatus.AWAY: 2, AgentStatus.OFFLINE: 3}
# An iteration's choice between its actions: hand a customer off, change an agent's status, resolve a chat.
ACTION_WEIGHTS = {"hand_off": 3, "status": 1, "resolve": 3}
IDLE_SLEEP_S = 0.002  # nothing of ours to do: the other processes hold the agents our queue waits for
RESULT_GRACE_S = 60.0
BENCH_ACTOR = Actor("bench")

T = TypeVar("T")


class BenchError(RuntimeError):
    """The run cannot give meaningful figures; the message says why."""


@dataclass(frozen=True)
class AgentPlan:
    staff_id: int
    groups: tuple[str, ...]


@dataclass(frozen=True)
class WorkerPlan:
    index: int
    url: str
    customers: list[tuple[int, str]]  # (customer id, the group they ask for), in the order they ask
    agents: list[AgentPlan]
    status_changes: int  # random status changes before its agents come back online for good
    seed: int
    deadline: float  # time.time() after which it gives up


# One status change: (time.time() after commit, staff id, status, max_chats).
StatusChange = tuple[float, int, str, int]


@dataclass
class WorkerReport:
    index: int
    started: float = 0.0
    finished: float = 0.0
    handed_off: int = 0
    assignments: int = 0
    resolved: int = 0
    status_log: list[StatusChange] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    timed_out: bool = False
    crashed: str = ""


@dataclass
class Verification:
    assignments: int = 0
    assigned_twice: int = 0
    lost: int = 0
    over_limit: int = 0
    counters_off: int = 0
    order_violations: int = 0
    requeues: int = 0  # chats an agent held that went back to the queue (the agent went offline)
    spread: float | None = None  # None: some agent with capacity got nothing
    per_agent: dict[int, dict[str, float]] = field(default_factory=dict)


@dataclass
class RunResult:
    database: str
    dialect: str
    customers: int
    groups: int
    agents: int
    processes: int
    wall_s: float
    verification: Verification
    errors: Counter[str]
    timed_out: bool
    notes: list[str]
    status_changes: int

    @property
    def rate(self) -> float:
        return self.verification.assignments / self.wall_s if self.wall_s else 0.0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_scratch_keys()  # the parent reads the handoffs its workers wrote
    results = run_measurements(lambda: [run_database(url, args) for url in database_urls(args)], BenchError)
    if isinstance(results, Stopped):
        return results.status
    print(report(results, args))
    if args.json:
        print(json.dumps(figures(results, args), ensure_ascii=False))
    return 0 if all(clean(result) for result in results) else 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="the database to reset and use (default: SQLite in a temporary "
                                               f"file, then {DEFAULT_DATABASE_URL} if it answers)")
    parser.add_argument("--customers", type=positive_int, default=200, help="customers asking for a person (200)")
    parser.add_argument("--agents", type=positive_int, default=10, help=f"agents, at least {len(GROUPS)} (10)")
    parser.add_argument("--processes", type=positive_int, default=2, help="worker OS processes (2)")
    parser.add_argument("--status-changes", type=positive_int, default=6,
                        help="random status changes per agent before everyone comes back online (6)")
    parser.add_argument("--seed", type=int, default=1, help="seed of every random choice (1)")
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds per database before giving up (300)")
    parser.add_argument("--json", action="store_true", help="end with a line holding every figure as JSON")
    args = parser.parse_args(argv)
    if args.agents < len(GROUPS):
        parser.error(f"--agents must be at least {len(GROUPS)}: every group needs an agent")
    return args


def database_urls(args: argparse.Namespace) -> list[str]:
    if args.database_url:
        return [args.database_url]
    urls = ["sqlite"]  # a new temporary file, made in run_database
    engine = make_engine(DEFAULT_DATABASE_URL)
    try:
        if database_answers(engine):
            urls.append(DEFAULT_DATABASE_URL)
        else:
            print(f"{DEFAULT_DATABASE_URL} does not answer: SQLite only", file=sys.stderr)
    finally:
        engine.dispose()
    return urls


# --- one database ----------------------------------------------------------------------------------


def run_database(url: str, args: argparse.Namespace) -> RunResult:
    with tempfile.TemporaryDirectory(prefix="chatshop-routing-") as tmp:
        if url == "sqlite":
            url = f"sqlite:///{Path(tmp) / 'routing.db'}"
        else:
            reset_database(url)
        engine = open_engine(url)
        try:
            upgrade_database(engine)
            factory = make_session_factory(engine)
            plans, initial = prepare(factory, url, args)
            label = "SQLite" if engine.dialect.name == "sqlite" else "PostgreSQL"
            print(f"[{label}] {args.customers} customers, {args.agents} agents, {args.processes} processes",
                  file=sys.stderr)
            reports = run_workers(plans, args.time_limit)
            customers = [customer for plan in plans for customer, _ in plan.customers]
            status_log = initial + [change for r in reports for change in r.status_log]
            start, end = min(r.started for r in reports), max(r.finished for r in reports)
            verification = verify(factory, customers, status_log, start, end)
            notes = sequence_notes(factory) + [f"process {r.index}: {r.crashed}" for r in reports if r.crashed]
            errors = sum((r.errors for r in reports), Counter[str]())
            result = RunResult(label, engine.dialect.name, len(customers), len(GROUPS), len(initial),
                               len(plans), end - start, verification, errors,
                               any(r.timed_out or r.crashed for r in reports), notes,
                               sum(len(r.status_log) for r in reports))
        finally:
            engine.dispose()
    print(f"[{result.database}] {result.verification.assignments} assignments in {result.wall_s:.1f} s",
          file=sys.stderr)
    return result


def prepare(factory: sessionmaker[Session], url: str, args: argparse.Namespace) -> tuple[list[WorkerPlan],
                                                                                          list[StatusChange]]:
    """The customers and the agents (each in 1–2 groups, every group covered, a random first status),
    dealt out to the processes."""
    rng = random.Random(args.seed)
    with transaction(factory) as session:
        rows = [Customer(channel=Channel.OA, openid=f"oRouting{n:020d}", created_at=utcnow())
                for n in range(args.customers)]
        session.add_all(rows)
        session.flush()
        customers = [(row.id, rng.choice(GROUPS)) for row in rows]
    agents = [AgentPlan(n + 1, agent_groups(n, rng)) for n in range(args.agents)]
    initial = [set_status(factory, agent, rng.choice(list(AgentStatus)), rng.randint(MIN_CHATS, MAX_CHATS))
               for agent in agents]
    deadline = time.time() + args.time_limit
    plans = [WorkerPlan(index, url, customers[index::args.processes], agents[index::args.processes],
                        args.status_changes * len(agents[index::args.processes]), args.seed, deadline)
             for index in range(args.processes)]
    return plans, initial


def agent_groups(n: int, rng: random.Random) -> tuple[str, ...]:
    first = GROUPS[n % len(GROUPS)]  # round robin: with at least as many agents as groups, all are covered
    if rng.random() < 0.5:
        return (first,)
    return tuple(sorted({first, rng.choice([g for g in GROUPS if g != first])}))


def set_status(factory: sessionmaker[Session], agent: AgentPlan, status: AgentStatus, max_chats: int) -> StatusChange:
    with transaction(factory) as session:
        sync_agent(session, staff_id=agent.staff_id, display_name=f"agent{agent.staff_id}", groups=agent.groups,
                   status=status, max_chats=max_chats, now=utcnow(), actor=Actor(f"agent{agent.staff_id}"))
    return time.time(), agent.staff_id, status.value, max_chats


def run_workers(plans: list[WorkerPlan], time_limit: float) -> list[WorkerReport]:
    """Start every process, let them begin together, and collect their reports."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(plans))
    results: multiprocessing.Queue[WorkerReport] = context.Queue()
    processes = [context.Process(target=worker_main, args=(plan, barrier, results), name=f"routing-{plan.index}")
                 for plan in plans]
    for process in processes:
        process.start()
    reports: list[WorkerReport] = []
    try:
        for _ in plans:  # read before joining: a process cannot exit while its report sits in the pipe
            reports.append(results.get(timeout=time_limit + RESULT_GRACE_S))
    except queue.Empty:
        raise BenchError("a worker process sent no report") from None
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
    return sorted(reports, key=lambda r: r.index)


# --- a worker process ------------------------------------------------------------------------------


def worker_main(plan: WorkerPlan, barrier: Any, results: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    install_scratch_keys()  # a spawned process: handoff summaries are sealed at rest, as in the parent
    engine = open_engine(plan.url)
    report = WorkerReport(plan.index)
    try:
        factory = make_session_factory(engine)
        with engine.connect() as connection:  # connected before the start, so no process starts late
            connection.execute(text("SELECT 1"))
        barrier.wait()
        report = Worker(plan, factory).run()
    except Exception as exc:  # reported, so the parent is not left waiting
        report.crashed = f"{type(exc).__name__}: {exc}"
        report.finished = report.finished or time.time()
        report.started = report.started or report.finished
    finally:
        engine.dispose()
        results.put(report)


class Worker:
    def __init__(self, plan: WorkerPlan, factory: sessionmaker[Session]) -> None:
        self.plan, self.factory = plan, factory
        self.rng = random.Random(plan.seed * 1000 + plan.index + 1)
        self.pending = list(reversed(plan.customers))  # popped from the end: first customer first
        self.handoffs: dict[int, str] = {}  # our customers' handoffs: id -> group
        self.changes_left = plan.status_changes if plan.agents else 0
        self.back_online = False
        self.report = WorkerReport(plan.index)

    def run(self) -> WorkerReport:
        self.report.started = time.time()
        while self.step():
            if time.time() > self.plan.deadline:
                self.report.timed_out = True
                break
        self.report.finished = time.time()
        return self.report

    def step(self) -> bool:
        """One action; False once every one of our customers' chats is resolved."""
        open_chats = self.open_chats()
        if not self.pending and not open_chats:
            return False
        if not self.pending and not self.changes_left and not self.back_online:
            self.everyone_back_online()
            return True
        assigned = [(h, g) for h, (g, state) in open_chats.items() if state == HandoffState.ASSIGNED]
        weights = {"hand_off": ACTION_WEIGHTS["hand_off"] if self.pending else 0,
                   "status": ACTION_WEIGHTS["status"] if self.changes_left else 0,
                   "resolve": ACTION_WEIGHTS["resolve"] if assigned else 0}
        if not any(weights.values()):
            self.assign(GROUPS)  # what waits may be ours: assign as the desk's periodic job does
            time.sleep(IDLE_SLEEP_S)
            return True
        action = self.rng.choices(list(weights), weights=list(weights.values()))[0]
        if action == "hand_off":
            self.hand_off_next()
        elif action == "status":
            self.change_status()
        else:
            self.resolve_one(*self.rng.choice(assigned))
        return True

    def open_chats(self) -> dict[int, tuple[str, str]]:
        if not self.handoffs:
            return {}
        with self.factory() as session:
            rows = session.execute(select(Handoff.id, Handoff.group, Handoff.state)
                                   .where(Handoff.id.in_(self.handoffs), Handoff.state.in_(OPEN_STATES))).all()
        return {row.id: (row.group, row.state) for row in rows}

    def hand_off_next(self) -> None:
        customer_id, group = self.pending.pop()
        handoff_id = self.attempt("hand_off", lambda: self._hand_off(customer_id, group))
        if handoff_id is None:
            self.pending.append((customer_id, group))  # tried again later
            return
        self.handoffs[handoff_id] = group
        self.report.handed_off += 1
        self.assign([group])

    def _hand_off(self, customer_id: int, group: str) -> int:
        with transaction(self.factory) as session:
            # The desk does not lock the group here; the bench does so that every event of a group is
            # written under its lock, which is what makes event ids per group follow commit order (see
            # `verify`). The queue operations themselves are unchanged.
            lock_group(session, group)
            handoff, _ = hand_off(session, customer_id=customer_id, reason=HandoffReason.ASKED, group=group,
                                  summary={}, now=utcnow())
            return handoff.id

    def change_status(self) -> None:
        agent = self.rng.choice(self.plan.agents)
        status = self.rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
        self.changes_left -= 1
        self.sync(agent, status, self.rng.randint(MIN_CHATS, MAX_CHATS))

    def everyone_back_online(self) -> None:
        """Our agents come back for good, so that nothing waits for an agent who never returns."""
        self.back_online = True
        for agent in self.plan.agents:
            self.sync(agent, AgentStatus.ONLINE, self.rng.randint(MIN_CHATS, MAX_CHATS))

    def sync(self, agent: AgentPlan, status: AgentStatus, max_chats: int) -> None:
        change = self.attempt("sync_agent", lambda: self._sync(agent, status, max_chats))
        if change is not None:
            self.report.status_log.append(change)
        self.assign(agent.groups)  # going online frees capacity; offline re-queued chats of these groups

    def _sync(self, agent: AgentPlan, status: AgentStatus, max_chats: int) -> StatusChange:
        return set_status(self.factory, agent, status, max_chats)

    def resolve_one(self, handoff_id: int, group: str) -> None:
        if self.attempt("resolve", lambda: self._resolve(handoff_id, group)):
            self.report.resolved += 1
        self.assign([group])

    def _resolve(self, handoff_id: int, group: str) -> bool:
        with transaction(self.factory) as session:
            lock_group(session, group)  # the desk's order: the group, then the handoff row
            handoff = session.scalar(select(Handoff).where(Handoff.id == handoff_id).with_for_update())
            if handoff is None or handoff.state != HandoffState.ASSIGNED:
                return False  # re-queued meanwhile: its agent went offline
            resolve(session, handoff=handoff, resolution=Resolution.AGENT, actor=BENCH_ACTOR, now=utcnow())
            return True

    def assign(self, groups: Iterable[str]) -> None:
        """As HandoffDesk.assign_waiting: per group, one transaction per assignment until none is possible."""
        for group in sorted(set(groups)):
            while self.attempt("assign_next", partial(self._assign_one, group)):
                self.report.assignments += 1

    def _assign_one(self, group: str) -> bool:
        with transaction(self.factory) as session:
            return assign_next(session, group=group, now=utcnow()) is not None

    def attempt(self, what: str, run: Callable[[], T]) -> T | None:
        """Run one transaction; a failure is counted (it is a finding) and the bench carries on."""
        try:
            return run()
        except (DBAPIError, HandoffError) as exc:
            first_line = str(getattr(exc, "orig", None) or exc).splitlines()[0][:120]
            self.report.errors[f"{what}: {type(exc).__name__}: {first_line}"] += 1
            return None


# --- checking the database's record ----------------------------------------------------------------


def verify(factory: sessionmaker[Session], customers: list[int], status_log: list[StatusChange], start: float,
           end: float) -> Verification:
    """Replay the event rows in id order and check the final tables.

    The replay needs ids in commit order wherever two transactions could touch the same thing, and a
    PostgreSQL sequence hands out ids at INSERT, not at COMMIT: a transaction can take id 10, another take
    id 11 and commit first. Here the orders that matter still hold, because each event row is inserted
    while its transaction holds the lock that orders it, until commit:
      - per group: every event of a group is written under the group's lock row (`assign_next`, the
        resolves, `sync_agent`'s re-queues, and this bench's hand-offs), so the next holder of the lock
        takes its ids after this one committed;
      - per agent: every +1/−1 is written after the conditional UPDATE of the agent's row (take_capacity,
        release_capacity), whose row lock lasts until commit;
      - per handoff: every event follows the UPDATE (or INSERT) of the handoff row.
    That relies on sequence values being handed out in time order, which is so with CACHE 1 (the
    default, checked in `sequence_notes`). On SQLite one writer at a time commits, so id order is
    commit order outright.
    """
    with factory() as session:
        events = session.scalars(select(HandoffEvent).order_by(HandoffEvent.id)).all()
        handoffs = {h.id: h for h in session.scalars(select(Handoff))}
        agents = {a.staff_id: a for a in session.scalars(select(RoutingAgent))}
    result = replay(events, handoffs, max_limits(status_log))
    result.lost = lost(customers, handoffs.values())
    result.counters_off = sum(1 for agent in agents.values() if agent.active_chats != 0)
    assigned = Counter(e.agent_id for e in events if _gives_to_agent(e) and e.agent_id is not None)
    capacity = mean_capacity(status_log, start, end)
    result.per_agent = {staff_id: {"assigned": assigned[staff_id], "mean_capacity": round(capacity[staff_id], 3)}
                        for staff_id in sorted(agents)}
    result.spread = spread(assigned, capacity)
    return result


def _gives_to_agent(event: HandoffEvent) -> bool:
    return event.to_state == HandoffState.ASSIGNED and event.kind in (EventKind.ASSIGNED, EventKind.CLAIMED,
                                                                      EventKind.TRANSFERRED)


def replay(events: Iterable[HandoffEvent], handoffs: dict[int, Handoff], limits: dict[int, int]) -> Verification:
    result = Verification()
    holder: dict[int, int | None] = {}  # handoff -> the agent holding it
    held: Counter[int] = Counter()  # agent -> chats held
    queued: defaultdict[str, set[int]] = defaultdict(set)  # group -> handoffs waiting in it
    place = {h.id: (h.queued_at, h.id) for h in handoffs.values()}  # queued_at never changes on a re-queue
    for event in events:
        if event.kind in (EventKind.ESCALATED, EventKind.REMINDED):
            continue  # no change of state or owner
        handoff_id, previous = event.handoff_id, holder.pop(event.handoff_id, None)
        for waiting in queued.values():
            waiting.discard(handoff_id)
        if previous is not None:
            held[previous] -= 1
        if _gives_to_agent(event) and event.agent_id is not None:
            result.assignments += 1
            # A transfer moves a held chat on; anything else given while held is a second owner.
            result.assigned_twice += previous is not None and event.kind != EventKind.TRANSFERRED
            result.order_violations += event.from_state == HandoffState.QUEUED and any(
                place[other] < place[handoff_id] for other in queued[event.group])
            holder[handoff_id] = event.agent_id
            held[event.agent_id] += 1
            result.over_limit += held[event.agent_id] > limits.get(event.agent_id, 0)
        elif event.to_state == HandoffState.QUEUED:
            queued[event.group].add(handoff_id)
            result.requeues += previous is not None
        # resolved: neither held nor queued any more
    return result


def max_limits(status_log: Iterable[StatusChange]) -> dict[int, int]:
    limits: dict[int, int] = {}
    for _, staff_id, _, max_chats in status_log:
        limits[staff_id] = max(limits.get(staff_id, 0), max_chats)
    return limits


def lost(customers: list[int], handoffs: Iterable[Handoff]) -> int:
    resolved = {h.customer_id for h in handoffs if h.state == HandoffState.RESOLVED}
    still_open = {h.customer_id for h in handoffs if h.state in OPEN_STATES}
    return sum(1 for customer in customers if customer not in resolved or customer in still_open)


def mean_capacity(status_log: list[StatusChange], start: float, end: float) -> dict[int, float]:
    """Per agent, the chats they could take averaged over the run: max_chats while online, 0 otherwise."""
    timeline: defaultdict[int, list[StatusChange]] = defaultdict(list)
    for change in sorted(status_log):
        timeline[change[1]].append(change)
    span = max(end - start, 1e-9)
    capacity: dict[int, float] = {}
    for staff_id, changes in timeline.items():
        total = 0.0
        for (at, _, status, max_chats), following in zip(changes, [*changes[1:], None], strict=True):
            until = following[0] if following else end
            if status == AgentStatus.ONLINE:
                total += max_chats * max(0.0, min(until, end) - max(at, start))
        capacity[staff_id] = total / span
    return capacity


def spread(assigned: Counter[int], capacity: dict[int, float]) -> float | None:
    ratios = [assigned[staff_id] / cap for staff_id, cap in capacity.items() if cap > 0]
    if not ratios or min(ratios) == 0:
        return None
    return max(ratios) / min(ratios)


def sequence_notes(factory: sessionmaker[Session]) -> list[str]:
    """The replay's premise on PostgreSQL: the events' sequence hands out values one at a time (CACHE 1)."""
    with factory() as session:
        if session.get_bind().dialect.name != "postgresql":
            return []
        cache = session.scalar(text("SELECT seqcache FROM pg_sequence "
                                    "WHERE seqrelid = pg_get_serial_sequence('handoff_events', 'id')::regclass"))
    if cache == 1:
        return ["handoff_events.id's sequence has CACHE 1: ids are handed out in time order."]
    return [f"WARNING: handoff_events.id's sequence has CACHE {cache}: ids need not follow time order, "
            "so the replay's figures may be wrong."]


# --- the report ------------------------------------------------------------------------------------


def clean(result: RunResult) -> bool:
    v = result.verification
    return not (v.assigned_twice or v.lost or v.over_limit or v.counters_off or v.order_violations
                or result.errors or result.timed_out)


def report(results: list[RunResult], args: argparse.Namespace) -> str:
    lines = ["| database | customers | groups | agents | processes | assignments | assigned twice | lost "
             "| over limit | counters ≠ 0 | order violations | spread | errors | wall time (s) | assignments/s |",
             "|---|" + "---:|" * 14]
    for r in results:
        v = r.verification
        spread_text = f"{v.spread:.2f}" if v.spread is not None else "∞"
        lines.append(f"| {r.database} | {r.customers} | {r.groups} | {r.agents} | {r.processes} | {v.assignments} "
                     f"| {v.assigned_twice} | {v.lost} | {v.over_limit} | {v.counters_off} | {v.order_violations} "
                     f"| {spread_text} | {r.errors.total()} | {r.wall_s:.1f} | {r.rate:.0f} |")
    notes = [f"Machine: {cores()} cores; seed {args.seed}, {args.status_changes} random status changes per agent; "
             "the database server shares the machine.", f"Command: `{command_line()}`"]
    for r in results:
        notes += [f"{r.database}: {note}" for note in r.notes]
        notes += [f"{r.database}: {count} × {error}" for error, count in r.errors.most_common()]
        notes.append(f"{r.database}: {r.status_changes} status changes, {r.verification.requeues} chats re-queued "
                     "by an agent going offline.")
        if r.verification.spread is None:
            idle = {staff_id: a["mean_capacity"] for staff_id, a in r.verification.per_agent.items()
                    if not a["assigned"] and a["mean_capacity"]}
            notes.append(f"{r.database}: spread ∞: agents given nothing, with their mean capacity: {idle}.")
        if r.timed_out:
            notes.append(f"{r.database}: a process stopped early (time limit or crash); its chats count as lost.")
    return "\n".join(["", *lines, "", *[f"- {note}" for note in notes]])


def figures(results: list[RunResult], args: argparse.Namespace) -> dict[str, Any]:
    return {
        "command": command_line(), "cores": cores(), "seed": args.seed, "status_changes_per_agent": args.status_changes,
        "runs": [{"database": r.database, "customers": r.customers, "groups": r.groups, "agents": r.agents,
                  "processes": r.processes, **_verification_figures(r.verification), "errors": dict(r.errors),
                  "timed_out": r.timed_out, "status_changes": r.status_changes, "wall_s": round(r.wall_s, 3),
                  "assignments_per_s": round(r.rate, 1),
                  "notes": r.notes}
                 for r in results],
    }  # fmt: skip


def _verification_figures(v: Verification) -> dict[str, Any]:
    data = asdict(v)
    data["spread"] = round(v.spread, 3) if v.spread is not None else None  # None: someone got nothing
    return data


if __name__ == "__main__":
    sys.exit(main())
