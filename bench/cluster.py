"""Benchmark `chatshop serve --workers N` on PostgreSQL: bench/webhook.py's load against 1, 2 and 4 workers.

For each worker count, one after the other, the database is reset, chatshop is started with that many
worker processes on one port, and bench/webhook.py's phases run against it (the same customers, pushes,
checks and figures): phase 1, latency at load (think time), and phase 2, throughput at saturation. Beside
replies/s and latencies it prints where the machine's CPU went in each phase: chatshop's processes (the
supervisor and every worker), PostgreSQL's (the bench database's connections and the server's own
background processes), and the load generator's. When they add up to the machine's cores, CPU is what
limits the rate, and the shares say whose.

    .venv/bin/python bench/cluster.py [--workers 1,2,4] [--customers 100] [--duration 20] [--think 1.0]
        [--warmup 3] [--database-url postgresql://postgres@localhost:5432/chatshop_bench] [--json]

The database is created when missing and its schema dropped before each run: never point it at data you
keep (the name `test`, the test suite's, is refused).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import webhook
from pushes import Account, PushFactory
from servers import Server, Stopped, free_port, run_measurements
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from webhook import (
    AppResult,
    BenchError,
    Row,
    _non_negative_float,
    _positive_float,
    _run_async,
    chatshop_spec,
    command_line,
    cores,
    measure,
    phase_figures,
    positive_int,
    reset_database,
)

DEFAULT_DATABASE = "postgresql://postgres@localhost:5432/chatshop_bench"
REFUSED_DATABASES = frozenset({"test", "postgres", "template0", "template1"})
START_TIMEOUT_S = 180.0  # four workers importing and building chatshop at once on two cores
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Marks:
    """CPU seconds of the server's processes and of PostgreSQL's, read together at each phase's start and end."""

    server: list[float] = dataclasses.field(default_factory=list)
    database: list[float] = dataclasses.field(default_factory=list)
    machine: list[float] = dataclasses.field(default_factory=list)  # every process on the machine

    def last_phase(self, back: int = 0) -> tuple[float, float, float]:
        """(server, database, machine) CPU seconds spent in a phase: the last one (back=0), the one before (1)."""
        end = len(self.server) - 1 - 2 * back
        server, database, machine = (
            marks[end] - marks[end - 1] for marks in (self.server, self.database, self.machine))
        return server, database, machine


class ClusterServer(Server):
    """chatshop's supervisor and its workers, measured as one server.

    bench/webhook.py's run_phase reads the server's CPU right before and right after each phase; here that
    reading sums every process of the tree, and PostgreSQL's processes are read at the same moments."""

    def __init__(self, *args: Any, database_pids: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.marks = Marks()
        self._database_pids = database_pids

    def stop(self) -> None:
        # The supervisor stops its workers; any it could not (killed after the grace) are stopped here.
        tree = process_tree(self.pid) if self.alive() else []
        super().stop()
        for pid in tree[1:]:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def cpu_seconds(self) -> float:
        server = sum(cpu_of(pid) for pid in process_tree(self.pid))
        self.marks.server.append(server)
        self.marks.database.append(sum(cpu_of(pid) for pid in self._database_pids()))
        self.marks.machine.append(machine_cpu_seconds())
        return server


@dataclass
class WorkersResult:
    workers: int
    result: AppResult
    phase1: dict[str, float]
    phase2: dict[str, float]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_at_start = os.getloadavg()[0]

    def measure_each() -> list[WorkersResult]:
        ensure_database(args.database_url)
        return [run_workers(count, args) for count in args.workers]

    results = run_measurements(measure_each, BenchError)
    if isinstance(results, Stopped):
        return results.status
    print(report(results, args, load_at_start))
    if args.json:
        print(json.dumps(figures(results, args, load_at_start), ensure_ascii=False))
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=_worker_counts, default=[1, 2, 4],
                        help="worker counts to measure, one after the other (1,2,4)")
    parser.add_argument("--customers", type=positive_int, default=100, help="concurrent customers (100)")
    parser.add_argument("--duration", type=_positive_float, default=20.0, help="seconds per timed phase (20)")
    parser.add_argument("--think", type=_non_negative_float, default=1.0,
                        help="phase-1 think time in seconds, jittered ±50%% (1.0)")
    parser.add_argument("--warmup", type=_non_negative_float, default=3.0,
                        help="seconds of uncounted load before the phases (3)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE,
                        help=f"PostgreSQL database to reset and use ({DEFAULT_DATABASE})")
    parser.add_argument("--json", action="store_true", help="end with a line holding every figure as JSON")
    args = parser.parse_args(argv)
    url = make_url(args.database_url)
    if not url.drivername.startswith("postgresql"):
        parser.error("--database-url must be PostgreSQL: several processes on SQLite take turns at one writer")
    if url.database in REFUSED_DATABASES:
        parser.error(f"--database-url: the database {url.database!r} is never reset by this bench; name another")
    args.profile = None  # bench/webhook.py's measure() reads it: no py-spy here
    return args


