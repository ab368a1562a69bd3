"""Benchmark the commerce core in-process (no HTTP): a flash sale of one SKU, then payment notices.

  phase 1: --buyers customers, each with one unit in the cart, check out from --threads threads at
           once, racing for --units units. Exactly --units orders must be placed and the stock must
           end at 0; everyone else gets OutOfStock.
  phase 2: the placed orders' payment notices are applied from --threads threads, --duplicates of
           them delivered twice: every order must end paid exactly once (one payment row each).

The database is emptied and migrated first, so give it a scratch database. Prints a markdown table.

    .venv/bin/python bench/commerce_core.py --database-url postgresql://postgres@localhost:5432/commerce_bench
        [--buyers 400] [--units 100] [--threads 8] [--duplicates 0.1]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scratch_keys import install_scratch_keys
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from chatshop.database import all_metadata, upgrade_database
from commerce.cart import add_to_cart
from commerce.catalog import import_catalog
from commerce.errors import OutOfStock
from commerce.models import Order, Payment, Sku
from commerce.orders import place_order
from commerce.payments import apply_payment_notice
from storage.clock import utcnow
from storage.db import make_session_factory, open_engine, transaction

ADDRESS = {"name": "压测", "phone": "13800138000", "detail": "广州市天河区"}
APPID, MCHID = "wxbench0000000001", "1900000001"


@dataclass(frozen=True)
class Notice:
    """A decoded TRANSACTION.SUCCESS, as commerce.pay_notify hands it over."""

    appid: str
    mchid: str
    out_trade_no: str
    transaction_id: str | None
    trade_state: str
    amount_total: int | None
    payer_openid: str | None
    success_time: datetime | None


def reset(url: str) -> sessionmaker[Session]:
    engine = open_engine(url)
    upgrade_database(engine)
    with engine.begin() as connection:
        for table in reversed(all_metadata().sorted_tables):
            if table.name != "alembic_version":
                connection.execute(text(f"DELETE FROM {table.name}"))
    return make_session_factory(engine)


def flash_sale(factory: sessionmaker[Session], args: argparse.Namespace) -> tuple[Counter[str], float]:
    with transaction(factory) as session:
        import_catalog(session, [{"id": "bench", "title": "压测连衣裙", "category": "女装",
                                  "skus": [{"sku_id": "bench-1", "price_fen": 9900, "stock": args.units}]}])
    for i in range(args.buyers):
        with transaction(factory) as session:
            add_to_cart(session, openid=f"o_bench_{i}", sku_id="bench-1", quantity=1)

    def buy(i: int) -> str:
        try:
            with transaction(factory) as session:
                place_order(session, openid=f"o_bench_{i}", address=ADDRESS, now=utcnow())
            return "placed"
        except OutOfStock:
            return "out_of_stock"

    started = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:
        outcomes = Counter(pool.map(buy, range(args.buyers)))
    return outcomes, time.perf_counter() - started


def notices(factory: sessionmaker[Session], args: argparse.Namespace) -> tuple[Counter[str], float, int]:
    with factory() as session:
        orders = session.execute(select(Order.order_no, Order.amount_fen, Order.openid)).all()
    batch = [Notice(APPID, MCHID, no, f"4200{i:024d}", "SUCCESS", amount, openid, utcnow())
             for i, (no, amount, openid) in enumerate(orders)]
    batch += random.sample(batch, int(len(batch) * args.duplicates))
    random.shuffle(batch)

    def apply(notice: Notice) -> str:
        with transaction(factory) as session:
            return apply_payment_notice(session, notice=notice, expected_appid=APPID, expected_mchid=MCHID).outcome

    started = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:
        outcomes = Counter(pool.map(apply, batch))
    return outcomes, time.perf_counter() - started, len(batch)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="a scratch database: it is emptied")
    parser.add_argument("--buyers", type=int, default=400)
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--duplicates", type=float, default=0.1)
    args = parser.parse_args()
    install_scratch_keys()  # the orders' addresses are sealed at rest
    factory = reset(args.database_url)
    sale, sale_s = flash_sale(factory, args)
    paid, paid_s, delivered = notices(factory, args)
    with factory() as session:
        stock = session.scalar(select(Sku.stock).where(Sku.sku_id == "bench-1"))
        payments = session.scalar(select(func.count()).select_from(Payment))
        paid_orders = session.scalar(select(func.count()).select_from(Order).where(Order.status == "paid"))
    rows = [
        ("buyers / units / threads", f"{args.buyers} / {args.units} / {args.threads}"),
        ("orders placed", sale["placed"]), ("refused out of stock", sale["out_of_stock"]),
        ("stock left (oversold if < 0)", stock), ("checkouts per second", f"{args.buyers / sale_s:.0f}"),
        ("notices delivered (with duplicates)", delivered),
        ("applied / duplicate", f"{paid['applied']} / {paid['duplicate']}"),
        ("orders paid / payment rows", f"{paid_orders} / {payments}"),
        ("notices per second", f"{delivered / paid_s:.0f}"),
    ]
    print(f"| {open_engine(args.database_url).dialect.name} | |\n|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    ok = sale["placed"] == args.units and stock == 0 and paid_orders == payments == args.units
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
