"""Benchmark campaigns: audiences of a million, sends to the WeChat sandbox, and a sender killed mid-send.

  phase 1, planning: --customers customers (bulk-inserted: COPY on PostgreSQL, big executemany batches
           on SQLite), 90 % tagged 老客 and the rest 新客, a share with a consent credit. The audience
           `老客 OR 新客` (every customer) is counted (count_audience) and planned (start_due_campaigns:
           the INSERT … SELECT of one recipient row per customer and the move to `sending`, one
           transaction), both timed; the campaign is then cancelled.
  phase 2, sending: a campaign to --recipients customers, each with a credit in the ledger and in
           WeChat (the sandbox), throttle 0, sent by `chatshop campaign send` as a subprocess against a
           `chatshop serve` process serving the sandbox (its scheduler off: it only answers). Beside it,
           measured in the same run, the sandbox's own ceiling: the same HTTP client (wechat.WeChatClient,
           the same number of threads) sending subscribe messages straight to it, with no database.
  phase 3, crash: the same with other customers, the sender SIGKILLed half-way while a batch is in flight
           and started again until the campaign is done; duplicates and losses are counted from what the
           sandbox recorded (each customer's transcript).

CPU (user + system) is read per process from /proc and rusage (PostgreSQL: every process of that name);
"rest" is the machine's other busy time. Progress goes to stderr; prints a markdown table, with --json a
last line of every figure as JSON. The database is reset first: never point it at one that holds anything you want.

    .venv/bin/python bench/campaign.py [--database-url postgresql://postgres@localhost:5432/test_two]
        [--customers 1000000] [--recipients 100000] [--ceiling-sends 20000] [--phases plan,send,crash] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from servers import Server, ServerError, ServerSpec, Stopped, free_port, run_measurements
from webhook import positive_int, reset_database

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url

from bot.outreach.campaigns import (
    CampaignDraft,
    cancel_campaign,
    count_audience,
    create_campaign,
    schedule_campaign,
    start_due_campaigns,
)
from bot.outreach.models import Campaign, SendState, SubscribeMessage
from bot.outreach.templates import TemplateRegistry, load_templates, to_wechat_data
from chatshop.database import upgrade_database
from chatshop.sandbox_wiring import with_sandbox_credentials
from chatshop.settings import DEFAULT_CONFIG_PATH, load_settings
from storage.clock import utcnow
from storage.db import make_session_factory, open_engine, transaction
from wechat.client import WeChatClient
from wechat.errors import WeChatApiError

DEFAULT_DATABASE_URL = "postgresql://postgres@localhost:5432/test_two"
DEMO = REPO / "chatshop" / "demo"
TEMPLATE = "sbx_mp_new_arrival"
DATA = {"thing1": "冬季上新", "thing2": "羊毛大衣新款到店，会员九折", "time3": "2026-12-10 10:00"}
INSERT_BATCH = 50_000
SETUP_THREADS = 8  # consents posted to the sandbox at once while setting up
SEND_TARGET_PER_S = 2000.0
PLAN_TARGET_S = 10.0  # "counted in seconds"
POLL_S = 0.25


class BenchError(RuntimeError):
    """The run cannot give meaningful figures; the message says why."""


@dataclass
class Cpu:
    sender_s: float = 0.0
    sandbox_s: float = 0.0
    client_s: float = 0.0  # this process (the ceiling's client)
    postgres_s: float = 0.0  # every PostgreSQL process on this machine (other databases' too)
    machine_s: float = 0.0  # every core's busy time

    @property
    def rest_s(self) -> float:
        return max(0.0, self.machine_s - self.sender_s - self.sandbox_s - self.client_s - self.postgres_s)


@dataclass
class SendRun:
    messages: int = 0
    wall_s: float = 0.0  # first message sent to the campaign done (the command's start-up left out)
    command_s: float = 0.0  # the command(s) from start to exit
    cpu: Cpu = field(default_factory=Cpu)

    @property
    def per_s(self) -> float:
        return self.messages / self.wall_s if self.wall_s else 0.0


@dataclass
class Figures:
    database: str = ""
    customers: int = 0
    insert_s: float = 0.0
    audience: int = 0
    with_credit: int = 0
    count_s: float = 0.0
    plan_s: float = 0.0
    planned: int = 0
    send: SendRun | None = None
    ceiling: SendRun | None = None
    crash: SendRun | None = None
    killed_in_flight: int = 0
    killed_after_sent: int = 0
    duplicates: int = -1
    losses: int = -1
    in_doubt: int = -1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    figures = run_measurements(lambda: run(args), BenchError)
    if isinstance(figures, Stopped):
        return figures.status
    print(report(figures))
    if args.json:
        print(json.dumps(asdict(figures)))
    return 0 if figures.duplicates <= 0 and figures.losses <= 0 else 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                        help=f"reset first! PostgreSQL or sqlite:///FILE ({DEFAULT_DATABASE_URL})")
    parser.add_argument("--customers", type=positive_int, default=1_000_000, help="customers (1000000)")
    parser.add_argument("--recipients", type=positive_int, default=100_000,
                        help="recipients of the sent campaign, and again of the killed one (100000)")
    parser.add_argument("--ceiling-sends", type=positive_int, default=20_000,
                        help="subscribe messages sent straight to the sandbox for its ceiling (20000)")
    parser.add_argument("--phases", default="plan,send,crash", help="which phases to run (plan,send,crash)")
    parser.add_argument("--json", action="store_true", help="end with a line holding every figure as JSON")
    args = parser.parse_args(argv)
    args.phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    if not args.phases <= {"plan", "send", "crash"}:
        parser.error("--phases takes plan, send and crash")
    if 2 * args.recipients > args.customers:
        parser.error("--customers must be at least twice --recipients (the sent and the killed campaigns' audiences)")
    url = make_url(args.database_url)
    if url.get_backend_name() == "postgresql" and url.database == "test":
        parser.error("the `test` database is the test suite's; give another (it is reset)")
    return args


def progress(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the store -------------------------------------------------------------------------------------


def openid(index: int) -> str:
    return f"oBenchCampaign{index:09d}"


def tags_of(index: int, recipients: int) -> list[str]:
    """老客 on nine in ten (新客 on the rest); 批次1 and 批次2 mark the sent and the killed campaigns' audiences."""
    tags = ["新客" if index % 10 == 9 else "老客"]
    if index < recipients:
        tags.append("批次1")
    elif index < 2 * recipients:
        tags.append("批次2")
    return tags