def _worker_counts(text_: str) -> list[int]:
    counts = [positive_int(part) for part in text_.split(",") if part.strip()]
    if not counts or max(counts) > 64:
        raise argparse.ArgumentTypeError("a comma-separated list of 1 to 64, e.g. 1,2,4")
    return counts


def ensure_database(url: str) -> None:
    """Create the bench database when it does not exist yet (connecting to the server's `postgres`)."""
    target = make_url(url)
    admin_url = target.set(database="postgres", drivername="postgresql+psycopg")
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                        {"name": target.database}).first()
            if exists is None:
                print(f"creating database {target.database}", file=sys.stderr)
                connection.exec_driver_sql(f'CREATE DATABASE "{target.database}"')
    finally:
        engine.dispose()


# --- one worker count -------------------------------------------------------------------------------


def run_workers(count: int, args: argparse.Namespace) -> WorkersResult:
    account = Account.generate()
    with tempfile.TemporaryDirectory(prefix="chatshop-cluster-") as tmp_name:
        tmp = Path(tmp_name)
        reset_database(args.database_url)
        spec = chatshop_spec(account, tmp, args.database_url)
        port = free_port()
        spec = dataclasses.replace(spec, name=f"chatshop ×{count}",
                                   argv=[*spec.argv, "--port", str(port), "--workers", str(count)])
        factory = PushFactory(account, "127.0.0.1", port)
        print(f"[{spec.name}] starting on port {port}", file=sys.stderr)
        with DatabaseProcesses(args.database_url) as database_pids:
            server = ClusterServer(spec, port, tmp / "server.log", database_pids=database_pids)
            with server:
                server.wait_ready(factory.url_check("ready"), "ready", timeout_s=START_TIMEOUT_S)
                wait_for_workers(server, count)
                result = _run_async(measure(server, factory, account, args))
        return collect(count, result, server.marks)


def wait_for_workers(server: ClusterServer, count: int) -> None:
    """With several workers the port answers as soon as the first is up: wait until each one has accepted a
    connection of ours, or the first seconds would measure fewer."""
    if count == 1:
        return  # `serve` without --workers serves in its own process
    deadline = time.monotonic() + START_TIMEOUT_S
    serving: set[int] = set()
    while len(serving) < count:
        if time.monotonic() > deadline or not server.alive():
            raise BenchError(f"{len(serving)} of {count} workers started:\n{server.log_tail()}")
        serving = workers_accepting(server.pid, server.port, connections=4 * count)
        time.sleep(0.5)


