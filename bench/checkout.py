"""Benchmark the mini-program checkout on PostgreSQL: a flash sale, then a storm of pay notifications.

  phase 1, flash sale: --buyers concurrent customers (asyncio + httpx, one connection each) each log
           in (jscode2session), put one unit of the same SKU in their cart and check out, racing for
           --units units. Exactly --units orders must be placed, none oversold; the rest get 409.
  phase 2, pay notifications: --notify-orders pending orders are paid by WeChat Pay notifications
           signed and encrypted with the sandbox merchant's keys, posted to /pay/notify with
           --duplicates of them sent twice (interleaved, some concurrently): every order must end
           paid exactly once.

chatshop (one uvicorn process) and the WeChat sandbox (another process, standing in for WeChat's
servers) are started here; the database is reset first. Prints a markdown table, and with --json a
last line holding every figure as JSON. Progress goes to stderr.

    .venv/bin/python bench/checkout.py [--database-url postgresql://postgres@localhost:5432/chatshop_bench]
        [--buyers 1000] [--units 100] [--notify-orders 1000] [--duplicates 0.1] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import socket
import ssl
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from scratch_keys import install_scratch_keys, scratch_key_environment
from servers import Server, ServerError, ServerSpec, Stopped, run_measurements
from webhook import positive_int, reset_database  # the webhook bench's own helpers

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))

from chatshop.database import upgrade_database
from chatshop.sandbox_wiring import with_sandbox_credentials
from chatshop.settings import DEFAULT_CONFIG_PATH, Settings, load_settings
from commerce.cart import add_to_cart
from commerce.catalog import adjust_stock, import_catalog
from commerce.orders import place_order
from storage.db import make_session_factory, open_engine, transaction

DEFAULT_DATABASE_URL = "postgresql://postgres@localhost:5432/chatshop_bench"
DEMO_KB = REPO / "chatshop" / "demo" / "kb.yaml"
SKU = "bench-tee-M"
PRICE_FEN = 9900
ADDRESS = {"name": "压测买家", "phone": "13800138000", "detail": "广州市天河区体育西路 100 号"}
REQUEST_TIMEOUT_S = 120.0
BEIJING = timedelta(hours=8)
ORDERS_PER_TRANSACTION = 100
KEEPALIVE_S = 3.0


class BenchError(RuntimeError):
    """The run cannot give meaningful figures; the message says why."""


@dataclass
class SaleResult:
    answers: Counter[str] = field(default_factory=Counter)  # checkout outcome -> buyers
    checkout_latency_s: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    checkout_span_s: float = 0.0  # first checkout sent to last checkout answered
    orders: int = 0
    units_sold: int = 0
    stock_left: int = 0
    server_cpu_s: float = 0.0  # chatshop's CPU during the phase (user + system, all threads)
    sandbox_cpu_s: float = 0.0


@dataclass
class NotifyResult:
    posted: int = 0
    duplicates: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    latency_s: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    paid_orders: int = 0
    payments: int = 0
    paid_transitions: int = 0
    server_cpu_s: float = 0.0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_sandbox:
        return serve_sandbox()
    outcome = run_measurements(lambda: run(args), BenchError)
    if isinstance(outcome, Stopped):
        return outcome.status
    sale, notify = outcome
    print(report(sale, notify, args))
    if args.json:
        print(json.dumps(figures(sale, notify, args)))
    return 0 if verdict(sale, notify, args) else 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                        help=f"PostgreSQL database, reset first ({DEFAULT_DATABASE_URL})")
    parser.add_argument("--buyers", type=positive_int, default=1000, help="concurrent buyers (1000)")
    parser.add_argument("--units", type=positive_int, default=100, help="units of the SKU on sale (100)")
    parser.add_argument("--notify-orders", type=positive_int, default=1000,
                        help="orders paid by notification in phase 2 (1000)")
    parser.add_argument("--duplicates", type=float, default=0.1,
                        help="share of posted notifications that are duplicates (0.1)")
    parser.add_argument("--notify-concurrency", type=positive_int, default=50,
                        help="notifications in flight at once (50)")
    parser.add_argument("--json", action="store_true", help="end with a line holding every figure as JSON")
    parser.add_argument("--serve-sandbox", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 0 <= args.duplicates < 1:
        parser.error("--duplicates must be in [0, 1)")
    return args


# --- the servers -----------------------------------------------------------------------------------


def server_environment(database_url: str, tmp: Path, app_port: int, sandbox_port: int) -> dict[str, str]:
    """Both processes read the same settings: the sandbox's generated credentials under tmp."""
    sandbox = f"http://127.0.0.1:{sandbox_port}"
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("CHATSHOP__")},
        **scratch_key_environment(),  # orders placed here directly are opened by the server
        "CHATSHOP__DATABASE__URL": database_url,
        "CHATSHOP__SERVER__PORT": str(app_port),
        "CHATSHOP__KB__PATH": str(DEMO_KB),
        "CHATSHOP__LOGGING__LEVEL": "WARNING",
        "CHATSHOP__SANDBOX__CREDENTIALS_PATH": str(tmp / "sandbox-credentials.json"),
        # The whole flash sale comes from 127.0.0.1: the request rate limits would refuse most of it.
        "CHATSHOP__RATE_LIMITS__ENABLED": "false",
        # WeChat and WeChat Pay are another process, as they are another company's servers.
        "CHATSHOP__WECHAT__API_BASE_URL": sandbox + "/api/",
        "CHATSHOP__PAY__API_BASE_URL": sandbox + "/pay/",
    }