def prepare(engine: Engine, customers: int, recipients: int) -> float:
    """Migrate, then write every customer, their tags and the 2 × recipients credits; seconds it took."""
    upgrade_database(engine)
    started = time.monotonic()
    now = utcnow()
    customer_rows = ((i + 1, "mp", openid(i), False, now) for i in range(customers))
    tag_rows = ((i + 1, name, "", "staff", "bench", now, False)
                for i in range(customers) for name in tags_of(i, recipients))
    credit_rows = ((i + 1, TEMPLATE, 1, "accept", now) for i in range(2 * recipients))
    tables: list[tuple[str, list[str], Iterable[tuple[Any, ...]], int]] = [
        ("customers", ["id", "channel", "openid", "subscribed", "created_at"], customer_rows, customers),
        ("customer_tags", ["customer_id", "name", "group", "source", "set_by", "set_at", "on_wechat"], tag_rows,
         customers + 2 * recipients),
        ("subscribe_credits", ["customer_id", "template_id", "credits", "last_result", "updated_at"], credit_rows,
         2 * recipients),
    ]
    for table, columns, rows, expected in tables:
        if engine.dialect.name == "postgresql":
            _copy(engine, table, columns, rows, expected)
        else:
            _executemany(engine, table, columns, rows, expected)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # The ids were given: move the sequence past them, and let the planner see the new tables.
            connection.exec_driver_sql("SELECT setval('customers_id_seq', (SELECT max(id) FROM customers))")
            connection.exec_driver_sql("ANALYZE")
        else:
            connection.exec_driver_sql("ANALYZE")
    return time.monotonic() - started


