"""Benchmark chatshop's WeChat webhook in safe (AES) mode against a bare werobot echo app.

Both servers run as subprocesses (uvicorn, one process each, one at a time), driven over real HTTP by
N simulated customers in this process:

  phase 1, latency at load: each customer sends a question, waits for the reply, thinks
           --think seconds (±50 %), repeats, for --duration seconds;
  phase 2, throughput at saturation: the same customers with no think time.

Prints a markdown table of both apps side by side (paste it into README.md), a verdict line per target,
and with --json a last line holding every figure as JSON. Progress goes to stderr.

    .venv/bin/python bench/webhook.py [--customers 100] [--duration 20] [--think 1.0] [--warmup 3]
        [--database-url postgresql://postgres@localhost:5432/bench [--reset-database]] [--json]
        [--profile DIR]   (py-spy samples of chatshop in phase 2: see bench/sampling.py)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import os
import platform
import shlex
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadgen import REQUEST_TIMEOUT_S, Connection, Customer, Phase, PhaseStats, classify, prebuild, pushes_needed
from pushes import QUESTIONS, Account, PushFactory, verify_reply
from sampling import ProfilerError, PySpy, read_stacks, thread_table, top
from servers import Server, ServerSpec, Stopped, free_port, run_measurements

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEMO_KB = REPO / "chatshop" / "demo" / "kb.yaml"
CONFIG = REPO / "config.yaml"

P99_TARGET_MS = 100.0
THROUGHPUT_TARGET = 0.5  # chatshop's saturation throughput as a share of the echo app's
DEFAULT_RATE_ESTIMATE = 2000.0  # replies/s, used to size pre-built pushes when there is no warm-up


class BenchError(RuntimeError):
    """The run cannot give meaningful figures; the message says why."""


@dataclass
class AppResult:
    name: str
    phase1: PhaseStats
    phase2: PhaseStats
    verified: int  # sampled replies decrypted and checked
    wrong: Counter[str]  # of those, what was wrong


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_at_start = os.getloadavg()[0]
    results = run_measurements(lambda: run_both(args), BenchError, ProfilerError)
    if isinstance(results, Stopped):
        return results.status
    print(report(results, args, load_at_start))
    if args.json:
        print(json.dumps(figures(results, args, load_at_start), ensure_ascii=False))
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=positive_int, default=100, help="concurrent customers (100)")
    parser.add_argument("--duration", type=_positive_float, default=20.0, help="seconds per timed phase (20)")
    parser.add_argument("--think", type=_non_negative_float, default=1.0,
                        help="phase-1 think time in seconds, jittered ±50%% (1.0)")
    parser.add_argument("--warmup", type=_non_negative_float, default=3.0,
                        help="seconds of uncounted load before the phases (3)")
    parser.add_argument("--database-url", help="chatshop's database (default: SQLite in a temporary directory)")
    parser.add_argument("--reset-database", action="store_true",
                        help="drop and recreate --database-url's schema (PostgreSQL) or file (SQLite) first")
    parser.add_argument("--json", action="store_true", help="end with a line holding every figure as JSON")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="sample chatshop with py-spy during phase 2 into DIR/chatshop-phase2.txt "
                             "(costs the server CPU: compare only profiled runs with each other)")
    args = parser.parse_args(argv)
    if args.reset_database and not args.database_url:
        parser.error("--reset-database needs --database-url (the default database is always new)")
    return args


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


# --- running the servers -------------------------------------------------------------------------


def run_both(args: argparse.Namespace) -> dict[str, AppResult]:
    """Measure the echo app, then chatshop: never both servers at once, so neither steals the other's CPU."""
    account = Account.generate()
    with tempfile.TemporaryDirectory(prefix="chatshop-bench-") as tmp_name:
        tmp = Path(tmp_name)
        database_url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
        if args.reset_database:
            reset_database(database_url)
        specs = [echo_spec(account), chatshop_spec(account, tmp, database_url)]
        return {spec.name: run_one(spec, account, args, tmp) for spec in specs}