def workers_accepting(parent: int, port: int, *, connections: int) -> set[int]:
    """The worker processes that accept connections: `connections` are opened and held at once (the kernel
    hands each to one of the workers waiting on the shared socket), and each worker's sockets are matched
    with their server-side ends in /proc/net/tcp."""
    with contextlib.ExitStack() as stack:
        clients = []
        for _ in range(connections):
            with contextlib.suppress(OSError):
                clients.append(stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=2)))
        for client in clients:  # a request each, answered: the connection has been accepted by a worker
            with contextlib.suppress(OSError):
                client.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n")
                client.recv(4096)
        ours = {client.getsockname()[1] for client in clients}
        inodes = server_side_inodes(port, ours)
        return {pid for pid in process_tree(parent)[1:] if socket_inodes(pid) & inodes}


def server_side_inodes(port: int, client_ports: set[int]) -> set[str]:
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, remote_port = (int(address.split(":")[1], 16) for address in fields[1:3])
        if local_port == port and remote_port in client_ports:
            inodes.add(fields[9])
    return inodes


def socket_inodes(pid: int) -> set[str]:
    found = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    found.add(target[len("socket:["):-1])
    return found


def collect(count: int, result: AppResult, marks: Marks) -> WorkersResult:
    phases = {}
    for back, stats in ((1, result.phase1), (0, result.phase2)):
        figures_ = phase_figures(stats)
        server_s, database_s, machine_s = marks.last_phase(back)
        done = max(stats.completed, 1)
        wall = stats.wall_s or 1.0
        figures_ |= {
            "server_cpu_cores": round(server_s / wall, 3),
            "server_cpu_ms_per_request": round(1000 * server_s / done, 3),
            "database_cpu_cores": round(database_s / wall, 3),
            "database_cpu_ms_per_request": round(1000 * database_s / done, 3),
            "machine_cpu_cores": round(machine_s / wall, 3),
        }
        figures_["cpu_cores_busy"] = round(
            figures_["server_cpu_cores"] + figures_["database_cpu_cores"] + figures_["loadgen_cpu_cores"], 3)
        phases[stats.name] = figures_
    return WorkersResult(count, result, phases["phase 1"], phases["phase 2"])