def _copy(engine: Engine, table: str, columns: list[str], rows: Iterable[tuple[Any, ...]], expected: int) -> None:
    names = ", ".join(f'"{c}"' for c in columns)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for done, row in enumerate(rows, 1):
                copy.write_row(row)
                if done % 200_000 == 0:
                    progress(f"  {table}: {done:,} / {expected:,}")
        raw.commit()
    finally:
        raw.close()
    progress(f"  {table}: {expected:,} written")


def _executemany(engine: Engine, table: str, columns: list[str], rows: Iterable[tuple[Any, ...]],
                 expected: int) -> None:
    statement = text(f"INSERT INTO {table} ({', '.join(f'[{c}]' for c in columns)}) "
                     f"VALUES ({', '.join(f':c{i}' for i in range(len(columns)))})")
    batch: list[dict[str, Any]] = []
    done = 0
    for row in rows:
        batch.append({f"c{i}": value for i, value in enumerate(row)})
        if len(batch) == INSERT_BATCH:
            with engine.begin() as connection:
                connection.execute(statement, batch)
            done += len(batch)
            batch = []
            if done % 200_000 == 0:
                progress(f"  {table}: {done:,} / {expected:,}")
    if batch:
        with engine.begin() as connection:
            connection.execute(statement, batch)
    progress(f"  {table}: {expected:,} written")


def new_campaign(engine: Engine, registry: TemplateRegistry, audience: str, name: str) -> int:
    draft = CampaignDraft(name=name, audience=audience, template_id=TEMPLATE, data=dict(DATA))
    with transaction(make_session_factory(engine)) as session:
        campaign = create_campaign(session, draft=draft, by="bench", registry=registry, now=utcnow())
        schedule_campaign(session, campaign.id, by="bench", registry=registry, now=utcnow())
        return campaign.id


def plan_phase(engine: Engine, registry: TemplateRegistry, figures: Figures) -> None:
    audience = "老客 OR 新客"
    factory = make_session_factory(engine)
    with factory() as session:
        started = time.monotonic()
        counted = count_audience(session, audience=audience, template_id=TEMPLATE, registry=registry)
        figures.count_s = time.monotonic() - started
    figures.audience, figures.with_credit = counted.total, counted.with_credit
    progress(f"counted {counted.total:,} ({counted.with_credit:,} with credit) in {figures.count_s:.2f} s")
    campaign_id = new_campaign(engine, registry, audience, "百万受众")
    started = time.monotonic()
    start_due_campaigns(factory, registry=registry, now=utcnow())
    figures.plan_s = time.monotonic() - started
    with factory() as session:
        figures.planned = session.scalar(select(Campaign.audience_size).where(Campaign.id == campaign_id)) or 0
    progress(f"planned {figures.planned:,} recipient rows in {figures.plan_s:.2f} s; cancelling that campaign")
    with transaction(factory) as session:
        cancel_campaign(session, campaign_id, by="bench", now=utcnow())


# --- the processes ---------------------------------------------------------------------------------


def environment(database_url: str, tmp: Path, port: int) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("CHATSHOP__")},
        "CHATSHOP__DATABASE__URL": database_url,
        "CHATSHOP__SERVER__PORT": str(port),
        "CHATSHOP__KB__PATH": str(DEMO / "kb.yaml"),
        "CHATSHOP__TAGS__RULES_PATH": str(DEMO / "tag_rules.yaml"),
        "CHATSHOP__OUTREACH__TEMPLATES_PATH": str(DEMO / "subscribe_templates.yaml"),
        "CHATSHOP__SANDBOX__CREDENTIALS_PATH": str(tmp / "sandbox-credentials.json"),
        "CHATSHOP__SCHEDULER__ENABLED": "false",  # it serves the sandbox and sends nothing itself
        "CHATSHOP__LOGGING__LEVEL": "WARNING",
    }


def chatshop() -> list[str]:
    script = Path(sys.executable).parent / "chatshop"
    return [str(script)] if script.exists() else [sys.executable, "-m", "chatshop.cli"]