def two_free_ports() -> tuple[int, int]:
    with socket.socket() as first, socket.socket() as second:  # both held: they cannot be the same
        first.bind(("127.0.0.1", 0))
        second.bind(("127.0.0.1", 0))
        return int(first.getsockname()[1]), int(second.getsockname()[1])


def bench_settings(env: dict[str, str]) -> Settings:
    """The settings both servers will read; creates the sandbox's credentials and merchant keys once."""
    environ = {k: v for k, v in env.items() if k.startswith("CHATSHOP__")}
    return with_sandbox_credentials(load_settings(DEFAULT_CONFIG_PATH, environ=environ))


def serve_sandbox() -> int:
    """--serve-sandbox: the WeChat sandbox alone (WeChat API and WeChat Pay), on CHATSHOP_BENCH_SANDBOX_PORT."""
    import uvicorn

    from chatshop.sandbox_wiring import sandbox_config
    from wechat_sandbox import create_sandbox_app

    settings = bench_settings(dict(os.environ))
    app = create_sandbox_app(sandbox_config(settings))
    port = int(os.environ["CHATSHOP_BENCH_SANDBOX_PORT"])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    return 0


def start_servers(env: dict[str, str], tmp: Path, app_port: int, sandbox_port: int) -> tuple[Server, Server]:
    script = Path(sys.executable).parent / "chatshop"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "chatshop.cli"]
    sandbox = Server(ServerSpec("sandbox", [sys.executable, __file__, "--serve-sandbox"],
                                env | {"CHATSHOP_BENCH_SANDBOX_PORT": str(sandbox_port)}, None),
                     sandbox_port, tmp / "sandbox.log")
    app = Server(ServerSpec("chatshop", [*command, "serve"], env, "/healthz"), app_port, tmp / "chatshop.log")
    sandbox.start()
    try:
        _wait_answering(sandbox, "/control/accounts")
        app.start()
        _wait_answering(app, "/healthz")
    except BaseException:
        app.stop()
        sandbox.stop()
        raise
    return app, sandbox


def _wait_answering(server: Server, path: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=2, trust_env=False) as http:
        while time.monotonic() < deadline:
            if not server.alive():
                raise ServerError(f"{server.spec.name} exited while starting:\n{server.log_tail()}")
            try:
                if http.get(path).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    raise ServerError(f"{server.spec.name}: GET {path} never answered 200:\n{server.log_tail()}")


# --- the store -------------------------------------------------------------------------------------