def run_one(spec: ServerSpec, account: Account, args: argparse.Namespace, tmp: Path) -> AppResult:
    port = free_port()
    spec = dataclasses.replace(spec, argv=[*spec.argv, "--port", str(port)])
    factory = PushFactory(account, "127.0.0.1", port)
    print(f"[{spec.name}] starting on port {port}", file=sys.stderr)
    with Server(spec, port, tmp / f"{spec.name}.log") as server:
        server.wait_ready(factory.url_check("ready"), "ready")
        result = _run_async(measure(server, factory, account, args))
    _show_server_log(server)
    return result


def _run_async(coroutine: Coroutine[Any, Any, AppResult]) -> AppResult:
    try:
        import uvloop  # installed with uvicorn[standard]; a cheaper event loop for the load generator
    except ModuleNotFoundError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def _show_server_log(server: Server) -> None:
    tail = server.log_tail(10)
    if tail.strip():
        print(f"[{server.spec.name}] server log (last lines):\n{tail}", file=sys.stderr)


def echo_spec(account: Account) -> ServerSpec:
    env = {**os.environ, "BENCH_TOKEN": account.token, "BENCH_AES_KEY": account.aes_key,
           "BENCH_APP_ID": account.app_id}
    return ServerSpec("echo", [sys.executable, str(BENCH_DIR / "echo_app.py")], env, health_path=None)


def chatshop_spec(account: Account, tmp: Path, database_url: str) -> ServerSpec:
    # Settings the shell may hold are kept (and listed under the table): they allow experiments such as
    # CHATSHOP__WECHAT__REPLY_BUDGET_MS, while these overrides keep the run self-contained.
    env = {
        **os.environ,
        "CHATSHOP__DATABASE__URL": database_url,
        "CHATSHOP__KB__PATH": str(DEMO_KB),
        "CHATSHOP__WECHAT__SANDBOX": "on",
        "CHATSHOP__LOGGING__LEVEL": "WARNING",
        "CHATSHOP__WECHAT__APP_ID": account.app_id,
        "CHATSHOP__WECHAT__TOKEN": account.token,
        "CHATSHOP__WECHAT__ENCODING_AES_KEY": account.aes_key,
        "CHATSHOP__SANDBOX__CREDENTIALS_PATH": str(tmp / "sandbox-credentials.json"),
    }
    script = Path(sys.executable).parent / "chatshop"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "chatshop.cli"]
    return ServerSpec("chatshop", [*command, "serve", "--config", str(CONFIG)], env, health_path="/healthz")


def reset_database(url: str) -> None:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path = path if path.is_absolute() else REPO / path  # chatshop reads it relative to config.yaml
        print(f"resetting {path}: deleting the file", file=sys.stderr)
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        return
    from storage.db import make_engine

    engine = make_engine(url)
    print(f"resetting {engine.url.render_as_string(hide_password=True)}: drop schema public", file=sys.stderr)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()


# --- the load --------------------------------------------------------------------------------------


async def measure(server: Server, factory: PushFactory, account: Account, args: argparse.Namespace) -> AppResult:
    name = server.spec.name
    customers = [Customer(f"oBench{i:022d}", Connection("127.0.0.1", server.port)) for i in range(args.customers)]
    try:
        await smoke_test(customers[0].connection, factory, account, echo=name == "echo")
        warm = await run_phase(server, factory, customers, PhaseStats("warm-up", args.warmup, 0.0))
        rate = _rate(warm) or DEFAULT_RATE_ESTIMATE
        phases = []
        for stats in (PhaseStats("phase 1", args.duration, args.think), PhaseStats("phase 2", args.duration, 0.0)):
            _prebuild(name, factory, customers, pushes_needed(len(customers), stats.duration_s, stats.think_s, rate))
            profiled = args.profile is not None and name == "chatshop" and stats.name == "phase 2"
            profile = args.profile / f"{name}-phase2.txt" if profiled else None
            phases.append(await run_phase(server, factory, customers, stats, profile=profile))
            rate = max(rate, _rate(stats))
    finally:
        for customer in customers:
            customer.connection.close()
    verified, wrong = verify_samples(phases, account, echo=name == "echo")
    return AppResult(name, phases[0], phases[1], verified, wrong)