def start_wechat(env: dict[str, str], port: int, tmp: Path) -> Server:
    server = Server(ServerSpec("chatshop serve (the sandbox)", [*chatshop(), "serve"], env, "/healthz"), port,
                    tmp / "serve.log")
    server.start()
    deadline = time.monotonic() + 90
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=2, trust_env=False) as http:
        while time.monotonic() < deadline:
            if not server.alive():
                raise ServerError(f"chatshop serve exited while starting:\n{server.log_tail()}")
            try:
                if http.get("/healthz").status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    server.stop()
    raise ServerError(f"chatshop serve never answered /healthz:\n{server.log_tail()}")


def give_consents(sandbox: str, openids: list[str], what: str) -> None:
    """WeChat's side of each consent (the ledger has them already)."""
    local = threading.local()

    def one(user: str) -> None:
        http = getattr(local, "http", None)
        if http is None:
            http = local.http = httpx.Client(base_url=sandbox, timeout=30, trust_env=False)
        answer = http.post("/control/consent", json={"account": "mp", "openid": user, "template_id": TEMPLATE})
        if answer.status_code != 200:
            raise BenchError(f"the sandbox refused a consent: HTTP {answer.status_code} {answer.text[:200]}")

    started = time.monotonic()
    with ThreadPoolExecutor(SETUP_THREADS) as pool:
        for done, _ in enumerate(pool.map(one, openids), 1):
            if done % 20_000 == 0:
                progress(f"  {what}: {done:,} / {len(openids):,} consents in WeChat")
    progress(f"  {what}: {len(openids):,} consents in WeChat ({time.monotonic() - started:.0f} s)")