def prepare_database(database_url: str, units: int) -> None:
    """Reset, migrate, and stock one SKU with `units` units."""
    if not database_url.startswith("postgresql"):
        raise BenchError("--database-url must be a PostgreSQL database (the benchmark's subject)")
    ensure_database_exists(database_url)
    reset_database(database_url)
    engine = open_engine(database_url)
    try:
        upgrade_database(engine)
        product = {"id": "bench-tee", "title": "压测纯棉T恤", "category": "男装", "description": "flash sale",
                   "images": [], "skus": [{"sku_id": SKU, "specs": {"尺码": "M"}, "price_fen": PRICE_FEN,
                                           "stock": units}]}
        with transaction(make_session_factory(engine)) as session:
            import_catalog(session, [product])
    finally:
        engine.dispose()


def ensure_database_exists(database_url: str) -> None:
    """CREATE DATABASE when the server does not have it yet (connecting through its postgres database)."""
    from sqlalchemy.engine import make_url

    url = make_url(open_engine(database_url).url)
    name = url.database
    admin = open_engine(url.set(database="postgres").render_as_string(hide_password=False))
    try:
        with admin.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
            exists = connection.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %(name)s",
                                                {"name": name}).first()
            if exists is None:
                _progress(f"creating database {name}")
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()


def sale_facts(database_url: str) -> tuple[int, int, int]:
    """(orders, units sold, stock left) as the database has them."""
    engine = open_engine(database_url)
    try:
        with engine.connect() as connection:
            orders = connection.exec_driver_sql("SELECT count(*) FROM orders").scalar_one()
            sold = connection.exec_driver_sql(
                "SELECT coalesce(sum(quantity), 0) FROM order_items WHERE sku_id = %(sku)s", {"sku": SKU}
            ).scalar_one()
            left = connection.exec_driver_sql(
                "SELECT stock FROM skus WHERE sku_id = %(sku)s", {"sku": SKU}
            ).scalar_one()
    finally:
        engine.dispose()
    return int(orders), int(sold), int(left)


def place_more_orders(database_url: str, count: int) -> None:
    """Pending orders for phase 2, placed directly with the commerce core (phase 1 measured the API)."""
    if count <= 0:
        return
    engine = open_engine(database_url)
    factory = make_session_factory(engine)
    try:
        with transaction(factory) as session:
            adjust_stock(session, sku_id=SKU, delta=count)
        now = datetime.now(UTC)
        for batch in range(0, count, ORDERS_PER_TRANSACTION):
            with transaction(factory) as session:  # batched: the set-up is not what is measured
                for i in range(batch, min(count, batch + ORDERS_PER_TRANSACTION)):
                    openid = f"oBenchPay{i:06d}"
                    add_to_cart(session, openid=openid, sku_id=SKU, quantity=1, now=now)
                    place_order(session, openid=openid, address=ADDRESS, now=now)
    finally:
        engine.dispose()


def pending_orders(database_url: str, limit: int) -> list[tuple[str, str, int]]:
    engine = open_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT order_no, openid, amount_fen FROM orders WHERE status = 'pending_payment' "
                "ORDER BY order_no LIMIT %(limit)s", {"limit": limit},
            ).all()
    finally:
        engine.dispose()
    return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]


def payment_facts(database_url: str) -> tuple[int, int, int]:
    """(orders paid, payment rows, transitions to paid)."""
    engine = open_engine(database_url)
    try:
        with engine.connect() as connection:
            paid = connection.exec_driver_sql("SELECT count(*) FROM orders WHERE status = 'paid'").scalar_one()
            payments = connection.exec_driver_sql("SELECT count(*) FROM payments").scalar_one()
            transitions = connection.exec_driver_sql(
                "SELECT count(*) FROM order_events WHERE to_status = 'paid'"
            ).scalar_one()
    finally:
        engine.dispose()
    return int(paid), int(payments), int(transitions)


# --- phase 1: the flash sale -----------------------------------------------------------------------