def _rate(stats: PhaseStats) -> float:
    return len(stats.latencies) / stats.wall_s if stats.wall_s else 0.0


async def smoke_test(connection: Connection, factory: PushFactory, account: Account, *, echo: bool) -> None:
    """Every question once, each from a customer of its own and fully checked, before any load: a
    misconfigured run, or a bot that no longer answers a question as expected, fails here with the reason."""
    for number, question in enumerate(QUESTIONS):
        push = factory.build(f"oBenchSmoke{number:017d}", question)
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                status, body = await connection.exchange(push.request)
        except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
            raise BenchError(f"{question.text!r} got no reply: {type(exc).__name__} {exc}") from None
        problem = classify(status, body) or verify_reply(account.crypto(), push, body, echo=echo)
        if problem:
            raise BenchError(f"{question.text!r} was answered wrongly: {problem}: {body[:300]!r}")


async def run_phase(
    server: Server, factory: PushFactory, customers: list[Customer], stats: PhaseStats, *, profile: Path | None = None
) -> PhaseStats:
    """One timed phase; with `profile`, py-spy samples the server throughout it into that file."""
    if not stats.duration_s:
        return stats
    label = f"[{server.spec.name}] {stats.name}"
    print(f"{label}: {len(customers)} customers, {stats.duration_s:g} s, think {stats.think_s:g} s", file=sys.stderr)
    cpu_before = server.cpu_seconds()
    spy = PySpy(server.pid, profile) if profile else None
    with spy or contextlib.nullcontext():
        await Phase(stats, factory, server.alive).run(customers, label)
    stats.server_cpu_s = server.cpu_seconds() - cpu_before
    if spy is not None and profile is not None:
        by_thread = json.loads(profile.with_suffix(".threads.json").read_text())
        print(f"{label} profile, {profile}:\n{thread_table(by_thread, stats.completed)}\n\n"
              f"{top(read_stacks(profile))}", file=sys.stderr)
    if stats.server_died:
        raise BenchError(f"{server.spec.name} exited during {stats.name}:\n{server.log_tail()}")
    return stats


def _prebuild(name: str, factory: PushFactory, customers: list[Customer], total: int) -> None:
    started = time.perf_counter()
    prebuild(factory, customers, total)
    built = sum(len(customer.pushes) for customer in customers)
    print(f"[{name}] pre-built {built} pushes in {time.perf_counter() - started:.1f} s", file=sys.stderr)


def verify_samples(phases: list[PhaseStats], account: Account, *, echo: bool) -> tuple[int, Counter[str]]:
    """Decrypt the sampled replies after the phases, so the check costs the timed load nothing.

    A wrong reply is also counted among its phase's errors, which fails the verdicts: it means the
    server (or this bench) is broken, whatever the latencies say.
    """
    crypto = account.crypto()
    verified, wrong = 0, Counter[str]()
    for stats in phases:
        for push, body in stats.samples:
            verified += 1
            if problem := verify_reply(crypto, push, body, echo=echo):
                wrong[problem] += 1
                stats.errors[f"wrong reply: {problem}"] += 1
    return verified, wrong


# --- the report ------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of `values` (q in 0..1), in milliseconds; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return 1000 * ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def cores() -> int:
    # The CPUs this process may run on (a container or taskset may allow fewer than the machine has).
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


def phase_figures(stats: PhaseStats) -> dict[str, float]:
    completed = max(stats.completed, 1)
    figures = {
        "requests": stats.completed,
        "throughput_per_s": _rate(stats),
        "p50_ms": percentile(stats.latencies, 0.50),
        "p99_ms": percentile(stats.latencies, 0.99),
        "max_ms": percentile(stats.latencies, 1.0),
        "errors": stats.errors.total(),
        "server_cpu_ms_per_request": 1000 * stats.server_cpu_s / completed,
        "server_cpu_cores": stats.server_cpu_s / stats.wall_s if stats.wall_s else 0.0,
        "loadgen_cpu_ms_per_request": 1000 * stats.loadgen_cpu_s / completed,
        "loadgen_cpu_cores": stats.loadgen_cpu_s / stats.wall_s if stats.wall_s else 0.0,
        "built_live": stats.built_live,
    }
    return {key: round(value, 3) for key, value in figures.items()}


