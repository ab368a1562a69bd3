"""Benchmark the console's live path: how long from a customer's push reaching /wechat until the message
arrives in the event stream of the agent who owns the conversation, with agents connected live.

A `chatshop serve` subprocess (SQLite in a temporary directory, or --database-url) gets --agents staff
accounts in one always-open skill group, each online with --chats conversations at most, and each
connected to GET /staff/api/events (Server-Sent Events) from this process. --customers customers ask for
a person (so every conversation is owned by an agent), then each writes --messages messages, --think
seconds apart (±50 %), as encrypted pushes. Every message carries a unique text; the time it takes to
appear in its owner's stream is measured from just before its push is sent.

Side by side, as the baseline measured in the same run: the webhook's own answer time for the same pushes
(the push's HTTP round trip, which ends before the event is read). Also the server's memory (RSS) before
and after the agents connect, per connected agent.

    .venv/bin/python bench/console.py [--agents 20] [--customers 100] [--messages 5] [--think 1.0]
        [--database-url postgresql://postgres@localhost:5432/bench_console] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pushes import Account, PushFactory, Question
from servers import Server, free_port
from webhook import chatshop_spec, cores, positive_int, reset_database

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

GROUP = "客服"
PASSWORD = "bench-console-password"
TARGET_P99_MS = 500.0


@dataclass
class Figures:
    sent: int = 0
    arrived: dict[str, float] = field(default_factory=dict)  # text → seconds from push to the owner's stream
    answered: list[float] = field(default_factory=list)  # the webhook's own answer times
    errors: int = 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=positive_int, default=20, help="agents connected live (20)")
    parser.add_argument("--customers", type=positive_int, default=100, help="customers writing (100)")
    parser.add_argument("--chats", type=positive_int, default=5, help="conversations an agent may hold (5)")
    parser.add_argument("--messages", type=positive_int, default=5, help="messages per customer (5)")
    parser.add_argument("--think", type=float, default=1.0, help="seconds between a customer's messages (1.0)")
    parser.add_argument("--database-url", help="chatshop's database (default: SQLite in a temporary directory)")
    parser.add_argument("--json", action="store_true", help="end with a line holding every figure as JSON")
    args = parser.parse_args(argv)
    if args.agents * args.chats < args.customers:
        parser.error("--agents × --chats must hold every customer's conversation")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="chatshop-console-bench-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'chatshop.db'}"
        if args.database_url:
            reset_database(url)
        agents = make_agents(url, args.agents, args.chats)
        account = Account.generate()
        spec = chatshop_spec(account, Path(tmp), url)
        spec.env["CHATSHOP__ROUTING__GROUPS"] = json.dumps([{"name": GROUP}], ensure_ascii=False)
        port = free_port()
        spec.argv.extend(["--port", str(port)])
        with Server(spec, port, Path(tmp) / "server.log") as server:
            factory = PushFactory(account, "127.0.0.1", port)
            server.wait_ready(factory.url_check("ready"), "ready")
            result = asyncio.run(measure(server, factory, agents, args))
    print_report(result, args, url)
    return 0 if result["verdict"]["pass"] else 1


def make_agents(url: str, count: int, max_chats: int) -> list[tuple[str, int]]:
    """Staff accounts in the one group: (personal token, staff id) each, made in the database directly."""
    from chatshop.database import migrated_database
    from staff.accounts import add_staff, issue_token
    from staff.config import StaffConfig
    from staff.roles import Role
    from storage.db import transaction

    agents = []
    print(f"making {count} agents", file=sys.stderr)
    with migrated_database(url) as factory, transaction(factory) as session:
        for n in range(count):
            member = add_staff(session, config=StaffConfig(), username=f"agent{n:02d}", password=PASSWORD,
                               role=Role.AGENT, groups=[GROUP], max_chats=max_chats)
            agents.append((issue_token(session, username=member.username), member.id))
    return agents


async def measure(server: Server, factory: PushFactory, agents: list[tuple[str, int]],
                  args: argparse.Namespace) -> dict[str, Any]:
    base = f"http://127.0.0.1:{server.port}"
    figures = Figures()
    limits = httpx.Limits(max_connections=args.agents + args.customers + 10)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        rss_before = rss_kib(server.pid)
        sent_at: dict[str, float] = {}
        await go_online(http, [token for token, _ in agents], args.chats)
        streams = [asyncio.create_task(listen(http, token, staff_id, sent_at, figures)) for token, staff_id in agents]
        await asyncio.sleep(1.0)
        rss_connected = rss_kib(server.pid)
        print(f"{args.agents} agents connected; {args.customers} customers ask for a person", file=sys.stderr)
        customers = [f"o_bench_{n:03d}" for n in range(args.customers)]
        await asyncio.gather(*(push(http, factory, openid, "人工", figures, None) for openid in customers))
        await wait_assigned(http, agents[0][0], args.customers)
        print(f"writing {args.messages} messages each, {args.think} s apart", file=sys.stderr)
        started = time.perf_counter()
        await asyncio.gather(*(customer_writes(http, factory, openid, args, sent_at, figures) for openid in customers))
        await wait_arrivals(figures, len(sent_at), timeout_s=10)
        elapsed = time.perf_counter() - started
        rss_after = rss_kib(server.pid)
        for stream in streams:
            stream.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
    return figures_of(figures, len(sent_at), args, rss_before, rss_connected, rss_after, elapsed)


async def go_online(http: httpx.AsyncClient, tokens: list[str], max_chats: int) -> None:
    for token in tokens:
        answer = await http.put("/staff/api/me/status", json={"status": "online", "max_chats": max_chats},
                                headers={"Authorization": f"Bearer {token}"})
        answer.raise_for_status()


async def listen(http: httpx.AsyncClient, token: str, staff_id: int, sent_at: dict[str, float],
                 figures: Figures) -> None:
    """Read one agent's stream; note when a customer's message reaches the agent who owns it."""
    headers = {"Authorization": f"Bearer {token}"}
    async with http.stream("GET", "/staff/api/events", headers=headers, timeout=None) as response:
        kind = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind == "message":
                note_arrival(json.loads(line.removeprefix("data: ")), staff_id, sent_at, figures)


def note_arrival(data: dict[str, Any], staff_id: int, sent_at: dict[str, float], figures: Figures) -> None:
    message = data.get("message") or {}
    text = str(message.get("text", ""))
    if message.get("direction") != "in" or text not in sent_at or text in figures.arrived:
        return
    if data.get("agent_id") != staff_id:
        return  # every agent of the group hears it; the time that counts is the owner's
    figures.arrived[text] = time.perf_counter() - sent_at[text]


async def push(http: httpx.AsyncClient, factory: PushFactory, openid: str, text: str, figures: Figures,
               sent_at: dict[str, float] | None) -> None:
    built = factory.build(openid, Question(text, ""))
    head, _, body = built.request.partition(b"\r\n\r\n")
    path = head.split(b" ")[1].decode()
    started = time.perf_counter()
    if sent_at is not None:
        sent_at[text] = started
    try:
        answer = await http.post(path, content=body, headers={"Content-Type": "text/xml"})
        answer.raise_for_status()
    except httpx.HTTPError:
        figures.errors += 1
        return
    if sent_at is not None:
        figures.answered.append(time.perf_counter() - started)


async def customer_writes(http: httpx.AsyncClient, factory: PushFactory, openid: str, args: argparse.Namespace,
                          sent_at: dict[str, float], figures: Figures) -> None:
    rng = random.Random(openid)
    await asyncio.sleep(rng.uniform(0, args.think))  # customers do not all start at once
    for n in range(args.messages):
        await push(http, factory, openid, f"{openid} 第{n}条 还在吗", figures, sent_at)
        figures.sent += 1
        await asyncio.sleep(args.think * rng.uniform(0.5, 1.5))


async def wait_assigned(http: httpx.AsyncClient, token: str, customers: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        counts = (await http.get("/staff/api/conversations/counts",
                                 headers={"Authorization": f"Bearer {token}"})).json()
        if counts["all"] - counts["queued"] >= customers:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError("not every conversation was assigned")


async def wait_arrivals(figures: Figures, expected: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while len(figures.arrived) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def figures_of(figures: Figures, sent: int, args: argparse.Namespace, rss_before: int, rss_connected: int,
               rss_after: int, elapsed: float) -> dict[str, Any]:
    live = [seconds * 1000 for seconds in figures.arrived.values()]
    answered = [seconds * 1000 for seconds in figures.answered]
    p99 = percentile(live, 0.99)
    return {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "cores": cores(),
        "agents": args.agents, "customers": args.customers, "messages": sent, "arrived": len(live),
        "lost": sent - len(live), "errors": figures.errors, "seconds": round(elapsed, 1),
        "push_to_stream_ms": {"p50": round(statistics.median(live), 1) if live else None, "p99": round(p99, 1)},
        "webhook_answer_ms": {"p50": round(statistics.median(answered), 1) if answered else None,
                              "p99": round(percentile(answered, 0.99), 1)},
        "rss_mib": {"before": round(rss_before / 1024, 1), "agents_connected": round(rss_connected / 1024, 1),
                    "after_load": round(rss_after / 1024, 1)},
        "kib_per_agent": round((rss_connected - rss_before) / args.agents, 1),
        "verdict": {"pass": p99 < TARGET_P99_MS and sent == len(live) and not figures.errors,
                    "target_p99_ms": TARGET_P99_MS},
    }


def print_report(result: dict[str, Any], args: argparse.Namespace, url: str) -> None:
    database = "SQLite (new temporary file)" if url.startswith("sqlite") else "PostgreSQL"
    live, answered = result["push_to_stream_ms"], result["webhook_answer_ms"]
    print(f"{result['agents']} agents live, {result['customers']} customers, {result['messages']} messages; "
          f"{database}; {result['cores']} cores\n")
    print("| | p50 (ms) | p99 (ms) |\n|---|---:|---:|")
    print(f"| push → the owner's event stream | {live['p50']} | {live['p99']} |")
    print(f"| push → the webhook's answer (baseline) | {answered['p50']} | {answered['p99']} |\n")
    rss = result["rss_mib"]
    print(f"Messages that reached their agent: {result['arrived']} of {result['messages']} "
          f"(errors {result['errors']}).")
    print(f"Server memory: {rss['before']} MiB before the agents connected, {rss['agents_connected']} MiB with "
          f"them ({result['kib_per_agent']} KiB per connected agent), {rss['after_load']} MiB after the load.")
    verdict = "meets" if result["verdict"]["pass"] else "MISSES"
    print(f"p99 target < {TARGET_P99_MS:.0f} ms with nothing lost: {verdict} it.")
    if args.json:
        print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