# --- CPU from /proc ---------------------------------------------------------------------------------


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of one process, all its threads (0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_cpu_seconds() -> float:
    """CPU seconds every process on the machine has used since boot (user, nice, system, irq, softirq)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return sum(int(fields[i]) for i in (0, 1, 2, 5, 6)) / CLOCK_TICKS


def process_tree(root: int) -> list[int]:
    pids, queue = [], [root]
    while queue:
        pid = queue.pop()
        pids.append(pid)
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        queue.extend(int(child) for child in children)
    return pids


class DatabaseProcesses:
    """PostgreSQL's processes that work for this bench: the backends connected to its database and the
    server's background processes (WAL writer, checkpointer, ...). Other databases' backends are left out:
    the machine may be shared."""

    def __init__(self, url: str) -> None:
        self._engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"), pool_size=1)

    def __enter__(self) -> DatabaseProcesses:
        return self

    def __exit__(self, *_: object) -> None:
        self._engine.dispose()

    def __call__(self) -> list[int]:
        with self._engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE (datname = current_database() AND pid <> pg_backend_pid())"
                " OR backend_type <> 'client backend'"
            )).scalars().all()
        return [int(pid) for pid in rows]


# --- the report -------------------------------------------------------------------------------------

# bench/webhook.py's rows for the replies, then where the CPU went (with the database's and the machine's).
PHASE1_ROWS: list[Row] = [row for row in webhook.PHASE1_ROWS if row[1] not in ("requests", "max_ms")]
PHASE2_ROWS: list[Row] = [
    *(row for row in webhook.PHASE2_ROWS if "cpu" not in row[1]),
    ("chatshop CPU (cores)", "server_cpu_cores", "{:.2f}"),
    ("chatshop CPU per reply (ms)", "server_cpu_ms_per_request", "{:.2f}"),
    ("PostgreSQL CPU (cores)", "database_cpu_cores", "{:.2f}"),
    ("PostgreSQL CPU per reply (ms)", "database_cpu_ms_per_request", "{:.2f}"),
    ("load generator CPU (cores)", "loadgen_cpu_cores", "{:.2f}"),
    ("all three (cores)", "cpu_cores_busy", "{:.2f}"),
    ("the whole machine (cores)", "machine_cpu_cores", "{:.2f}"),
]


def report(results: list[WorkersResult], args: argparse.Namespace, load_at_start: float) -> str:
    heads = " | ".join(f"{r.workers} worker{'s' if r.workers > 1 else ''}" for r in results)
    lines = [f"| | {heads} |", "|---|" + "---:|" * len(results)]
    sections = [
        (f"Phase 1, latency at load: {args.customers} customers, think {args.think:g} s ±50 %, {args.duration:g} s",
         PHASE1_ROWS, [r.phase1 for r in results]),
        (f"Phase 2, throughput at saturation: {args.customers} customers, no think time, {args.duration:g} s",
         PHASE2_ROWS, [r.phase2 for r in results]),
    ]
    for title, rows, columns in sections:
        lines.append(f"| **{title}** |" + " |" * len(results))
        for label, key, fmt in rows:
            lines.append(f"| {label} | " + " | ".join(fmt.format(column[key]) for column in columns) + " |")
    return "\n".join(["", *lines, "", *[f"- {line}" for line in notes(results, args, load_at_start)]])


def notes(results: list[WorkersResult], args: argparse.Namespace, load_at_start: float) -> list[str]:
    machine = cores()
    lines = [
        f"Machine: {machine} cores, load average {load_at_start:.2f} at start; Python {platform.python_version()}; "
        f"database {make_url(args.database_url).render_as_string(hide_password=True)}, reset before each run; "
        "chatshop, PostgreSQL and the load generator share the machine.",
        f"Command: `{command_line()}`",
    ]
    base = results[0].phase2["throughput_per_s"] or 1.0
    for r in results:
        p2 = r.phase2
        share = p2["throughput_per_s"] / base
        others = max(0.0, p2["machine_cpu_cores"] - p2["cpu_cores_busy"])
        limit = (f"the machine's CPU ({p2['machine_cpu_cores']:.2f} of {machine} cores busy, {others:.2f} of them by "
                 "other processes)" if p2["machine_cpu_cores"] >= 0.9 * machine
                 else f"something other than CPU ({p2['machine_cpu_cores']:.2f} of {machine} cores busy): waits on "
                      "the database or between the processes")
        lines.append(
            f"{r.workers} worker(s): {p2['throughput_per_s']:.0f} replies/s ({share:.2f}× {results[0].workers} "
            f"worker(s)), p99 {p2['p99_ms']:.0f} ms; CPU {p2['server_cpu_cores']:.2f} chatshop + "
            f"{p2['database_cpu_cores']:.2f} PostgreSQL + {p2['loadgen_cpu_cores']:.2f} load generator; "
            f"limited by {limit}.")
    errors = "; ".join(f"{r.workers}: {dict(r.result.phase1.errors + r.result.phase2.errors)}" for r in results
                       if (r.result.phase1.errors + r.result.phase2.errors).total())
    if errors:
        lines.append(f"Errors by worker count: {errors}")
    return lines


def figures(results: list[WorkersResult], args: argparse.Namespace, load_at_start: float) -> dict[str, Any]:
    return {
        "command": command_line(), "cores": cores(), "load_average_at_start": load_at_start,
        "python": platform.python_version(),
        "database": make_url(args.database_url).render_as_string(hide_password=True),
        "customers": args.customers, "duration_s": args.duration, "think_s": args.think, "warmup_s": args.warmup,
        "workers": {str(r.workers): {"phase1": r.phase1, "phase2": r.phase2,
                                     "errors_by_kind": dict(r.result.phase1.errors + r.result.phase2.errors),
                                     "verified_replies": r.result.verified, "wrong_replies": dict(r.result.wrong)}
                    for r in results},
    }  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