def figures(results: dict[str, AppResult], args: argparse.Namespace, load_at_start: float) -> dict[str, Any]:
    apps = {
        name: {"phase1": phase_figures(r.phase1), "phase2": phase_figures(r.phase2),
               "errors_by_kind": dict(r.phase1.errors + r.phase2.errors),
               "verified_replies": r.verified, "wrong_replies": dict(r.wrong)}
        for name, r in results.items()
    }
    return {
        "command": command_line(), "cores": cores(), "load_average_at_start": load_at_start,
        "python": platform.python_version(), "database": database_label(args),
        "customers": args.customers, "duration_s": args.duration, "think_s": args.think, "warmup_s": args.warmup,
        "apps": apps, "verdicts": verdicts(results, args),
    }  # fmt: skip


def command_line() -> str:
    executable = Path(sys.executable)
    with contextlib.suppress(ValueError):  # `.venv/bin/python` reads better than an absolute path
        executable = executable.relative_to(Path.cwd())
    return shlex.join([str(executable), *sys.argv])


def database_label(args: argparse.Namespace) -> str:
    if not args.database_url:
        return "SQLite (new temporary file)"
    from sqlalchemy.engine import make_url

    return make_url(args.database_url).render_as_string(hide_password=True)


def loadgen_check(echo: AppResult) -> str:
    """The load generator is checked where it works hardest: against the echo app at saturation.

    On a core of its own, it could send 1 / (its CPU per request) requests a second; well above what the
    server answered, it was not what limited the throughput.
    """
    f = phase_figures(echo.phase2)
    own, server = f["loadgen_cpu_ms_per_request"], f["server_cpu_ms_per_request"]
    headroom = server / own if own else 0.0
    verdict = "the server set the pace" if headroom >= 3 else "WARNING: the load generator may have set the pace"
    return (f"Load generator: at the echo app's saturation it used {own:.3f} ms CPU per request "
            f"({f['loadgen_cpu_cores']:.2f} cores), the echo server {server:.2f} ms "
            f"({f['server_cpu_cores']:.2f} cores): {headroom:.0f}× headroom, {verdict}.")