def proc_cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu() -> dict[int, float]:
    """CPU seconds of each process named postgres (the server and its backends) that /proc lets us read."""
    found: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            line = stat.read_text()
        except OSError:
            continue
        if "(postgres)" in line:
            fields = line.rpartition(")")[2].split()
            found[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


class PostgresCpu:
    """Samples every PostgreSQL process while a phase runs: a backend's CPU leaves /proc with it when the
    sender's connections close, so the last sample of each is what counts."""

    def __init__(self) -> None:
        self._before = postgres_cpu()
        self._last = dict(self._before)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            self._last.update(postgres_cpu())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self._last.update(postgres_cpu())
        return sum(cpu - self._before.get(pid, 0.0) for pid, cpu in self._last.items())


def machine_busy_s() -> float:
    try:
        cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    ticks = [int(v) for v in cpu]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@contextmanager
def cpu_of(run: SendRun, sandbox: Server) -> Iterator[None]:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    me = resource.getrusage(resource.RUSAGE_SELF)
    sandbox_before, machine_before, postgres = proc_cpu_s(sandbox.pid), machine_busy_s(), PostgresCpu()
    yield
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    me_after = resource.getrusage(resource.RUSAGE_SELF)
    run.cpu = Cpu(
        sender_s=(children_after.ru_utime + children_after.ru_stime) - (children.ru_utime + children.ru_stime),
        sandbox_s=proc_cpu_s(sandbox.pid) - sandbox_before,
        client_s=(me_after.ru_utime + me_after.ru_stime) - (me.ru_utime + me.ru_stime),
        postgres_s=postgres.stop(),
        machine_s=machine_busy_s() - machine_before,
    )


def counts(engine: Engine, campaign_id: int) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(select(SubscribeMessage.state, func.count())
                                  .where(SubscribeMessage.campaign_id == campaign_id)
                                  .group_by(SubscribeMessage.state))
        return {state: count for state, count in rows}


def state_of(engine: Engine, campaign_id: int) -> str:
    with engine.connect() as connection:
        return str(connection.scalar(select(Campaign.state).where(Campaign.id == campaign_id)))


class Sending:
    """`chatshop campaign send ID` as a subprocess, watched from the database: when the first message was
    sent and when the campaign was done, so the command's start-up is not counted in the rate."""

    def __init__(self, engine: Engine, campaign_id: int, env: dict[str, str], log: Path) -> None:
        self.engine, self.campaign_id, self.env, self.log = engine, campaign_id, env, log
        self.first_sent_at: float | None = None
        self.sent_at_first = 0
        self.command_s = 0.0

    def start(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            return subprocess.Popen([*chatshop(), "campaign", "send", str(self.campaign_id)], env=self.env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)

    def watch(self, process: subprocess.Popen[bytes], until: Callable[[dict[str, int]], bool] | None = None,
              ) -> dict[str, int]:
        """Poll until the process exits (or `until` holds); the last counts."""
        started = time.monotonic()
        last_report = started
        seen: dict[str, int] = {}
        while process.poll() is None:
            seen = counts(self.engine, self.campaign_id)
            sent = seen.get(SendState.SENT, 0)
            if sent and self.first_sent_at is None:
                self.first_sent_at, self.sent_at_first = time.monotonic(), sent
            if until is not None and until(seen):
                break
            if time.monotonic() - last_report >= 5:
                progress(f"  sent {sent:,}, in flight {seen.get(SendState.SENDING, 0):,}, "
                         f"pending {seen.get(SendState.PENDING, 0):,}")
                last_report = time.monotonic()
            time.sleep(POLL_S)
        self.command_s += time.monotonic() - started
        return seen


def send_phase(engine: Engine, registry: TemplateRegistry, env: dict[str, str], sandbox: Server,
               recipients: int, tmp: Path) -> SendRun:
    campaign_id = new_campaign(engine, registry, "批次1", "十万发送")
    run = SendRun()
    sending = Sending(engine, campaign_id, env, tmp / "send.log")
    with cpu_of(run, sandbox):
        process = sending.start()
        sending.watch(process)
        process.wait()
    done_at = time.monotonic()
    final = counts(engine, campaign_id)
    if process.returncode != 0 or state_of(engine, campaign_id) != "done":
        raise BenchError(f"the send ended {process.returncode} with {final}:\n{tail(tmp / 'send.log')}")
    run.command_s = sending.command_s
    run.messages = final.get(SendState.SENT, 0) - sending.sent_at_first
    run.wall_s = done_at - (sending.first_sent_at or done_at)
    if run.messages <= 0:
        # An audience small enough to be sent before the first poll saw any: only the whole command
        # can be timed (its start-up included, so the rate reads low).
        run.messages, run.wall_s = final.get(SendState.SENT, 0), run.command_s
    if final.get(SendState.SENT, 0) != recipients:
        raise BenchError(f"expected {recipients} sent, found {final}")
    return run


def ceiling_phase(settings_env: dict[str, str], sandbox: Server, api_base_url: str, sends: int,
                  workers: int) -> SendRun:
    """The same client (WeChatClient: wechatpy over requests, its token in memory) and the same threads,
    sending subscribe messages straight to the sandbox: what it takes with no database at all."""
    from wechatpy.session.memorystorage import MemoryStorage

    settings = with_sandbox_credentials(load_settings(DEFAULT_CONFIG_PATH, environ=settings_env))
    account = settings.miniprogram
    client = WeChatClient(app_id=account.app_id, app_secret=account.app_secret.get_secret_value(),
                          base_url=api_base_url, token_store=MemoryStorage(), timeout_s=30)
    users = [f"oBenchCeiling{i:09d}" for i in range(sends)]
    give_consents(f"http://127.0.0.1:{sandbox.port}/sandbox", users, "ceiling")
    data = to_wechat_data(DATA)
    client.access_token()
    failures: list[int] = []

    def send(user: str) -> None:
        try:
            client.subscribe.send({"touser": user, "template_id": TEMPLATE, "data": data, "lang": "zh_CN",
                                   "miniprogram_state": "formal", "page": "pages/index/index?src=campaign&c=0"},
                                  mini_program=True)
        except WeChatApiError as exc:
            failures.append(exc.errcode)

    run = SendRun(messages=sends)
    with cpu_of(run, sandbox), ThreadPoolExecutor(workers) as pool:
        started = time.monotonic()
        list(pool.map(send, users))
        run.wall_s = run.command_s = time.monotonic() - started
    if failures:
        raise BenchError(f"{len(failures)} ceiling sends failed: {sorted(set(failures))}")
    return run


def crash_phase(engine: Engine, registry: TemplateRegistry, env: dict[str, str], sandbox: Server, recipients: int,
                tmp: Path, figures: Figures) -> SendRun:
    campaign_id = new_campaign(engine, registry, "批次2", "中途被杀")
    run = SendRun()
    sending = Sending(engine, campaign_id, env, tmp / "crash.log")
    with cpu_of(run, sandbox):
        process = sending.start()
        seen = sending.watch(process, until=lambda s: s.get(SendState.SENT, 0) >= recipients // 2
                             and s.get(SendState.SENDING, 0) > 0)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        figures.killed_in_flight = seen.get(SendState.SENDING, 0)
        figures.killed_after_sent = seen.get(SendState.SENT, 0)
        progress(f"  SIGKILLed with {figures.killed_in_flight} in flight, {figures.killed_after_sent:,} sent; "
                 "starting it again")
        for _ in range(3):
            process = sending.start()
            sending.watch(process)
            if process.wait() != 0:
                raise BenchError(f"the restarted send ended {process.returncode}:\n{tail(tmp / 'crash.log')}")
            if state_of(engine, campaign_id) == "done":
                break
    final = counts(engine, campaign_id)
    run.messages = final.get(SendState.SENT, 0)
    run.command_s = sending.command_s
    run.wall_s = sending.command_s
    figures.in_doubt = final.get(SendState.IN_DOUBT, 0)
    progress(f"  done: {final}; reading {recipients:,} transcripts from the sandbox")
    received = transcripts(f"http://127.0.0.1:{sandbox.port}/sandbox",
                           [openid(i) for i in range(recipients, 2 * recipients)])
    figures.duplicates = sum(1 for n in received if n > 1)
    figures.losses = sum(1 for n in received if n == 0)
    return run


def transcripts(sandbox: str, users: list[str]) -> list[int]:
    """How many copies of the campaign's template each customer received, as WeChat recorded them."""
    local = threading.local()

    def one(user: str) -> int:
        http = getattr(local, "http", None)
        if http is None:
            http = local.http = httpx.Client(base_url=sandbox, timeout=30, trust_env=False)
        entries = http.get("/chat/transcript", params={"account": "mp", "openid": user}).json()
        return sum(1 for e in entries if e["via"] == "subscribe" and e["payload"]["template_id"] == TEMPLATE)

    with ThreadPoolExecutor(SETUP_THREADS) as pool:
        return list(pool.map(one, users))


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- the run ---------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> Figures:
    figures = Figures(customers=args.customers)
    registry = load_templates(DEMO / "subscribe_templates.yaml")
    url = args.database_url
    if url.startswith("postgresql"):
        ensure_database_exists(url)
    reset_database(url)
    engine = open_engine(url)
    figures.database = engine.dialect.name
    try:
        progress(f"writing {args.customers:,} customers, their tags and {2 * args.recipients:,} credits")
        figures.insert_s = prepare(engine, args.customers, args.recipients)
        progress(f"written in {figures.insert_s:.0f} s")
        if "plan" in args.phases:
            plan_phase(engine, registry, figures)
        if args.phases & {"send", "crash"}:
            with tempfile.TemporaryDirectory(prefix="chatshop-bench-campaign-") as tmp_name:
                tmp = Path(tmp_name)
                sending_phases(engine, registry, args, tmp, figures)
    finally:
        engine.dispose()
    return figures


def sending_phases(engine: Engine, registry: TemplateRegistry, args: argparse.Namespace, tmp: Path,
                   figures: Figures) -> None:
    port = free_port()
    env = environment(args.database_url, tmp, port)
    progress("starting chatshop serve (the WeChat sandbox)")
    sandbox = start_wechat(env, port, tmp)
    try:
        api = f"http://127.0.0.1:{port}/sandbox/api/"
        sender_env = env | {"CHATSHOP__WECHAT__API_BASE_URL": api}
        workers = load_settings(DEFAULT_CONFIG_PATH, environ={}).outreach.campaign_workers
        if "send" in args.phases:
            give_consents(f"http://127.0.0.1:{port}/sandbox", [openid(i) for i in range(args.recipients)], "批次1")
            progress(f"phase 2: the sandbox's ceiling, {args.ceiling_sends:,} sends from {workers} threads")
            figures.ceiling = ceiling_phase(env, sandbox, api, args.ceiling_sends, workers)
            progress(f"  {figures.ceiling.per_s:,.0f}/s")
            progress(f"phase 2: chatshop campaign send, {args.recipients:,} recipients")
            figures.send = send_phase(engine, registry, sender_env, sandbox, args.recipients, tmp)
            progress(f"  {figures.send.per_s:,.0f}/s")
        if "crash" in args.phases:
            give_consents(f"http://127.0.0.1:{port}/sandbox",
                          [openid(i) for i in range(args.recipients, 2 * args.recipients)], "批次2")
            progress(f"phase 3: {args.recipients:,} recipients, the sender killed half-way")
            figures.crash = crash_phase(engine, registry, sender_env, sandbox, args.recipients, tmp, figures)
            progress(f"  duplicates {figures.duplicates}, losses {figures.losses}, in doubt {figures.in_doubt}")
    finally:
        sandbox.stop()


def ensure_database_exists(database_url: str) -> None:
    url = make_url(database_url)
    admin = open_engine(url.set(database="postgres").render_as_string(hide_password=False))
    try:
        with admin.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
            found = connection.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %(name)s",
                                               {"name": url.database}).first()
            if found is None:
                progress(f"creating database {url.database}")
                connection.exec_driver_sql(f'CREATE DATABASE "{url.database}"')
    finally:
        admin.dispose()


def report(f: Figures) -> str:
    lines = [f"campaigns on {f.database}, {f.customers:,} customers "
             f"(written in {f.insert_s:.0f} s; {datetime.now(UTC):%Y-%m-%d})", ""]
    if f.planned:
        lines += [
            "| phase 1: an audience of every customer | figure | target |",
            "|---|---:|---:|",
            f"| count_audience ({f.audience:,}; {f.with_credit:,} with credit) | {f.count_s:.2f} s | "
            f"≤ {PLAN_TARGET_S:.0f} s |",
            f"| plan: INSERT … SELECT of {f.planned:,} recipient rows + start | {f.plan_s:.2f} s | "
            f"≤ {PLAN_TARGET_S:.0f} s |",
            "",
        ]
    runs = [(name, r) for name, r in (("campaign send", f.send), ("sandbox ceiling (no database)", f.ceiling),
                                      ("send, SIGKILLed and restarted", f.crash)) if r is not None]
    if runs:
        lines += ["| phase 2–3: sending | messages | seconds | sends/s | CPU s: sender | sandbox | "
                  "client | PostgreSQL | rest |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, r in runs:
            lines.append(f"| {name} | {r.messages:,} | {r.wall_s:.1f} | {r.per_s:,.0f} | {r.cpu.sender_s:.1f} | "
                         f"{r.cpu.sandbox_s:.1f} | {r.cpu.client_s:.1f} | {r.cpu.postgres_s:.1f} | "
                         f"{r.cpu.rest_s:.1f} |")
        if f.send and f.ceiling:
            met = "met" if f.send.per_s >= SEND_TARGET_PER_S else "not met"
            lines.append(f"\ncampaign send ÷ ceiling: {f.send.per_s / f.ceiling.per_s:.2f}× "
                         f"(target {SEND_TARGET_PER_S:,.0f}/s: {met})")
    if f.crash:
        lines.append(f"killed with {f.killed_in_flight} in flight after {f.killed_after_sent:,} sent: "
                     f"duplicates {f.duplicates}, losses {f.losses}, left in doubt {f.in_doubt}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
