"""Benchmark the 数据 page on PostgreSQL: --orders paid orders and --views product views (plus a cart event for
every 20 views and a checkout per order) spread over --days store days, generated in the database with
generate_series (the events' indexes dropped during the load and built again after, as a bulk load does).

  roll-up: every day rolled up as the job does (bot.analytics.rollup.roll_up_day, one transaction per day);
           the table gives the median and slowest day, and the whole history.
  answers: GET /staff/api/analytics/{overview,funnel,sources} through the real route (the staff router in a
           FastAPI app, bearer-token auth, serialisation) over in-process ASGI (Starlette's TestClient: no
           socket), --requests each after one warm-up; p50 / p95.
  baseline: the same overview figures (8 periods: orders, GMV, paying customers, refunds) and the 30-day
           funnel per product, computed straight from the raw tables (orders, order_items, analytics_events),
           measured in the same run.

The database is reset first: never point it at one that holds anything you want. Progress goes to stderr; prints
a markdown table, with --json a last line of every figure as JSON.

    .venv/bin/python bench/dashboard.py [--database-url postgresql://postgres@localhost:5432/bench_dash]
        [--orders 1000000] [--views 20000000] [--days 365] [--requests 30] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))

from fastapi import FastAPI
from fastapi.testclient import TestClient
from scratch_keys import install_scratch_keys
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from webhook import positive_int, reset_database

from bot.analytics.rollup import local_day, roll_up_day
from chatshop.database import upgrade_database
from commerce.models import Order
from staff.accounts import add_staff, issue_token
from staff.backoffice import BackOffice
from staff.config import StaffConfig
from staff.roles import Role
from staff.staff_api import StaffApi, build_staff_router
from storage.db import make_session_factory, open_engine, transaction

DEFAULT_DATABASE_URL = "postgresql://postgres@localhost:5432/bench_dash"
ZONE = ZoneInfo("Asia/Shanghai")
PRODUCTS = 200
CUSTOMERS = 200_000
ANSWER_TARGET_MS = 300.0
ROUTES = ("overview", "funnel", "sources")


@dataclass
class Figures:
    orders: int = 0
    views: int = 0
    days: int = 0
    load_s: float = 0.0
    rollup_days: int = 0
    rollup_total_s: float = 0.0
    rollup_day_p50_s: float = 0.0
    rollup_day_max_s: float = 0.0
    answers_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    baseline_ms: dict[str, float] = field(default_factory=dict)


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ----- the data -------------------------------------------------------------------------------------


def load(engine: Engine, *, orders: int, views: int, days: int, now: datetime) -> None:
    """Products, paid orders with their items, views and cart/checkout events, all in SQL."""
    # Addresses are sealed at rest: every order gets one sealed empty address, stored as the column stores
    # it (the sealed text as a JSON string).
    address = json.dumps(Order.__table__.c.address.type.process_bind_param({}, engine.dialect))
    params = {"now": now, "days": days, "orders": orders, "views": views, "carts": views // 20,
              "products": PRODUCTS, "customers": CUSTOMERS, "address": address}
    with engine.begin() as c:
        c.execute(text("SELECT setseed(0.17)"))
        c.execute(text("""
            INSERT INTO products (id, title, category, description, images, active, position, created_at, updated_at)
            SELECT 'p' || g, '商品 ' || g, '类目' || (g % 12), '', '[]', true, g, :now, :now
            FROM generate_series(1, :products) g"""), params)
        c.execute(text("""
            INSERT INTO skus (sku_id, product_id, specs, price_fen, stock, active, position)
            SELECT 'p' || g || '-s', 'p' || g, '{}', 4900 + (g * 1300) % 40000, 1000, true, 0
            FROM generate_series(1, :products) g"""), params)
        progress(f"inserting {orders:,} orders and their items")
        # Orders and evenings are busier: an hour is drawn with a skew towards the evening.
        c.execute(text("""
            INSERT INTO orders (order_no, openid, status, amount_fen, refunded_fen, address, description, created_at,
                                expires_at, transaction_id, paid_at, completed_at)
            SELECT 'B' || lpad(g::text, 14, '0'), 'o' || (1 + (g::bigint * 7919) % :customers), 'completed',
                   4900 + ((g * 31) % :products + 1) * 1300 % 40000, 0, :address, 'bench', t, t + interval '30 minutes',
                   'tx' || g, t + interval '1 minute', t + interval '10 days'
            FROM (SELECT g, :now - (random() * :days) * interval '1 day' AS t
                  FROM generate_series(1, :orders) g) s"""), params)
        c.execute(text("""
            INSERT INTO order_items (order_no, sku_id, product_id, title, specs, price_fen, quantity)
            SELECT 'B' || lpad(g::text, 14, '0'), 'p' || ((g * 31) % :products + 1) || '-s',
                   'p' || ((g * 31) % :products + 1), '商品', '{}', 4900 + ((g * 31) % :products + 1) * 1300 % 40000, 1
            FROM generate_series(1, :orders) g"""), params)
        c.execute(text("DROP INDEX ix_analytics_events_at"))
        c.execute(text("DROP INDEX ix_analytics_events_openid_at"))
        progress(f"inserting {views:,} views, {views // 20:,} add-to-cart and {orders:,} checkout events")
        c.execute(text("""
            INSERT INTO analytics_events (at, kind, openid, product_id, src, ref_id)
            SELECT :now - (random() * :days) * interval '1 day', 'view',
                   'o' || (1 + (random() * (:customers - 1))::int),
                   'p' || (1 + (random() * (:products - 1))::int),
                   (ARRAY['direct','direct','direct','card','share','campaign','cart_reminder'])[1 + (g % 7)], NULL
            FROM generate_series(1, :views) g"""), params)
        c.execute(text("""
            INSERT INTO analytics_events (at, kind, openid, product_id, src, ref_id)
            SELECT :now - (random() * :days) * interval '1 day', 'cart',
                   'o' || (1 + (random() * (:customers - 1))::int),
                   'p' || (1 + (random() * (:products - 1))::int), 'direct', NULL
            FROM generate_series(1, :carts) g"""), params)
        c.execute(text("""
            INSERT INTO analytics_events (at, kind, openid, product_id, src, ref_id)
            SELECT o.created_at, 'checkout', o.openid, i.product_id, 'direct', NULL
            FROM orders o JOIN order_items i ON i.order_no = o.order_no"""))
        progress("building the events' indexes")
        c.execute(text("CREATE INDEX ix_analytics_events_at ON analytics_events (at)"))
        c.execute(text("CREATE INDEX ix_analytics_events_openid_at ON analytics_events (openid, at)"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE"))


def roll_up_all(factory: sessionmaker[Session], *, first: date, last: date, now: datetime) -> list[float]:
    took: list[float] = []
    day = first
    while day <= last:
        started = time.perf_counter()
        with transaction(factory) as session:
            roll_up_day(session, day=day, zone=ZONE, now=now)
        took.append(time.perf_counter() - started)
        if len(took) % 30 == 0:
            progress(f"rolled up {len(took)} days (last: {took[-1] * 1000:.0f} ms)")
        day += timedelta(days=1)
    return took


# ----- the answers ----------------------------------------------------------------------------------


def route_client(factory: sessionmaker[Session]) -> TestClient:
    with transaction(factory) as session:
        add_staff(session, config=StaffConfig(), username="bench", password="bench-password-1", role=Role.ADMIN,
                  display_name="Bench", groups=(), max_chats=1)
    with transaction(factory) as session:
        token = issue_token(session, username="bench")
    backoffice = BackOffice(pay=None, kb=None, kb_path=Path("kb.yaml"), tag_rules=None, routing=None,
                            timezone=str(ZONE))
    app = FastAPI()
    app.include_router(build_staff_router(StaffApi(factory=factory, config=StaffConfig(), backoffice=backoffice)))
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def time_route(client: TestClient, route: str, requests: int) -> dict[str, float]:
    client.get(f"/staff/api/analytics/{route}").raise_for_status()  # warm-up
    took = []
    for _ in range(requests):
        started = time.perf_counter()
        answer = client.get(f"/staff/api/analytics/{route}")
        took.append((time.perf_counter() - started) * 1000)
        answer.raise_for_status()
    took.sort()
    return {"p50": statistics.median(took), "p95": took[max(0, round(0.95 * len(took)) - 1)]}


def baseline(engine: Engine, today: date) -> dict[str, float]:
    """The overview's and the 30-day funnel's figures straight from the raw tables."""
    def start(day: date) -> datetime:
        return datetime.combine(day, datetime.min.time(), tzinfo=ZONE).astimezone(UTC)

    spans = []
    for length in (1, 1, 7, 30):
        last = today if length != 1 or not spans else today - timedelta(days=1)
        first = last - timedelta(days=length - 1)
        spans += [(first, last), (first - timedelta(days=length), first - timedelta(days=1))]
    overview_sql = text("""SELECT count(*), coalesce(sum(amount_fen), 0), count(DISTINCT openid)
                           FROM orders WHERE paid_at >= :a AND paid_at < :b""")
    refunds_sql = text("SELECT count(*), coalesce(sum(amount_fen), 0) FROM refunds "
                       "WHERE created_at >= :a AND created_at < :b")
    funnel_sql = text("""SELECT product_id, kind, count(*), count(DISTINCT openid) FROM analytics_events
                         WHERE at >= :a AND at < :b GROUP BY product_id, kind""")
    paid_sql = text("""SELECT i.product_id, count(*), count(DISTINCT o.openid) FROM orders o
                       JOIN order_items i ON i.order_no = o.order_no WHERE o.paid_at >= :a AND o.paid_at < :b
                       GROUP BY i.product_id""")

    def overview_raw() -> None:
        with engine.connect() as c:
            for first, last in spans:
                bounds = {"a": start(first), "b": start(last + timedelta(days=1))}
                c.execute(overview_sql, bounds).all()
                c.execute(refunds_sql, bounds).all()

    def funnel_raw() -> None:
        bounds = {"a": start(today - timedelta(days=29)), "b": start(today + timedelta(days=1))}
        with engine.connect() as c:
            c.execute(funnel_sql, bounds).all()
            c.execute(paid_sql, bounds).all()

    return {"overview": _once(overview_raw), "funnel": _once(funnel_raw)}


def _once(work: Callable[[], None], runs: int = 3) -> float:
    took = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        took.append((time.perf_counter() - started) * 1000)
    return statistics.median(took)


# ----- main -----------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> Figures:
    if not args.database_url.startswith("postgresql"):
        raise SystemExit("this bench needs PostgreSQL (generate_series, COPY-speed loads)")
    reset_database(args.database_url)
    engine = open_engine(args.database_url)
    upgrade_database(engine)
    factory = make_session_factory(engine)
    now = datetime.now(UTC).replace(microsecond=0)
    figures = Figures(orders=args.orders, views=args.views, days=args.days)
    started = time.perf_counter()
    load(engine, orders=args.orders, views=args.views, days=args.days, now=now)
    figures.load_s = time.perf_counter() - started
    progress(f"loaded in {figures.load_s:.0f} s; rolling up {args.days + 1} days")
    today = local_day(now, ZONE)
    took = roll_up_all(factory, first=today - timedelta(days=args.days), last=today, now=now)
    figures.rollup_days, figures.rollup_total_s = len(took), sum(took)
    figures.rollup_day_p50_s, figures.rollup_day_max_s = statistics.median(took), max(took)
    client = route_client(factory)
    for route in ROUTES:
        progress(f"timing GET /staff/api/analytics/{route} × {args.requests}")
        figures.answers_ms[route] = time_route(client, route, args.requests)
    progress("timing the baseline (raw tables)")
    figures.baseline_ms = baseline(engine, today)
    engine.dispose()
    return figures


def report(f: Figures) -> str:
    def ok(ms: float) -> str:
        return "yes" if ms < ANSWER_TARGET_MS else "**no**"

    rows = [
        f"PostgreSQL: {f.orders:,} orders, {f.views:,} views over {f.days} days; loaded in {f.load_s:.0f} s",
        "",
        "| measure | p50 | p95 / max | target | met |",
        "|---|---|---|---|---|",
    ]
    for route in ROUTES:
        a = f.answers_ms[route]
        rows.append(f"| GET /staff/api/analytics/{route} (aggregates) | {a['p50']:.1f} ms | {a['p95']:.1f} ms | "
                    f"< {ANSWER_TARGET_MS:.0f} ms p95 | {ok(a['p95'])} |")
    rows += [
        f"| baseline: overview from raw orders | {f.baseline_ms['overview']:.0f} ms | — | — | — |",
        f"| baseline: 30-day funnel from raw events | {f.baseline_ms['funnel']:.0f} ms | — | — | — |",
        f"| roll-up of one day (median / slowest of {f.rollup_days}) | {f.rollup_day_p50_s:.2f} s | "
        f"{f.rollup_day_max_s:.2f} s | seconds | {'yes' if f.rollup_day_max_s < 10 else '**no**'} |",
        f"| roll-up of the whole history | {f.rollup_total_s:.0f} s | — | — | — |",
    ]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--orders", type=positive_int, default=1_000_000)
    parser.add_argument("--views", type=positive_int, default=20_000_000)
    parser.add_argument("--days", type=positive_int, default=365)
    parser.add_argument("--requests", type=positive_int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    install_scratch_keys()
    figures = run(args)
    print(report(figures))
    if args.json:
        print(json.dumps(asdict(figures)))


if __name__ == "__main__":
    main()