def warm_up(port: int) -> None:
    """One login first, as in a running store: the WeChat access token is fetched and cached once."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=REQUEST_TIMEOUT_S, trust_env=False) as http:
        answer = http.post("/mp/login", json={"code": f"sandbox:oBenchWarmUp:{secrets.token_hex(4)}"})
    if answer.status_code != 200:
        raise BenchError(f"login does not work: HTTP {answer.status_code} {answer.text[:200]}")


async def buyer(http: httpx.AsyncClient, number: int, result: SaleResult, clock: list[float]) -> None:
    stage = ["login"]
    try:
        await _buy(http, number, result, clock, stage)
    except httpx.HTTPError as exc:
        result.answers[f"{stage[0]}: no answer ({type(exc).__name__})"] += 1


async def _buy(http: httpx.AsyncClient, number: int, result: SaleResult, clock: list[float], stage: list[str]) -> None:
    openid = f"oBench{number:06d}"
    login = await http.post("/mp/login", json={"code": f"sandbox:{openid}:{secrets.token_hex(4)}"})
    stage[0] = "cart"
    if login.status_code != 200:
        result.answers[f"login {login.status_code}"] += 1
        return
    auth = {"Authorization": f"Bearer {login.json()['token']}"}
    added = await http.post("/mp/cart/items", json={"sku_id": SKU, "quantity": 1}, headers=auth)
    if added.status_code != 200:
        result.answers[f"cart {added.status_code}"] += 1
        return
    stage[0] = "checkout"
    started = time.perf_counter()
    clock[0] = min(clock[0], started)
    answer = await http.post("/mp/checkout", json={"address": ADDRESS}, headers=auth)
    done = time.perf_counter()
    clock[1] = max(clock[1], done)
    result.checkout_latency_s.append(done - started)
    result.answers[_checkout_outcome(answer)] += 1


def _checkout_outcome(answer: httpx.Response) -> str:
    if answer.status_code == 201 and answer.json().get("pay_params", {}).get("paySign"):
        return "ordered"
    if answer.status_code == 409 and answer.json()["error"].get("sku_id") == SKU:
        return "out of stock"
    return f"checkout {answer.status_code}"


async def flash_sale(port: int, buyers: int) -> SaleResult:
    result = SaleResult()
    clock = [float("inf"), 0.0]
    # One connection per buyer, as each phone has its own: it is never idle long enough for the
    # server's keep-alive timeout to close it under a request. One TLS context for all (unused, but
    # httpx builds one per client otherwise).
    tls = ssl.create_default_context()
    clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=REQUEST_TIMEOUT_S, trust_env=False,
                                 verify=tls, limits=httpx.Limits(max_connections=1)) for _ in range(buyers)]
    try:
        started = time.perf_counter()
        await asyncio.gather(*(buyer(http, n, result, clock) for n, http in enumerate(clients)))
        result.wall_s = time.perf_counter() - started
    finally:
        await asyncio.gather(*(http.aclose() for http in clients))
    result.checkout_span_s = max(clock[1] - clock[0], 1e-9)
    return result


# --- phase 2: pay notifications --------------------------------------------------------------------


Signed = tuple[dict[str, str], bytes]  # headers, body


def notifications(settings: Settings, orders: list[tuple[str, str, int]], duplicates: float) -> list[Signed]:
    """One signed notification per order, plus duplicates (re-sent bytes), shuffled together."""
    from wechat_sandbox.pay.signing import NotificationSigner

    pay = settings.pay
    key_path = settings.sandbox.pay_platform_private_key_path
    if key_path is None:
        raise BenchError("the sandbox merchant has no platform key")
    signer = NotificationSigner(platform_private_key=key_path.read_text(), apiv3_key=pay.apiv3_key.get_secret_value(),
                                platform_public_key_id=pay.platform_public_key_id)
    appid = pay.appid or settings.miniprogram.app_id
    made = []
    for order_no, openid, amount in orders:
        resource = _transaction(appid, pay.mchid, order_no, openid, amount)
        body = signer.body(event_type="TRANSACTION.SUCCESS", resource=resource, summary="支付成功",
                           create_time=resource["success_time"])
        made.append((signer.sign(body), body))
    extra = round(len(made) * duplicates / (1 - duplicates))
    rng = random.Random(7)
    posted = made + [rng.choice(made) for _ in range(extra)]
    rng.shuffle(posted)
    return posted


def _transaction(appid: str, mchid: str, order_no: str, openid: str, amount: int) -> dict[str, Any]:
    paid_at = (datetime.now(UTC) + BEIJING).strftime("%Y-%m-%dT%H:%M:%S+08:00")
    return {
        "appid": appid, "mchid": mchid, "out_trade_no": order_no,
        "transaction_id": "4200" + secrets.token_hex(12), "trade_type": "JSAPI", "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功", "bank_type": "OTHERS", "attach": "", "success_time": paid_at,
        "payer": {"openid": openid},
        "amount": {"total": amount, "payer_total": amount, "currency": "CNY", "payer_currency": "CNY"},
    }


async def notification_storm(port: int, posted: list[Signed], concurrency: int) -> NotifyResult:
    result = NotifyResult(posted=len(posted))
    queue: asyncio.Queue[Signed] = asyncio.Queue()
    for item in posted:
        queue.put_nowait(item)

    async def sender(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            headers, body = queue.get_nowait()
            started = time.perf_counter()
            try:
                answer = await http.post("/pay/notify", content=body, headers=headers)
            except httpx.HTTPError:
                result.statuses[0] += 1  # no answer
                continue
            result.latency_s.append(time.perf_counter() - started)
            result.statuses[answer.status_code] += 1

    limits = httpx.Limits(max_connections=concurrency, keepalive_expiry=KEEPALIVE_S)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=REQUEST_TIMEOUT_S,
                                 trust_env=False) as http:
        started = time.perf_counter()
        await asyncio.gather(*(sender(http) for _ in range(concurrency)))
        result.wall_s = time.perf_counter() - started
    return result


# --- the run ---------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> tuple[SaleResult, NotifyResult]:
    install_scratch_keys()  # phase 2's orders are placed here, their addresses sealed as the server's are
    with tempfile.TemporaryDirectory(prefix="chatshop-bench-checkout-") as tmp_name:
        tmp = Path(tmp_name)
        app_port, sandbox_port = two_free_ports()
        env = server_environment(args.database_url, tmp, app_port, sandbox_port)
        settings = bench_settings(env)
        _progress(f"resetting and stocking {args.units} units of {SKU}")
        prepare_database(args.database_url, args.units)
        app, sandbox = start_servers(env, tmp, app_port, sandbox_port)
        try:
            warm_up(app_port)
            _progress(f"phase 1: {args.buyers} buyers log in, add to cart and check out at once")
            cpu = app.cpu_seconds(), sandbox.cpu_seconds()
            sale = asyncio.run(flash_sale(app_port, args.buyers))
            sale.server_cpu_s, sale.sandbox_cpu_s = app.cpu_seconds() - cpu[0], sandbox.cpu_seconds() - cpu[1]
            sale.orders, sale.units_sold, sale.stock_left = sale_facts(args.database_url)
            _progress(f"phase 2: placing orders, then {args.notify_orders} paid by notification")
            place_more_orders(args.database_url, args.notify_orders - sale.orders)
            orders = pending_orders(args.database_url, args.notify_orders)
            posted = notifications(settings, orders, args.duplicates)
            cpu = app.cpu_seconds(), sandbox.cpu_seconds()
            notify = asyncio.run(notification_storm(app_port, posted, args.notify_concurrency))
            notify.server_cpu_s = app.cpu_seconds() - cpu[0]
            notify.duplicates = len(posted) - len(orders)
            notify.paid_orders, notify.payments, notify.paid_transitions = payment_facts(args.database_url)
            if not verdict(sale, notify, args):
                _progress(f"chatshop's log ends:\n{app.log_tail(60)}")
        finally:
            app.stop()
            sandbox.stop()
    return sale, notify


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _ms(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def figures(sale: SaleResult, notify: NotifyResult, args: argparse.Namespace) -> dict[str, Any]:
    checkouts = len(sale.checkout_latency_s)
    return {
        "buyers": args.buyers,
        "units": args.units,
        "orders": sale.orders,
        "oversold": max(0, sale.units_sold - args.units),
        "stock_left": sale.stock_left,
        "checkout_answers": dict(sale.answers),
        "phase1_wall_s": round(sale.wall_s, 2),
        "buyers_per_s": round(args.buyers / sale.wall_s, 1),
        "checkouts_per_s": round(checkouts / sale.checkout_span_s, 1),
        "checkout_p50_ms": round(_ms(sale.checkout_latency_s, 0.5), 1),
        "checkout_p99_ms": round(_ms(sale.checkout_latency_s, 0.99), 1),
        "server_cpu_ms_per_buyer": round(1000 * sale.server_cpu_s / args.buyers, 2),
        "sandbox_cpu_ms_per_buyer": round(1000 * sale.sandbox_cpu_s / args.buyers, 2),
        "notifications_posted": notify.posted,
        "notification_duplicates": notify.duplicates,
        "notification_statuses": {str(k): v for k, v in sorted(notify.statuses.items())},
        "notifications_per_s": round(notify.posted / notify.wall_s, 1) if notify.wall_s else 0.0,
        "notification_p50_ms": round(_ms(notify.latency_s, 0.5), 1),
        "notification_p99_ms": round(_ms(notify.latency_s, 0.99), 1),
        "server_cpu_ms_per_notification": round(1000 * notify.server_cpu_s / max(notify.posted, 1), 2),
        "orders_paid": notify.paid_orders,
        "payments_recorded": notify.payments,
        "paid_transitions": notify.paid_transitions,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def verdict(sale: SaleResult, notify: NotifyResult, args: argparse.Namespace) -> bool:
    unique = notify.posted - notify.duplicates
    return (sale.orders == args.units and sale.units_sold == args.units and sale.stock_left == 0
            and set(sale.answers) <= {"ordered", "out of stock"}
            and notify.statuses.get(204, 0) == notify.posted
            and notify.paid_orders == notify.payments == notify.paid_transitions == unique)


def report(sale: SaleResult, notify: NotifyResult, args: argparse.Namespace) -> str:
    f = figures(sale, notify, args)
    answers = ", ".join(f"{k}: {v}" for k, v in sorted(sale.answers.items()))
    statuses = ", ".join(f"{k}: {v}" for k, v in f["notification_statuses"].items())
    rows = [
        ("**Phase 1, flash sale**", ""),
        ("concurrent buyers (login → add to cart → checkout)", f"{args.buyers}"),
        ("units on sale", f"{args.units}"),
        ("orders placed", f"{f['orders']}"),
        ("oversold", f"{f['oversold']}"),
        ("stock left", f"{f['stock_left']}"),
        ("checkout answers", answers),
        ("checkouts per second", f"{f['checkouts_per_s']}"),
        ("checkout p50 / p99 (ms)", f"{f['checkout_p50_ms']} / {f['checkout_p99_ms']}"),
        ("whole buyers per second (3 requests each)", f"{f['buyers_per_s']}"),
        ("server CPU per buyer (ms; the WeChat sandbox's apart)", f"{f['server_cpu_ms_per_buyer']}"),
        ("**Phase 2, pay notifications**", ""),
        ("notifications posted (duplicates)", f"{notify.posted} ({notify.duplicates})"),
        ("answers", statuses),
        ("notifications per second", f"{f['notifications_per_s']}"),
        ("notification p50 / p99 (ms)", f"{f['notification_p50_ms']} / {f['notification_p99_ms']}"),
        ("server CPU per notification (ms)", f"{f['server_cpu_ms_per_notification']}"),
        ("orders paid / payments / paid transitions",
         f"{notify.paid_orders} / {notify.payments} / {notify.paid_transitions}"),
    ]
    table = ["| | chatshop |", "|---|---:|", *(f"| {name} | {value} |" for name, value in rows)]
    ok = "PASS" if verdict(sale, notify, args) else "FAIL"
    table.append("")
    table.append(f"{ok}: exactly {args.units} orders, 0 oversold, every notified order paid exactly once")
    return "\n".join(table)


if __name__ == "__main__":
    sys.exit(main())