def verdicts(results: dict[str, AppResult], args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    shop, echo = results["chatshop"], results["echo"]
    p1 = phase_figures(shop.phase1)
    shop_rate, echo_rate = (phase_figures(r.phase2)["throughput_per_s"] for r in (shop, echo))
    share = shop_rate / echo_rate if echo_rate else 0.0
    return {
        "phase1_p99": {"pass": p1["p99_ms"] < P99_TARGET_MS and not p1["errors"], "p99_ms": p1["p99_ms"],
                       "errors": p1["errors"], "customers": args.customers},
        "phase2_throughput_share": {"pass": share >= THROUGHPUT_TARGET and not shop.phase2.errors.total(),
                                    "share": share, "chatshop_per_s": shop_rate, "echo_per_s": echo_rate},
    }


def verdict_lines(results: dict[str, AppResult], args: argparse.Namespace) -> list[str]:
    v = verdicts(results, args)
    p99, share = v["phase1_p99"], v["phase2_throughput_share"]
    at = f"{args.customers} customers" + ("" if args.customers == 100 else " (the target is set at 100)")
    errors1 = f", {p99['errors']} errors" if p99["errors"] else ""
    errors2 = results["chatshop"].phase2.errors.total()
    return [
        f"- {_mark(p99['pass'])} phase-1 p99 < {P99_TARGET_MS:.0f} ms at {at}: "
        f"chatshop {p99['p99_ms']:.1f} ms{errors1}",
        f"- {_mark(share['pass'])} chatshop phase-2 throughput ≥ {THROUGHPUT_TARGET:.0%} of the echo app's: "
        f"{share['chatshop_per_s']:.0f}/s vs {share['echo_per_s']:.0f}/s = {share['share']:.0%}"
        + (f", {errors2} errors" if errors2 else ""),
    ]


def _mark(ok: bool) -> str:
    return "**PASS**" if ok else "**FAIL**"


# The table's rows per phase: (label, figure, format).
Row = tuple[str, str, str]
PHASE1_ROWS: list[Row] = [
    ("requests", "requests", "{:.0f}"),
    ("throughput (replies/s)", "throughput_per_s", "{:.1f}"),
    ("p50 latency (ms)", "p50_ms", "{:.1f}"),
    ("p99 latency (ms)", "p99_ms", "{:.1f}"),
    ("max latency (ms)", "max_ms", "{:.1f}"),
    ("errors", "errors", "{:.0f}"),
]
PHASE2_ROWS: list[Row] = [
    ("throughput (replies/s)", "throughput_per_s", "{:.0f}"),
    ("p50 latency (ms)", "p50_ms", "{:.1f}"),
    ("p99 latency (ms)", "p99_ms", "{:.1f}"),
    ("errors", "errors", "{:.0f}"),
    ("server CPU per request (ms)", "server_cpu_ms_per_request", "{:.2f}"),
    ("server CPU used (cores)", "server_cpu_cores", "{:.2f}"),
    ("load generator CPU per request (ms)", "loadgen_cpu_ms_per_request", "{:.3f}"),
    ("load generator CPU used (cores)", "loadgen_cpu_cores", "{:.2f}"),
]


def report(results: dict[str, AppResult], args: argparse.Namespace, load_at_start: float) -> str:
    shop, echo = results["chatshop"], results["echo"]
    sections = [
        (f"Phase 1, latency at load: {args.customers} customers, think {args.think:g} s ±50 %, {args.duration:g} s",
         PHASE1_ROWS, phase_figures(shop.phase1), phase_figures(echo.phase1)),
        (f"Phase 2, throughput at saturation: {args.customers} customers, no think time, {args.duration:g} s",
         PHASE2_ROWS, phase_figures(shop.phase2), phase_figures(echo.phase2)),
    ]
    lines = ["| | chatshop | werobot echo | chatshop ÷ echo |", "|---|---:|---:|---:|"]
    for title, rows, a, b in sections:
        lines.append(f"| **{title}** | | | |")
        for label, key, fmt in rows:
            ratio = f"{a[key] / b[key]:.2f}×" if b[key] else "–"
            lines.append(f"| {label} | {fmt.format(a[key])} | {fmt.format(b[key])} | {ratio} |")
    notes_ = [f"- {line}" for line in notes(results, args, load_at_start)]
    return "\n".join(["", *lines, "", *notes_, "", *verdict_lines(results, args)])


def notes(results: dict[str, AppResult], args: argparse.Namespace, load_at_start: float) -> list[str]:
    inherited = sorted(k for k in os.environ if k.startswith("CHATSHOP__"))
    verified = ", ".join(f"{r.name} {r.verified - r.wrong.total()}/{r.verified}" for r in results.values())
    errors = "; ".join(f"{r.name}: {dict(r.phase1.errors + r.phase2.errors)}" for r in results.values()
                       if (r.phase1.errors + r.phase2.errors).total())
    live = sum(r.phase1.built_live + r.phase2.built_live for r in results.values())
    sent = sum(r.phase1.sent + r.phase2.sent for r in results.values())
    lines = [
        f"Machine: {cores()} cores, load average {load_at_start:.2f} at start; Python "
        f"{platform.python_version()}; chatshop database: {database_label(args)}. Servers run one at a time, "
        "each as one uvicorn process; the load generator shares the machine. Latencies are of correct "
        f"replies (HTTP 200, encrypted XML); sampled replies decrypted and checked: {verified}.",
        f"Command: `{command_line()}`",
    ]
    lines.append(loadgen_check(results["echo"]))
    if errors:
        lines.append(f"Errors: {errors}.")
    if live > 0.01 * sent:  # a few are normal: customers the server favours send more than their share
        lines.append(f"{live} of {sent} pushes were built during timed phases (the pre-built pool ran short).")
    if args.database_url and not args.database_url.startswith("sqlite"):
        lines.append("The database server runs on this machine too; its CPU is not in chatshop's server CPU figures.")
    if inherited:
        lines.append(f"Settings inherited from the environment: {', '.join(inherited)}.")
    return lines


if __name__ == "__main__":
    sys.exit(main())
